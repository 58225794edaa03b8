"""A function's exposure from its URL configuration and resource-based policy (moto in-process; Stubber for denials)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qualys_lambda.errors import TransientError
from qualys_lambda.exposure import public_statements, read_exposure
from tests.support import ACCOUNT, REGION, create_function, create_role

OTHER_ACCOUNT = "444455556666"


@pytest.fixture
def function(mocked_aws: None) -> tuple[Any, str]:
    """A moto Lambda client and a function with neither URL nor policy."""
    role = create_role()
    client = boto3.client("lambda", region_name=REGION)
    return client, create_function(client=client, role_arn=role)


def test_read_exposure_no_url_no_policy_private(function: tuple[Any, str]) -> None:
    client, arn = function

    assert read_exposure(client, arn).as_json() == {"status": "private", "reasons": []}


def test_read_exposure_url_auth_none_public(function: tuple[Any, str]) -> None:
    client, arn = function
    client.create_function_url_config(FunctionName=arn, AuthType="NONE")

    exposure = read_exposure(client, arn)

    assert (exposure.status, exposure.reasons) == ("public", ("function URL with AuthType NONE",))


def test_read_exposure_url_auth_iam_private(function: tuple[Any, str]) -> None:
    client, arn = function
    client.create_function_url_config(FunctionName=arn, AuthType="AWS_IAM")

    assert read_exposure(client, arn).status == "private"


def test_read_exposure_public_url_grant_from_add_permission_public(function: tuple[Any, str]) -> None:
    client, arn = function
    # The statement the console adds for a public URL: FunctionUrlAuthType NONE restricts nothing.
    client.add_permission(
        FunctionName=arn,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )

    exposure = read_exposure(client, arn)

    assert exposure.status == "public"
    (reason,) = exposure.reasons
    assert reason == (
        "resource policy statement FunctionURLAllowPublicAccess lets any principal invoke it without a source condition"
    )


def test_read_exposure_service_principal_without_source_any_account(function: tuple[Any, str]) -> None:
    client, arn = function
    client.add_permission(
        FunctionName=arn, StatementId="s3-any", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )

    exposure = read_exposure(client, arn)

    assert exposure.status == "public"
    assert "any account through s3.amazonaws.com" in exposure.reasons[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::orders-uploads"},
        {"Principal": "s3.amazonaws.com", "SourceAccount": ACCOUNT},
        {"Principal": "*", "PrincipalOrgID": "o-a1b2c3d4e5"},
        {"Principal": OTHER_ACCOUNT},
    ],
    ids=["source-arn", "source-account", "principal-org", "one-other-account"],
)
def test_read_exposure_scoped_grants_private(function: tuple[Any, str], kwargs: dict[str, str]) -> None:
    client, arn = function
    client.add_permission(FunctionName=arn, StatementId="scoped", Action="lambda:InvokeFunction", **kwargs)

    assert read_exposure(client, arn).as_json() == {"status": "private", "reasons": []}


def _stubbed(function: tuple[Any, str]) -> tuple[Any, Stubber, str]:
    client, arn = function
    return client, Stubber(client), arn


def test_read_exposure_denied_reads_unknown_never_raise(function: tuple[Any, str]) -> None:
    client, stubber, arn = _stubbed(function)
    stubber.add_client_error("get_function_url_config", "AccessDeniedException", http_status_code=403)
    stubber.add_client_error("get_policy", "AccessDeniedException", http_status_code=403)

    with stubber:
        exposure = read_exposure(client, arn)

    assert exposure.as_json() == {
        "status": "unknown",
        "reasons": ["GetFunctionUrlConfig failed: AccessDeniedException", "GetPolicy failed: AccessDeniedException"],
    }


def test_read_exposure_public_url_wins_over_denied_policy(function: tuple[Any, str]) -> None:
    client, stubber, arn = _stubbed(function)
    stubber.add_response(
        "get_function_url_config",
        {
            "FunctionUrl": "https://abc.lambda-url.us-east-1.on.aws/",
            "FunctionArn": arn,
            "AuthType": "NONE",
            "CreationTime": "2026-12-01T00:00:00Z",
            "LastModifiedTime": "2026-12-01T00:00:00Z",
        },
    )
    stubber.add_client_error("get_policy", "AccessDeniedException", http_status_code=403)

    with stubber:
        assert read_exposure(client, arn).status == "public"


def test_read_exposure_throttled_is_transient(function: tuple[Any, str]) -> None:
    client, stubber, arn = _stubbed(function)
    stubber.add_client_error("get_function_url_config", "TooManyRequestsException", http_status_code=429)

    with stubber, pytest.raises(TransientError, match="GetFunctionUrlConfig was throttled"):
        read_exposure(client, arn)


def statement(**fields: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "s", "Effect": "Allow", "Resource": "*", **fields}]}


@pytest.mark.parametrize(
    "policy",
    [
        statement(Principal={"AWS": "*"}, Action="lambda:InvokeFunction"),
        statement(Principal={"AWS": ["arn:aws:iam::111111111111:root", "*"]}, Action="lambda:*"),
        statement(Principal="*", Action="*"),
        statement(NotPrincipal={"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, Action="lambda:Invoke*"),
        statement(Principal="*", NotAction="lambda:GetFunction"),
        # Conditions that do not restrict: a negated operator, IfExists, a wildcard value.
        statement(
            Principal="*", Action="lambda:InvokeFunction", Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}
        ),
        statement(
            Principal="*",
            Action="lambda:InvokeFunction",
            Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}},
        ),
        statement(Principal="*", Action="lambda:InvokeFunction", Condition={"ArnLike": {"aws:SourceArn": "*"}}),
        statement(
            Principal="*",
            Action="lambda:InvokeFunctionUrl",
            Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}},
        ),
        statement(Principal="*", Action="lambda:InvokeFunction", Condition={"Bool": {"aws:SecureTransport": "true"}}),
    ],
    ids=[
        "aws-star",
        "aws-list",
        "star-star",
        "not-principal",
        "not-action",
        "not-equals",
        "if-exists",
        "wildcard-value",
        "url-none",
        "unrelated-key",
    ],
)
def test_public_statements_anyone_without_source_condition(policy: dict[str, Any]) -> None:
    assert public_statements(policy) == [
        "resource policy statement s lets any principal"
        + (" but those named" if "NotPrincipal" in policy["Statement"][0] else "")
        + " invoke it without a source condition"
    ]


@pytest.mark.parametrize(
    "policy",
    [
        statement(Principal="*", Action="lambda:GetFunction"),
        statement(Principal="*", NotAction="lambda:Invoke*"),
        statement(Principal={"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, Action="lambda:InvokeFunction"),
        {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}]},
        statement(
            Principal="*",
            Action="lambda:InvokeFunctionUrl",
            Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        ),
        statement(
            Principal="*",
            Action="lambda:InvokeFunction",
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        ),
        statement(
            Principal={"Service": "sns.amazonaws.com"},
            Action="lambda:InvokeFunction",
            Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:sns:*:111111111111:alerts"}},
        ),
    ],
    ids=["other-action", "not-action-invoke", "named-account", "deny", "url-iam", "org", "service-with-source"],
)
def test_public_statements_scoped_or_not_invoke_none(policy: dict[str, Any]) -> None:
    assert public_statements(policy) == []


def test_public_statements_read_from_get_policy_json(function: tuple[Any, str]) -> None:
    client, arn = function
    client.add_permission(FunctionName=arn, StatementId="any", Action="lambda:InvokeFunction", Principal="*")

    policy = json.loads(client.get_policy(FunctionName=arn)["Policy"])

    assert len(public_statements(policy)) == 1
