"""Hub mode: the scanner assumes the spoke role and acts in the event's account (moto multi-account)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from qualys_lambda.aws import AwsAccess
from qualys_lambda.deps import Deps
from qualys_lambda.errors import TargetAccessError
from qualys_lambda.handler import handle
from tests.support import (
    ACCOUNT,
    REGION,
    FakeRunner,
    Resources,
    account_session,
    create_function,
    event_for,
    lambda_context,
    make_deps,
    settings_for,
    sts_denying_assume_role,
)

SPOKE = "222222222222"
ROLE_NAME = "QualysScannerSpokeRole"


def spoke_session() -> boto3.Session:
    """A session acting in the spoke account."""
    return account_session(SPOKE, ROLE_NAME)


def hub_scanner(resources: Resources, runner: FakeRunner, tmp_path: Path, **overrides: Any) -> Deps:
    settings = settings_for(
        resources, CROSS_ACCOUNT_ROLE_NAME=ROLE_NAME, CROSS_ACCOUNT_EXTERNAL_ID="ext-7f3a", **overrides
    )
    access = AwsAccess(ACCOUNT, settings.cross_account_role_name, settings.cross_account_external_id)
    return make_deps(settings, runner, tmp_path, access=access)


@pytest.fixture
def spoke_function(resources: Resources) -> str:
    session = spoke_session()
    iam = session.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return create_function(name="payments", client=session.client("lambda"), role_arn=role)


def test_hub_scans_spoke_function_with_spoke_credentials(
    resources: Resources, runner: FakeRunner, tmp_path: Path, spoke_function: str
) -> None:
    scanner = hub_scanner(resources, runner, tmp_path)
    outcome = handle(event_for("payments", account=SPOKE), lambda_context(), scanner)
    assert outcome["outcome"] == "scanned" and outcome["function_arn"] == spoke_function
    (call,) = runner.calls
    env = call["env"]
    child = boto3.client(
        "sts",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    assert child.get_caller_identity()["Account"] == SPOKE
    tags = spoke_session().client("lambda").list_tags(Resource=spoke_function)["Tags"]
    assert tags["QualysScanStatus"] == "success"
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=resources.bucket)["Contents"]]
    assert keys and all(k.startswith(f"scans/{SPOKE}/{REGION}/payments/") for k in keys)


def test_hub_rejects_account_outside_allowed_list(
    resources: Resources, runner: FakeRunner, tmp_path: Path, spoke_function: str
) -> None:
    scanner = hub_scanner(resources, runner, tmp_path, ALLOWED_ACCOUNT_IDS="333333333333")
    outcome = handle(event_for("payments", account=SPOKE), lambda_context(), scanner)
    assert outcome["outcome"] == "rejected" and runner.calls == []


def test_other_account_without_role_fails_clearly(
    resources: Resources, runner: FakeRunner, tmp_path: Path, spoke_function: str
) -> None:
    scanner = make_deps(settings_for(resources), runner, tmp_path)
    with pytest.raises(TargetAccessError, match="no cross-account role"):
        handle(event_for("payments", account=SPOKE), lambda_context(), scanner)


def test_wrong_external_id_fails_clearly(tmp_path: Path, aws_credentials: None) -> None:
    sts, stubber = sts_denying_assume_role(f"arn:aws:iam::{SPOKE}:role/{ROLE_NAME}", "wrong-id")
    access = AwsAccess(ACCOUNT, ROLE_NAME, "wrong-id", home_client=lambda service, region=None: sts)
    with (
        stubber,
        pytest.raises(TargetAccessError, match=f"cannot assume arn:aws:iam::{SPOKE}:role/{ROLE_NAME}: AccessDenied"),
    ):
        access.target(SPOKE, REGION)


def test_hub_imports_findings_in_spoke_security_hub_as_spoke_account(
    resources: Resources, runner: FakeRunner, tmp_path: Path, spoke_function: str
) -> None:
    scanner = hub_scanner(resources, runner, tmp_path, ENABLE_SECURITY_HUB="true")
    handle(event_for("payments", account=SPOKE), lambda_context(), scanner)
    spoke_findings = spoke_session().client("securityhub").get_findings()["Findings"]
    hub_findings = boto3.client("securityhub").get_findings()["Findings"]
    assert spoke_findings and hub_findings == []
    assert {f["AwsAccountId"] for f in spoke_findings} == {SPOKE}
    assert {f["ProductArn"] for f in spoke_findings} == {
        f"arn:aws:securityhub:{REGION}:{SPOKE}:product/{SPOKE}/default"
    }
