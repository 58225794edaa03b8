"""Structure of the multi-account templates (stackset, centralized hub and spoke): what moto ignores."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qualys_lambda.publish import SCANNER_TAG_KEYS
from tests.support import SPOKE_ROLE_SIDS, load_template, run_checkov, template_with_trail_on

ROOT = Path(__file__).resolve().parents[2]
CLOUDFORMATION = ROOT / "cloudformation"
TEMPLATES = ("stackset.yaml", "centralized-hub.yaml", "centralized-spoke.yaml")
EVENT_NAMES = [
    "CreateFunction20150331",
    "UpdateFunctionCode20150331v2",
    "UpdateFunctionConfiguration20150331v2",
    "DeleteFunction20150331",
    "PublishVersion20150331",
    "CreateAlias20150331",
    "UpdateAlias20150331",
    "DeleteAlias20150331",
]
# Security Hub statements the spoke scopes to every region of its account (its role is global and the
# hub imports each function's findings in that function's region).
SPOKE_ALL_REGION_SIDS = {"ImportSecurityHubFindings", "ReadSecurityHubFindings", "SuppressSecurityHubFindings"}


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


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def allowed_sources(policy: dict[str, Any]) -> list[Any]:
    """aws:SourceArn values of a queue policy's one Allow statement."""
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    return list(allow["Condition"]["ArnEquals"]["aws:SourceArn"])


# ---------------------------------------------------------------- hub scanner (the rest is shared: cloudformation/src)


