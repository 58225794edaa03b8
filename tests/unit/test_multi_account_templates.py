"""Structure of the multi-account templates (stackset, centralized hub and spoke): what moto ignores."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import load_template

ROOT = Path(__file__).resolve().parents[2]
CLOUDFORMATION = ROOT / "cloudformation"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TEMPLATES = ("stackset.yaml", "centralized-hub.yaml", "centralized-spoke.yaml")
EVENT_NAMES = ["CreateFunction20150331", "UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2"]
HUB_ONLY_ENV = {"CROSS_ACCOUNT_ROLE_NAME", "CROSS_ACCOUNT_EXTERNAL_ID", "ALLOWED_ACCOUNT_IDS"}
# The single-account stack's parameters a StackSet user sets the same way.
SINGLE_ACCOUNT_PARAMETERS = {
    "QualysPod",
    "QualysSecretArn",
    "QScannerLayerArn",
    "CodeS3Bucket",
    "CodeS3Key",
    "EnableS3Results",
    "ResultsRetentionDays",
    "EnableSNSNotifications",
    "NotificationEmail",
    "EnableScanCache",
    "CacheTTLDays",
    "CreateCloudTrail",
    "ScannerMemorySize",
    "ScannerTimeout",
    "EphemeralStorageSize",
    "ReservedConcurrency",
    "ScanTypes",
    "ExcludeTag",
    "EnableSecurityHub",
    "EnableScanEvents",
    "SbomFormats",
}
SPOKE_SIDS = {
    "ReadFunctionsToScan",
    "ReadLayersToScan",
    "TagScannedFunctions",
    "PullFunctionImages",
    "GetEcrAuthorizationToken",
}


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    return load_template("single-account-native.yaml")


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return load_template("centralized-hub.yaml")


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return load_template("centralized-spoke.yaml")


@pytest.fixture(scope="module")
def stackset() -> dict[str, Any]:
    return load_template("stackset.yaml")


def role_statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Sid -> statement of a role's inline policies, conditional statements unwrapped."""
    statements: dict[str, dict[str, Any]] = {}
    for policy in role["Properties"]["Policies"]:
        for item in policy["PolicyDocument"]["Statement"]:
            statement = item["Fn::If"][1] if "Fn::If" in item else item
            statements[statement["Sid"]] = statement
    return statements


def function_environment(template: dict[str, Any]) -> set[str]:
    return set(template["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"])


# ---------------------------------------------------------------- consistency with the single-account stack


