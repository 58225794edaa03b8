"""The single-account template deployed to moto with SuppressionsUri: the scanner's environment and its one grant."""

from __future__ import annotations

import ast
from typing import Any

import boto3
import pytest

from tests.functional.test_template_single_account import REGION, TEMPLATE
from tests.functional.test_template_single_account import single_account_fake_aws as single_account_fake_aws
from tests.functional.test_template_single_account import (
    single_account_prerequisites as single_account_prerequisites,
)

URI = "s3://team-suppressions/suppressions/suppressions.json"


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> dict[str, str]:
    """Physical ids of a stack deployed with SuppressionsUri set (the module's moto account)."""
    prerequisites: dict[str, str] = request.getfixturevalue("single_account_prerequisites")
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    parameters = {**prerequisites, "SuppressionsUri": URI}
    cloudformation.create_stack(
        StackName="qs-suppressions",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    summaries = cloudformation.list_stack_resources(StackName="qs-suppressions")["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}


def test_deployed_scanner_environment_names_the_suppressions_object(stack: dict[str, str]) -> None:
    function = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=stack["ScannerFunction"]
    )

    assert function["Environment"]["Variables"]["SUPPRESSIONS_URI"] == URI


def test_deployed_scanner_role_reads_exactly_the_suppressions_object(stack: dict[str, str]) -> None:
    iam = boto3.client("iam", region_name=REGION)
    role = stack["ScannerRole"].split("/")[-1]
    document = iam.get_role_policy(RoleName=role, PolicyName="qscanner-scanner")["PolicyDocument"]
    # moto keeps a CloudFormation inline policy as its dict's repr, a resolved AWS::NoValue as None.
    statements: list[Any] = ast.literal_eval(document)["Statement"]

    (read,) = [s for s in statements if s and s.get("Sid") == "ReadSuppressions"]
    assert (read["Action"], read["Resource"]) == (
        "s3:GetObject",
        "arn:aws:s3:::team-suppressions/suppressions/suppressions.json",
    )