def test_hub_environment_cross_account_values(hub: dict[str, Any]) -> None:
    variables = hub["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["CROSS_ACCOUNT_ROLE_NAME"] == {"Ref": "SpokeRoleName"}
    assert variables["CROSS_ACCOUNT_EXTERNAL_ID"] == {"Ref": "ExternalId"}
    assert variables["ALLOWED_ACCOUNT_IDS"] == {"Fn::Join": [",", {"Ref": "AllowedAccountIds"}]}
    assert variables["INVENTORY_REGIONS"] == {"Ref": "InventoryRegions"}


def test_hub_inventory_regions_comma_separated_empty_by_default(hub: dict[str, Any]) -> None:
    parameter = hub["Parameters"]["InventoryRegions"]
    pattern = re.compile(parameter["AllowedPattern"])

    assert parameter["Default"] == ""
    assert all(pattern.fullmatch(v) for v in ("", "us-east-1", "us-east-1,eu-west-1,us-gov-west-1"))
    assert not any(pattern.fullmatch(v) for v in ("us-east-1, eu-west-1", "us-east-1,", "US-EAST-1", "*"))


def test_hub_creates_no_trail(hub: dict[str, Any]) -> None:
    # The spokes create the trails that feed the hub (CreateCloudTrail of centralized-spoke.yaml).
    assert "CreateCloudTrail" not in hub["Parameters"]
    assert not of_type(hub, "AWS::CloudTrail::Trail")
    assert "CloudTrailName" not in hub["Outputs"]


# ---------------------------------------------------------------- scan queue (hub sources, TLS in both models)


def test_hub_scan_queue_admits_only_hub_rule_and_manual_rule(hub: dict[str, Any]) -> None:
    sources = allowed_sources(hub["Resources"]["ScanQueuePolicy"])

    assert sources == [{"Fn::GetAtt": ["HubRule", "Arn"]}, {"Fn::GetAtt": ["ManualScanRule", "Arn"]}]


def test_hub_dead_letter_queue_admits_only_hub_rules(hub: dict[str, Any]) -> None:
    sources = allowed_sources(hub["Resources"]["DeadLetterQueuePolicy"])

    assert sources == [
        {"Fn::GetAtt": ["HubRule", "Arn"]},
        {"Fn::GetAtt": ["ManualScanRule", "Arn"]},
        {"Fn::If": ["InventoryEnabled", {"Fn::GetAtt": ["InventoryScheduleRule", "Arn"]}, {"Ref": "AWS::NoValue"}]},
    ]


@pytest.mark.parametrize("name", ["stackset", "hub"])
def test_queue_policies_deny_insecure_transport(request: pytest.FixtureRequest, name: str) -> None:
    for policy in of_type(request.getfixturevalue(name), "AWS::SQS::QueuePolicy").values():
        (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


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
    # The administrator's key in the member's own region (named by region: no per-region override).
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${ArtifactsAccountId}:key/*"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    }


def test_stackset_secret_is_a_name_in_own_region_never_a_token(stackset: dict[str, Any]) -> None:
    parameters = stackset["Parameters"]
    variables = stackset["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]
    (read,) = [
        s for s in role_statements(stackset["Resources"]["ScannerRole"]).values() if s["Sid"] == "ReadQualysSecret"
    ]

    assert not any("token" in name.lower() for name in parameters)
    prefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${ArtifactsAccountId}:secret:${QualysSecretName}"
    assert variables["QUALYS_SECRET_ARN"] == {"Fn::Sub": prefix}
    assert read["Resource"] == {"Fn::Sub": prefix + "-??????"}


def test_stackset_per_region_values_derived_from_region_not_parameters(stackset: dict[str, Any]) -> None:
    # Accounts that join a target OU later get no instance overrides (UpdateStackInstances), so no
    # regional value may be a StackSet parameter.
    properties = stackset["Resources"]["ScannerFunction"]["Properties"]

    assert not {"QualysSecretArn", "QualysSecretKmsKeyArn", "QScannerLayerArn", "CodeS3Bucket"} & set(
        stackset["Parameters"]
    )
    assert properties["Code"]["S3Bucket"] == {
        "Fn::Sub": "${ArtifactsName}-artifacts-${ArtifactsAccountId}-${AWS::Region}"
    }
    assert properties["Layers"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${ArtifactsAccountId}:layer:"
            "${ArtifactsName}-qscanner:${QScannerLayerVersion}"
        }
    ]


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


def test_hub_rules_one_on_hub_bus_manual_and_schedule_on_default_bus(hub: dict[str, Any]) -> None:
    rules = of_type(hub, "AWS::Events::Rule")

    buses = {name: rule["Properties"].get("EventBusName", "default") for name, rule in rules.items()}

    assert buses == {
        "HubRule": {"Fn::GetAtt": ["HubEventBus", "Name"]},
        "ManualScanRule": "default",
        "InventoryScheduleRule": "default",
    }


def test_hub_rule_queues_three_successful_event_names(hub: dict[str, Any]) -> None:
    rule = hub["Resources"]["HubRule"]
    pattern = rule["Properties"]["EventPattern"]
    (target,) = rule["Properties"]["Targets"]

    assert rule["Properties"]["EventBusName"] == {"Fn::GetAtt": ["HubEventBus", "Name"]}
    assert pattern["source"] == ["aws.lambda"]
    assert pattern["detail"]["eventName"] == EVENT_NAMES
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert target["Arn"] == {"Fn::GetAtt": ["ScanQueue", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
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


def test_spoke_role_reads_lists_and_tags_only(spoke: dict[str, Any]) -> None:
    statements = role_statements(spoke["Resources"]["SpokeRole"])
    actions = sorted(
        a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )

    assert set(statements) == SPOKE_ROLE_SIDS
    assert actions == sorted(
        [
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            # Issue 18: the function's exposure (its URL configuration and resource-based policy).
            "lambda:GetFunctionUrlConfig",
            "lambda:GetPolicy",
            "lambda:ListTags",
            # Issue 22: published versions behind aliases are scan targets.
            "lambda:ListAliases",
            "lambda:GetAlias",
            "lambda:GetLayerVersion",
            "lambda:TagResource",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
            "ecr:DescribeImages",
            "ecr:GetAuthorizationToken",
            "kms:Decrypt",
            "lambda:ListFunctions",
            "tag:GetResources",
            "securityhub:BatchImportFindings",
            "securityhub:GetFindings",
            # Issue 18: a suppressed finding's Workflow and Note (BatchImportFindings cannot change them).
            "securityhub:BatchUpdateFindings",
        ]
    )
    assert statements["TagScannedFunctions"]["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": list(SCANNER_TAG_KEYS)}
    }


def test_spoke_role_wildcard_resource_only_for_actions_without_resource_level_permission(spoke: dict[str, Any]) -> None:
    statements = role_statements(spoke["Resources"]["SpokeRole"])

    wildcard = sorted(sid for sid, s in statements.items() if s["Resource"] == "*")

    assert wildcard == ["GetEcrAuthorizationToken", "ListFunctionsForInventory"]
    assert statements["ListFunctionsForInventory"]["Action"] == ["lambda:ListFunctions", "tag:GetResources"]


def test_spoke_role_statements_match_single_account_scanner(single: dict[str, Any], spoke: dict[str, Any]) -> None:
    own = role_statements(single["Resources"]["ScannerRole"])

    for sid, statement in role_statements(spoke["Resources"]["SpokeRole"]).items():
        if sid in SPOKE_ALL_REGION_SIDS:
            expected = own[sid]["Resource"]["Fn::Sub"].replace("${AWS::Region}", "*")
            assert (statement["Action"], statement["Resource"]) == (own[sid]["Action"], {"Fn::Sub": expected})
        else:
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


@pytest.mark.slow  # an external linter run: tens of seconds
def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run(
        [str(cfn_lint), *(str(CLOUDFORMATION / name) for name in TEMPLATES)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.slow  # an external linter run: tens of seconds
def test_checkov_finds_nothing_unsuppressed(tmp_path: Path) -> None:
    # checkov evaluates conditions with the parameters' defaults: the templates with a CloudTrail
    # switch are scanned a second time with it on.
    for name in TEMPLATES:
        shutil.copy(CLOUDFORMATION / name, tmp_path / name)
    with_trail = ("stackset.yaml", "centralized-spoke.yaml")
    trail_on = {f"trail-on-{name}": template_with_trail_on(name) for name in with_trail}
    for name, text in trail_on.items():
        (tmp_path / name).write_text(text)

    result = run_checkov(tmp_path, "cloudformation", [*TEMPLATES, *trail_on])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
    assert "Failed checks: " not in result.stdout.replace("Failed checks: 0", "")