@pytest.mark.parametrize("name", ["stackset", "hub"])
def test_scanner_runtime_and_handler_as_single_account(
    single: dict[str, Any], request: pytest.FixtureRequest, name: str
) -> None:
    template = request.getfixturevalue(name)
    expected = single["Resources"]["ScannerFunction"]["Properties"]
    properties = template["Resources"]["ScannerFunction"]["Properties"]

    assert (properties["Runtime"], properties["Handler"]) == (expected["Runtime"], expected["Handler"])
    assert properties["Layers"] == [{"Ref": "QScannerLayerArn"}]
    assert properties["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}


def test_stackset_environment_names_from_single_account(single: dict[str, Any], stackset: dict[str, Any]) -> None:
    assert function_environment(stackset) <= function_environment(single)
    assert {"QUALYS_SECRET_ARN", "RESULTS_S3_BUCKET", "SNS_TOPIC_ARN", "SCAN_CACHE_TABLE"} <= function_environment(
        stackset
    )


def test_hub_environment_is_stackset_plus_cross_account_names(hub: dict[str, Any], stackset: dict[str, Any]) -> None:
    assert function_environment(hub) == function_environment(stackset) | HUB_ONLY_ENV


def test_hub_environment_cross_account_values(hub: dict[str, Any]) -> None:
    variables = hub["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["CROSS_ACCOUNT_ROLE_NAME"] == {"Ref": "SpokeRoleName"}
    assert variables["CROSS_ACCOUNT_EXTERNAL_ID"] == {"Ref": "ExternalId"}
    assert variables["ALLOWED_ACCOUNT_IDS"] == {"Fn::Join": [",", {"Ref": "AllowedAccountIds"}]}


@pytest.mark.parametrize(("name", "extra"), [("stackset", {"DecryptQualysSecret"}), ("hub", {"AssumeSpokeRole"})])
def test_scanner_role_sids_as_single_account(
    single: dict[str, Any], request: pytest.FixtureRequest, name: str, extra: set[str]
) -> None:
    template = request.getfixturevalue(name)
    sids = set(role_statements(template["Resources"]["ScannerRole"]))

    assert extra <= sids
    assert sids - extra <= set(role_statements(single["Resources"]["ScannerRole"]))
    assert {"ReadQualysSecret", "ReadFunctionsToScan", "TagScannedFunctions", "WriteScanResults"} <= sids


def test_stackset_parameters_keep_single_account_names(single: dict[str, Any], stackset: dict[str, Any]) -> None:
    shared = {name for name in SINGLE_ACCOUNT_PARAMETERS if name in single["Parameters"]}

    assert shared == SINGLE_ACCOUNT_PARAMETERS
    assert shared <= set(stackset["Parameters"])


# ---------------------------------------------------------------- StackSet


@pytest.mark.parametrize("template_name", ["stackset.yaml", "centralized-hub.yaml"])
def test_no_fixed_names_that_collide_between_regions(template_name: str) -> None:
    resources = load_template(template_name)["Resources"]
    fixed = {
        "AWS::IAM::Role": "RoleName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::S3::Bucket": "BucketName",
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::KMS::Key": "Alias",
    }
    named = [name for name, res in resources.items() if fixed.get(res["Type"]) in res.get("Properties", {})]

    assert named == ([] if template_name == "stackset.yaml" else ["ScannerFunction"])


def test_stackset_log_group_and_function_names_generated(stackset: dict[str, Any]) -> None:
    resources = stackset["Resources"]

    assert "LogGroupName" not in resources["ScannerLogGroup"]["Properties"]
    assert "FunctionName" not in resources["ScannerFunction"]["Properties"]


def test_stackset_shared_secret_key_decrypt_only_via_secrets_manager(stackset: dict[str, Any]) -> None:
    statement = role_statements(stackset["Resources"]["ScannerRole"])["DecryptQualysSecret"]

    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == {"Ref": "QualysSecretKmsKeyArn"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    }


def test_stackset_secret_is_an_arn_never_a_token(stackset: dict[str, Any]) -> None:
    parameters = stackset["Parameters"]

    assert not any("token" in name.lower() for name in parameters)
    assert parameters["QualysSecretArn"]["AllowedPattern"].startswith("^arn:")


# ---------------------------------------------------------------- hub


def test_hub_bus_policy_admits_organisation_or_listed_accounts_only(hub: dict[str, Any]) -> None:
    (item,) = hub["Resources"]["HubEventBus"]["Properties"]["Policy"]["Statement"]
    condition, listed, organisation = item["Fn::If"]

    assert condition == "AccountListGiven"
    assert listed["Principal"] == {"AWS": {"Ref": "AllowedAccountIds"}}
    assert listed["Condition"] == {
        "Fn::If": [
            "OrganizationGiven",
            {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert organisation["Principal"] == "*"
    assert organisation["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert {listed["Action"], organisation["Action"]} == {"events:PutEvents"}
    assert listed["Resource"] == organisation["Resource"]


def test_hub_requires_organisation_or_account_list(hub: dict[str, Any]) -> None:
    (assertion,) = hub["Rules"]["OrganizationOrAccounts"]["Assertions"]

    assert assertion["Assert"] == {
        "Fn::Or": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "AllowedAccountIds"}]}, ""]}]},
        ]
    }


def test_hub_assumes_only_spoke_role_in_organisation_or_listed_accounts(hub: dict[str, Any]) -> None:
    statement = role_statements(hub["Resources"]["ScannerRole"])["AssumeSpokeRole"]
    both, rest = statement["Condition"]["Fn::If"][1:]
    org_only, list_only = rest["Fn::If"][1:]

    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"}
    assert both == {
        "StringEquals": {
            "aws:ResourceOrgID": {"Ref": "OrganizationId"},
            "aws:ResourceAccount": {"Ref": "AllowedAccountIds"},
        }
    }
    assert org_only == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    assert list_only == {"StringEquals": {"aws:ResourceAccount": {"Ref": "AllowedAccountIds"}}}


