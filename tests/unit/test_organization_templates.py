"""Organization-scale infrastructure in the templates: the inventory queue of every scanner stack and the
hub's InventoryAccounts (parameter, rule, environment, the organizations:ListAccounts grant)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.iam import granted, role_policies
from tests.support import load_template

SCANNER_TEMPLATES = ("single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml")
HUB = "centralized-hub.yaml"


@pytest.fixture(scope="module", params=SCANNER_TEMPLATES)
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_template(request.param)


def _statements(template: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Sid -> (condition or None, statement) of the scanner role's inline policy."""
    found = {}
    for policy in template["Resources"]["ScannerRole"]["Properties"]["Policies"]:
        for item in policy["PolicyDocument"]["Statement"]:
            condition, statement = item["Fn::If"][:2] if "Fn::If" in item else (None, item)
            found[statement["Sid"]] = (condition, statement)
    return found


# ---------------------------------------------------------------- inventory queue, every scanner stack


def test_inventory_queue_encrypted_redriven_and_as_patient_as_scan_queue(template: dict[str, Any]) -> None:
    queue = template["Resources"]["InventoryQueue"]["Properties"]
    scan_queue = template["Resources"]["ScanQueue"]["Properties"]

    # Encrypted as the scan queue: SQS managed SSE, or the customer's key when KmsKeyArn is given.
    for key in ("SqsManagedSseEnabled", "KmsMasterKeyId"):
        assert queue[key] == scan_queue[key]
    assert queue["VisibilityTimeout"] == scan_queue["VisibilityTimeout"] >= 6 * 900
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }


def test_inventory_queue_policy_only_denies_insecure_transport(template: dict[str, Any]) -> None:
    (policy,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SQS::QueuePolicy" and r["Properties"]["Queues"] == [{"Ref": "InventoryQueue"}]
    ]

    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Sid"], statement["Effect"], statement["Action"]) == ("DenyInsecureTransport", "Deny", "sqs:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_inventory_queue_feeds_scanner_one_unit_at_a_time_with_own_concurrency(template: dict[str, Any]) -> None:
    mapping = template["Resources"]["InventoryQueueEventSource"]["Properties"]

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["InventoryQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "ScannerFunction"}
    assert (mapping["BatchSize"], mapping["FunctionResponseTypes"]) == (1, ["ReportBatchItemFailures"])
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "InventoryQueueMaxConcurrency"}}


def test_inventory_queue_concurrency_defaults_fit_reserved_concurrency(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    # Both queues at their maximum plus the schedule's own invocation, within the reservation.
    wanted = (
        parameters["ScanQueueMaxConcurrency"]["Default"] + parameters["InventoryQueueMaxConcurrency"]["Default"] + 1
    )

    assert parameters["InventoryQueueMaxConcurrency"]["MinValue"] == 2  # Lambda's SQS floor
    assert wanted <= parameters["ReservedConcurrency"]["Default"]


def test_inventory_queue_url_given_to_scanner_and_output(template: dict[str, Any]) -> None:
    variables = template["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["INVENTORY_QUEUE_URL"] == {"Ref": "InventoryQueue"}
    assert template["Outputs"]["InventoryQueueUrl"]["Value"] == {"Ref": "InventoryQueue"}
    assert template["Outputs"]["InventoryQueueArn"]["Value"] == {"Fn::GetAtt": ["InventoryQueue", "Arn"]}


@pytest.mark.parametrize("sid", ["ConsumeScanQueue", "EnqueueInventoryScans"])
def test_scanner_role_uses_both_queues(template: dict[str, Any], sid: str) -> None:
    condition, statement = _statements(template)[sid]

    assert condition is None
    assert statement["Resource"] == [{"Fn::GetAtt": ["ScanQueue", "Arn"]}, {"Fn::GetAtt": ["InventoryQueue", "Arn"]}]


def test_organization_grant_only_in_hub(template: dict[str, Any]) -> None:
    is_hub = "InventoryAccounts" in template["Parameters"]

    assert ("ListOrganizationAccounts" in _statements(template)) is is_hub


# ---------------------------------------------------------------- hub: InventoryAccounts


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return load_template(HUB)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("organization", True),
        ("111111111111", True),
        ("111111111111,222222222222", True),
        ("Organization", False),
        ("organization,111111111111", False),
        ("1111", False),
        ("111111111111, 222222222222", False),
    ],
)
def test_hub_inventory_accounts_pattern(hub: dict[str, Any], value: str, accepted: bool) -> None:
    pattern = hub["Parameters"]["InventoryAccounts"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted
    assert hub["Parameters"]["InventoryAccounts"]["Default"] == ""


def test_hub_inventory_accounts_given_to_scanner(hub: dict[str, Any]) -> None:
    variables = hub["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["INVENTORY_ACCOUNTS"] == {"Ref": "InventoryAccounts"}


def test_hub_list_accounts_grant_only_with_organization_inventory(hub: dict[str, Any]) -> None:
    condition, statement = _statements(hub)["ListOrganizationAccounts"]

    assert hub["Conditions"][condition] == {"Fn::Equals": [{"Ref": "InventoryAccounts"}, "organization"]}
    # ListAccounts has no resource-level permission (Service Authorization Reference): "*" is its only resource.
    assert (statement["Action"], statement["Resource"]) == ("organizations:ListAccounts", "*")


@pytest.mark.parametrize(
    ("inventory_accounts", "allowed"), [("organization", True), ("", False), ("222222222222", False)]
)
def test_hub_role_may_list_accounts_only_when_inventorying_organization(inventory_accounts: str, allowed: bool) -> None:
    documents = role_policies(HUB, "ScannerRole", (("InventoryAccounts", inventory_accounts),))

    assert granted(documents, "organizations:ListAccounts", "*", {}) is allowed


def test_hub_rule_organization_inventory_needs_organization_and_no_account_list(hub: dict[str, Any]) -> None:
    rule = hub["Rules"]["OrganizationInventory"]

    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "InventoryAccounts"}, "organization"]}
    assertions = [a["Assert"] for a in rule["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]} in assertions
    assert {"Fn::EachMemberEquals": [{"Ref": "AllowedAccountIds"}, ""]} in assertions


def test_hub_inventory_parameters_in_coverage_group(hub: dict[str, Any]) -> None:
    groups = hub["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (coverage,) = [g["Parameters"] for g in groups if g["Label"]["default"] == "Coverage"]

    assert {"InventoryAccounts", "InventoryQueueMaxConcurrency", "InventoryRegions"} <= set(coverage)