def test_hub_one_rule_on_hub_bus_for_three_successful_event_names(hub: dict[str, Any]) -> None:
    rules = [r for r in hub["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    (rule,) = rules
    pattern = rule["Properties"]["EventPattern"]
    (target,) = rule["Properties"]["Targets"]

    assert rule["Properties"]["EventBusName"] == {"Fn::GetAtt": ["HubEventBus", "Name"]}
    assert pattern["source"] == ["aws.lambda"]
    assert pattern["detail"]["eventName"] == EVENT_NAMES
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert target["Arn"] == {"Fn::GetAtt": ["ScannerFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}


def test_hub_external_id_required_and_hidden(hub: dict[str, Any]) -> None:
    parameter = hub["Parameters"]["ExternalId"]

    assert parameter["NoEcho"] is True
    assert "Default" not in parameter
    assert parameter["MinLength"] >= 16


# ---------------------------------------------------------------- spoke


def test_spoke_role_trusts_only_hub_scanner_role_with_external_id(spoke: dict[str, Any]) -> None:
    role = spoke["Resources"]["SpokeRole"]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert role["Properties"]["RoleName"] == {"Ref": "SpokeRoleName"}
    assert statement["Principal"] == {"AWS": {"Ref": "HubScannerRoleArn"}}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_spoke_external_id_required_hidden_no_default(spoke: dict[str, Any]) -> None:
    parameter = spoke["Parameters"]["ExternalId"]

    assert parameter["NoEcho"] is True
    assert "Default" not in parameter
    assert parameter["MinLength"] >= 16


def test_spoke_role_reads_and_tags_only(spoke: dict[str, Any]) -> None:
    statements = role_statements(spoke["Resources"]["SpokeRole"])
    actions = sorted(
        a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )

    assert set(statements) == SPOKE_SIDS
    assert actions == sorted(
        [
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            "lambda:ListTags",
            "lambda:GetLayerVersion",
            "lambda:TagResource",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetAuthorizationToken",
        ]
    )
    assert statements["TagScannedFunctions"]["Condition"] == {
        "ForAllValues:StringLike": {"aws:TagKeys": ["QualysScan*"]}
    }


def test_spoke_role_statements_match_single_account_scanner(single: dict[str, Any], spoke: dict[str, Any]) -> None:
    own = role_statements(single["Resources"]["ScannerRole"])

    for sid, statement in role_statements(spoke["Resources"]["SpokeRole"]).items():
        assert statement == own[sid]


def test_spoke_role_created_once_per_account(spoke: dict[str, Any]) -> None:
    assert spoke["Resources"]["SpokeRole"]["Condition"] == "IsRoleRegion"
    assert spoke["Conditions"]["IsRoleRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "SpokeRoleRegion"}]}


def test_spoke_forwards_successful_lambda_calls_to_hub_bus(spoke: dict[str, Any]) -> None:
    rule = spoke["Resources"]["ForwardRule"]["Properties"]
    (target,) = rule["Targets"]

    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"]["detail"]["eventName"] == EVENT_NAMES
    assert rule["EventPattern"]["detail"]["errorCode"] == [{"exists": False}]
    assert target["Arn"] == {"Ref": "HubEventBusArn"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}


def test_spoke_forward_role_may_only_put_events_on_hub_bus(spoke: dict[str, Any]) -> None:
    role = spoke["Resources"]["ForwardRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert role_statements(spoke["Resources"]["ForwardRole"]) == {
        "PutEventsOnHubBus": {
            "Sid": "PutEventsOnHubBus",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": {"Ref": "HubEventBusArn"},
        }
    }
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# ---------------------------------------------------------------- linters (one process each, for speed)


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run(
        [str(cfn_lint), *(str(CLOUDFORMATION / name) for name in TEMPLATES)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_checkov_finds_nothing_unsuppressed(tmp_path: Path) -> None:
    # checkov evaluates conditions with the parameters' defaults: the templates with a CloudTrail
    # switch are scanned a second time with it on.
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: `make test` creates .venv-checkov")
    files = [CLOUDFORMATION / name for name in TEMPLATES]
    for name in ("stackset.yaml", "centralized-spoke.yaml"):
        text, count = re.subn(
            r'(  CreateCloudTrail:\n    Type: String\n    Default: )"false"',
            r'\1"true"',
            (CLOUDFORMATION / name).read_text(),
        )
        assert count == 1
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    argv = [str(CHECKOV), *(a for f in files for a in ("-f", str(f)))]
    # --skip-download: no call to the Prisma Cloud API.
    argv += ["--compact", "--quiet", "--skip-download", "--framework", "cloudformation"]

    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
    assert "Failed checks: " not in result.stdout.replace("Failed checks: 0", "")
