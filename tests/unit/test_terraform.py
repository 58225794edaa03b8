"""terraform/: the scanner-native module mirrors cloudformation/single-account-native.yaml; no terraform binary."""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from qualys_lambda.publish import SCANNER_TAG_KEYS
from tests.support import cache_table_definition, hcl_clean, load_template, run_checkov

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULE = TERRAFORM / "modules" / "scanner-native"
# The hardened bucket scanner-native uses for its results and trail buckets.
BUCKET_MODULE = TERRAFORM / "modules" / "hardened-bucket"
# scanner-native's bucket module calls: (module, former resource name, SSE algorithm, lifecycle rule id).
BUCKETS = [
    ("results_bucket", "results", "aws:kms", "ExpireScanResults"),
    ("trail_bucket", "trail", "AES256", "ExpireTrailLogs"),
]
EXAMPLES = [TERRAFORM / "examples" / "single-region-native", TERRAFORM / "examples" / "single-account-multi-region"]
# The multi-account models: modules deploying the generated templates, and their examples.
TEMPLATE_MODULES = [
    TERRAFORM / "modules" / name for name in ("scanner-artifacts", "scanner-hub", "scanner-spoke", "scanner-stackset")
]
TEMPLATE_EXAMPLES = [TERRAFORM / "examples" / name for name in ("centralized-hub-spoke", "organization-stackset")]

# CloudFormation parameter -> module variable (snake_case; None: replaced by what the module does itself).
PARAMETER_VARIABLES: dict[str, str | None] = {
    "QualysPod": "qualys_pod",
    "QualysSecretArn": "qualys_secret_arn",
    "QScannerLayerArn": None,  # the module publishes layer_zip_path
    "CodeS3Bucket": None,  # the module uploads code_zip_path (make package's zip) with the function
    "CodeS3Key": None,
    "EnableS3Results": "enable_s3_results",
    "ResultsRetentionDays": "results_retention_days",
    "EnableSNSNotifications": "enable_sns_notifications",
    "NotificationEmail": "notification_email",
    "EnableScanCache": "enable_scan_cache",
    "CacheTTLDays": "cache_ttl_days",
    "CreateCloudTrail": "create_cloudtrail",
    "ScannerMemorySize": "scanner_memory_size",
    "ScannerTimeout": "scanner_timeout",
    "EphemeralStorageSize": "ephemeral_storage_size",
    "ReservedConcurrency": "reserved_concurrency",
    "ScanTypes": "scan_types",
    "ExcludeTag": "exclude_tag",
    "EnableSecurityHub": "enable_security_hub",
    "EnableScanEvents": "enable_scan_events",
    "SbomFormats": "sbom_formats",
    "ScanQueueMaxConcurrency": "scan_queue_max_concurrency",
    "InventorySchedule": "inventory_schedule",
    "RescanAfterDays": "rescan_after_days",
    "PolicyTags": "policy_tags",
    "EnableTagging": "tag_functions",
    "EnableTracing": "enable_tracing",
    "KmsKeyArn": "kms_key_arn",
    "QualysSecretKmsKeyArn": "qualys_secret_kms_key_arn",
    "InventoryQueueMaxConcurrency": "inventory_queue_max_concurrency",
    "SuppressionsUri": "suppressions_uri",
    "ScanIdenticalCodeOnce": "scan_identical_code_once",
}
# Template condition -> the Terraform expression that switches the same resources and statements.
CONDITION_VARIABLES = {
    "S3ResultsEnabled": "var.enable_s3_results",
    "SNSEnabled": "var.enable_sns_notifications",
    "ScanCacheEnabled": "var.enable_scan_cache",
    "CloudTrailEnabled": "var.create_cloudtrail",
    "SecurityHubEnabled": "var.enable_security_hub",
    "ScanEventsEnabled": "var.enable_scan_events",
    "TaggingEnabled": "var.tag_functions",
    "TracingEnabled": "var.enable_tracing",
    "SecretKeyGiven": 'var.qualys_secret_kms_key_arn != ""',
    "KmsKeyGiven": 'var.kms_key_arn != ""',
    "SuppressionsGiven": 'var.suppressions_uri != ""',
    "ReuseEnabled": "var.scan_identical_code_once && var.enable_s3_results",
}
OUTPUTS = {
    "ScanQueueUrl": "scan_queue_url",
    "ScanQueueArn": "scan_queue_arn",
    "ManualScanRuleName": "manual_scan_rule_name",
    "InventoryScheduleRuleName": "inventory_schedule_rule_name",
    "ScannerFunctionName": "scanner_function_name",
    "ScannerFunctionArn": "scanner_function_arn",
    "ScannerRoleArn": "scanner_role_arn",
    "ResultsBucketName": "results_bucket_name",
    "ScanCacheTableName": "scan_cache_table_name",
    "SNSTopicArn": "sns_topic_arn",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "DeadLetterQueueArn": "dead_letter_queue_arn",
    "ScannerLogGroupName": "scanner_log_group_name",
    "CloudTrailName": "cloudtrail_name",
    "CreateFunctionRuleName": "create_function_rule_name",
    "UpdateFunctionCodeRuleName": "update_function_code_rule_name",
    "UpdateFunctionConfigurationRuleName": "update_function_configuration_rule_name",
    "InventoryQueueUrl": "inventory_queue_url",
    "InventoryQueueArn": "inventory_queue_arn",
    "DashboardName": "dashboard_name",
}
# Template rule -> the aws_cloudwatch_event_rule that stands for it.
RULES = {
    "CreateFunctionRule": "scan",
    "UpdateFunctionCodeRule": "scan",
    "UpdateFunctionConfigurationRule": "scan",
    "DeleteFunctionRule": "scan",
    "PublishVersionRule": "scan",
    "CreateAliasRule": "scan",
    "UpdateAliasRule": "scan",
    "DeleteAliasRule": "scan",
    "ManualScanRule": "manual_scan",
    "InventoryScheduleRule": "inventory",
}
MODULE_BLOCK_META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}


# ---------------------------------------------------------------- HCL helpers


_clean = hcl_clean


@cache
def _raw(directory: Path) -> tuple[dict[str, Any], ...]:
    return tuple(hcl2.loads(path.read_text()) for path in sorted(directory.glob("*.tf")))


@cache
def _parsed(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of the directory's .tf files, cleaned, by block type."""
    merged: dict[str, list[Any]] = {}
    for document in _raw(directory):
        for kind, blocks in _clean(document).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _named(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Blocks with one label (variable, output, module) by name."""
    return {name: body for block in _parsed(directory).get(kind, []) for name, body in block.items()}


def _typed(directory: Path, kind: str, type_name: str) -> dict[str, dict[str, Any]]:
    """Blocks with two labels (resource, data) of one type, by name."""
    return {
        name: body
        for block in _parsed(directory).get(kind, [])
        for rtype, bodies in block.items()
        if rtype == type_name
        for name, body in bodies.items()
    }


def _typed_names(directory: Path, kind: str) -> list[str]:
    """Types of the directory's two-label blocks (resource, data)."""
    return sorted({rtype for block in _parsed(directory).get(kind, []) for rtype in block})


def _resource(type_name: str, name: str) -> dict[str, Any]:
    return _typed(MODULE, "resource", type_name)[name]


def _locals(directory: Path) -> dict[str, Any]:
    return {k: v for block in _parsed(directory).get("locals", []) for k, v in block.items()}


def _text_without_variables(directory: Path) -> str:
    """Everything but the variable blocks (whose validations name their own variable), comments excluded."""
    return json.dumps({k: v for k, v in _parsed(directory).items() if k != "variable"})


def _comments(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [c["value"] for c in value.get("__comments__", [])]
        return found + [c for k, v in value.items() if k != "__comments__" for c in _comments(v)]
    if isinstance(value, list):
        return [c for item in value for c in _comments(item)]
    return []


def _policy_statements(document: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Sid -> (for_each expression of its dynamic block or None, statement) of an aws_iam_policy_document."""
    statements: dict[str, tuple[str | None, dict[str, Any]]] = {
        s["sid"]: (None, s) for s in document.get("statement", [])
    }
    for dynamic in document.get("dynamic", []):
        for label, body in dynamic.items():
            assert label == "statement"
            for content in body["content"]:
                statements[content["sid"]] = (body["for_each"], content)
    return statements


# ---------------------------------------------------------------- template helpers


@cache
def _template() -> dict[str, Any]:
    return load_template("single-account-native.yaml")


def _cfn_resource(resource_type: str) -> dict[str, Any]:
    (found,) = [r for r in _template()["Resources"].values() if r["Type"] == resource_type]
    return found


def _cfn_role_statements() -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Sid -> (template condition or None, statement) of the scanner role's inline policy."""
    statements: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for policy in _cfn_resource("AWS::IAM::Role")["Properties"]["Policies"]:
        for item in policy["PolicyDocument"]["Statement"]:
            condition, statement = item["Fn::If"][:2] if "Fn::If" in item else (None, item)
            statements[statement["Sid"]] = (condition, statement)
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- variables


@pytest.mark.parametrize("directory", [MODULE, BUCKET_MODULE, *EXAMPLES], ids=lambda p: p.name)
def test_variables_every_one_described(directory: Path) -> None:
    variables = _named(directory, "variable")

    assert variables
    assert [name for name, body in variables.items() if not body.get("description", "").strip()] == []


@pytest.mark.parametrize("directory", [MODULE, BUCKET_MODULE, *EXAMPLES], ids=lambda p: p.name)
def test_variables_every_one_used(directory: Path) -> None:
    text = _text_without_variables(directory)

    unused = [name for name in _named(directory, "variable") if not re.search(rf"\bvar\.{name}\b", text)]

    assert unused == []


@pytest.mark.parametrize("variable", ["qualys_pod", "scanner_memory_size", "scanner_timeout", "cache_ttl_days"])
def test_variables_validated(variable: str) -> None:
    validations = _named(MODULE, "variable")[variable].get("validation", [])

    assert validations
    assert all(f"var.{variable}" in v["condition"] and v["error_message"] for v in validations)


def test_variables_mirror_every_template_parameter() -> None:
    parameters = _template()["Parameters"]
    variables = _named(MODULE, "variable")

    assert set(PARAMETER_VARIABLES) == set(parameters)
    assert {v for v in PARAMETER_VARIABLES.values() if v} <= set(variables)


@pytest.mark.parametrize(("parameter", "variable"), [(p, v) for p, v in PARAMETER_VARIABLES.items() if v])
def test_variables_default_like_template(parameter: str, variable: str) -> None:
    cfn = _template()["Parameters"][parameter]
    expected = {"true": True, "false": False}.get(cfn["Default"], cfn["Default"]) if "Default" in cfn else ""

    assert _named(MODULE, "variable")[variable].get("default") == expected


def test_variables_pod_list_like_template() -> None:
    condition = _named(MODULE, "variable")["qualys_pod"]["validation"][0]["condition"]

    assert re.findall(r'"([A-Z0-9]+)"', condition) == _template()["Parameters"]["QualysPod"]["AllowedValues"]


@pytest.mark.parametrize(
    ("variable", "low", "high"),
    [("scanner_memory_size", 512, 10240), ("scanner_timeout", 60, 900), ("cache_ttl_days", 1, 365)],
)
def test_variables_ranges_like_template(variable: str, low: int, high: int) -> None:
    condition = _named(MODULE, "variable")[variable]["validation"][0]["condition"]
    parameter = next(p for p, v in PARAMETER_VARIABLES.items() if v == variable)

    assert (_template()["Parameters"][parameter]["MinValue"], _template()["Parameters"][parameter]["MaxValue"]) == (
        low,
        high,
    )
    assert f"var.{variable} >= {low}" in condition
    assert f"var.{variable} <= {high}" in condition


# ---------------------------------------------------------------- function, code and layer


def test_function_environment_names_match_template() -> None:
    cfn = _cfn_resource("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]

    (environment,) = _resource("aws_lambda_function", "scanner")["environment"]

    assert sorted(environment["variables"]) == sorted(cfn)
    assert environment["variables"]["QSCANNER_PATH"] == cfn["QSCANNER_PATH"]


@pytest.mark.parametrize(("attribute", "cfn_property"), [("runtime", "Runtime"), ("handler", "Handler")])
def test_function_runtime_and_handler_match_template(attribute: str, cfn_property: str) -> None:
    expected = _cfn_resource("AWS::Lambda::Function")["Properties"][cfn_property]

    assert _resource("aws_lambda_function", "scanner")[attribute] == expected


def test_function_logs_json_to_its_30_day_group() -> None:
    function = _resource("aws_lambda_function", "scanner")
    group = _resource("aws_cloudwatch_log_group", "scanner")

    assert function["logging_config"][0]["log_format"] == "JSON"
    assert group["retention_in_days"] == _cfn_resource("AWS::Logs::LogGroup")["Properties"]["RetentionInDays"] == 30
    assert group["name"] == "/aws/lambda/${local.function_name}"
    assert _locals(MODULE)["function_name"] == "${var.name}-scanner"


def test_function_async_failures_go_to_dead_letter_queue() -> None:
    config = _resource("aws_lambda_function_event_invoke_config", "scanner")

    assert config["maximum_retry_attempts"] == 2
    assert config["destination_config"][0]["on_failure"][0]["destination"] == "${aws_sqs_queue.dead_letter.arn}"
    assert _resource("aws_lambda_function", "scanner")["dead_letter_config"][0]["target_arn"] == (
        "${aws_sqs_queue.dead_letter.arn}"
    )


def test_code_is_make_packages_zip_and_only_the_aws_provider_is_required() -> None:
    function = _resource("aws_lambda_function", "scanner")
    providers = {
        name
        for directory in sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})
        for block in _parsed(directory).get("terraform", [])
        for required in block.get("required_providers", [])
        for name in required
    }

    assert function["filename"] == "${var.code_zip_path}"
    assert function["source_code_hash"] == "${filebase64sha256(var.code_zip_path)}"
    assert not _typed(MODULE, "data", "archive_file")
    assert providers == {"aws"}


def test_layer_published_from_layer_zip_path() -> None:
    layer = _resource("aws_lambda_layer_version", "qscanner")

    assert "var.layer_zip_path" in layer["filename"]
    assert layer["source_code_hash"] == "${filebase64sha256(var.layer_zip_path)}"
    assert _resource("aws_lambda_function", "scanner")["layers"] == ["${aws_lambda_layer_version.qscanner.arn}"]


# ---------------------------------------------------------------- secret


def test_secret_never_given_a_value_anywhere() -> None:
    directories = sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})

    for directory in directories:
        types = {rtype for block in _parsed(directory).get("resource", []) for rtype in block}

        assert "aws_secretsmanager_secret_version" not in types, directory
        assert "secret_string" not in json.dumps(_parsed(directory)), directory
    assert set(directories) == {MODULE, BUCKET_MODULE, *EXAMPLES, *TEMPLATE_MODULES, *TEMPLATE_EXAMPLES}


def test_secret_created_only_without_an_arn() -> None:
    secret = _resource("aws_secretsmanager_secret", "qualys")

    assert secret["count"] == '${var.qualys_secret_arn == "" ? 1 : 0}'
    assert "var.qualys_secret_arn" in _locals(MODULE)["qualys_secret_arn"]


# ---------------------------------------------------------------- IAM


def test_iam_every_template_sid_has_same_actions() -> None:
    (document,) = [d for n, d in _typed(MODULE, "data", "aws_iam_policy_document").items() if n == "scanner"]
    terraform = _policy_statements(document)

    for sid, (_condition, statement) in _cfn_role_statements().items():
        assert sid in terraform, sid
        assert sorted(terraform[sid][1]["actions"]) == sorted(_as_list(statement["Action"])), sid
    assert set(terraform) == set(_cfn_role_statements())


def test_iam_conditional_statements_follow_same_switch() -> None:
    document = _typed(MODULE, "data", "aws_iam_policy_document")["scanner"]
    terraform = _policy_statements(document)

    for sid, (condition, _statement) in _cfn_role_statements().items():
        for_each = terraform[sid][0]
        if condition is None:
            assert for_each is None, sid
        else:
            assert for_each == f"${{{CONDITION_VARIABLES[condition]} ? [1] : []}}", sid


def _scanner_statement(sid: str) -> dict[str, Any]:
    return _policy_statements(_typed(MODULE, "data", "aws_iam_policy_document")["scanner"])[sid][1]


def test_iam_tagging_limited_to_qualysscan_keys() -> None:
    statement = _scanner_statement("TagScannedFunctions")

    assert statement["condition"] == [
        {"test": "ForAllValues:StringEquals", "variable": "aws:TagKeys", "values": "${local.scanner_tag_keys}"}
    ]
    assert _locals(MODULE)["scanner_tag_keys"] == list(SCANNER_TAG_KEYS)


def test_iam_secret_read_limited_to_the_qualys_secret() -> None:
    statement = _scanner_statement("ReadQualysSecret")

    assert statement["resources"] == ["${local.qualys_secret_arn}"]


def test_iam_policy_named_like_template() -> None:
    (policy,) = _cfn_resource("AWS::IAM::Role")["Properties"]["Policies"]

    assert _resource("aws_iam_role_policy", "scanner")["name"] == policy["PolicyName"]


# ---------------------------------------------------------------- EventBridge


def _cfn_rules() -> dict[str, dict[str, Any]]:
    return {n: r for n, r in _template()["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def _cfn_cloudtrail_rules() -> list[dict[str, Any]]:
    rules = _cfn_rules().values()
    return [r["Properties"] for r in rules if "eventName" in r["Properties"].get("EventPattern", {}).get("detail", {})]


def _target(cfn: dict[str, Any], arn: str) -> dict[str, Any]:
    """The Terraform arguments of the template's single target of a rule, given the target's arn."""
    (target,) = cfn["Targets"]
    return {
        "target_id": target["Id"],
        "arn": arn,
        "retry_policy": [
            {
                "maximum_retry_attempts": target["RetryPolicy"]["MaximumRetryAttempts"],
                "maximum_event_age_in_seconds": target["RetryPolicy"]["MaximumEventAgeInSeconds"],
            }
        ],
        "dead_letter_config": [{"arn": "${aws_sqs_queue.dead_letter.arn}"}],
    }


def test_rules_same_event_names_as_template() -> None:
    expected = {name for rule in _cfn_cloudtrail_rules() for name in rule["EventPattern"]["detail"]["eventName"]}

    assert len(_cfn_cloudtrail_rules()) == 8  # issue 21 added DeleteFunctionRule, issue 22 four more
    assert {rule["event_name"] for rule in _locals(MODULE)["rules"].values()} == expected


def test_rules_pattern_like_template_with_error_code_filter() -> None:
    rule = _resource("aws_cloudwatch_event_rule", "scan")
    cfn = _cfn_cloudtrail_rules()[0]["EventPattern"]

    assert rule["for_each"] == "${local.rules}"
    assert cfn["detail"]["errorCode"] == [{"exists": False}]
    assert "errorCode = [{exists = false}]" in rule["event_pattern"]
    assert "eventName = [each.value.event_name]" in rule["event_pattern"]
    assert f'source = ["{cfn["source"][0]}"]' in rule["event_pattern"]
    assert f'"detail-type" = ["{cfn["detail-type"][0]}"]' in rule["event_pattern"]
    assert f'eventSource = ["{cfn["detail"]["eventSource"][0]}"]' in rule["event_pattern"]


@pytest.mark.parametrize(
    ("cfn_name", "arn"),
    [
        ("CreateFunctionRule", "${aws_sqs_queue.scan.arn}"),
        ("UpdateFunctionCodeRule", "${aws_sqs_queue.scan.arn}"),
        ("UpdateFunctionConfigurationRule", "${aws_sqs_queue.scan.arn}"),
        ("ManualScanRule", "${aws_sqs_queue.scan.arn}"),
        ("InventoryScheduleRule", "${aws_lambda_function.scanner.arn}"),
    ],
)
def test_rules_targets_retry_then_dead_letter_like_template(cfn_name: str, arn: str) -> None:
    target = _resource("aws_cloudwatch_event_target", RULES[cfn_name])

    expected = _target(_cfn_rules()[cfn_name]["Properties"], arn)

    assert {key: target[key] for key in expected} == expected


def test_rules_manual_scan_pattern_like_template() -> None:
    cfn = _cfn_rules()["ManualScanRule"]["Properties"]["EventPattern"]
    pattern = _resource("aws_cloudwatch_event_rule", "manual_scan")["event_pattern"]

    assert set(cfn) == {"source", "detail-type"}
    assert f'source = ["{cfn["source"][0]}"]' in pattern
    assert f'"detail-type" = ["{cfn["detail-type"][0]}"]' in pattern


def test_rules_inventory_scheduled_only_when_set() -> None:
    rule = _resource("aws_cloudwatch_event_rule", "inventory")

    assert rule["schedule_expression"] == "${var.inventory_schedule}"
    assert rule["count"] == "${local.inventory_enabled ? 1 : 0}"
    assert _locals(MODULE)["inventory_enabled"] == '${var.inventory_schedule != ""}'


def test_rules_only_inventory_invokes_function_like_template() -> None:
    cfn = [r for r in _template()["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    permissions = _typed(MODULE, "resource", "aws_lambda_permission")

    assert [p["Properties"]["SourceArn"] for p in cfn] == [{"Fn::GetAtt": ["InventoryScheduleRule", "Arn"]}]
    assert list(permissions) == ["inventory"]
    assert permissions["inventory"]["principal"] == "events.amazonaws.com"
    assert permissions["inventory"]["source_arn"] == "${aws_cloudwatch_event_rule.inventory[0].arn}"


@pytest.mark.parametrize(
    ("document", "cfn_policy"), [("scan_queue", "ScanQueuePolicy"), ("dead_letter", "DeadLetterQueuePolicy")]
)
def test_queues_accept_only_their_rules_over_tls(document: str, cfn_policy: str) -> None:
    statements = _policy_statements(_typed(MODULE, "data", "aws_iam_policy_document")[document])
    cfn = _template()["Resources"][cfn_policy]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in cfn if s["Effect"] == "Allow"]
    cfn_rules = {
        (s["Fn::If"][1] if "Fn::If" in s else s)["Fn::GetAtt"][0]
        for s in allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    }

    sources = statements[allow["Sid"]][1]["condition"][0]["values"]

    assert set(statements) == {s["Sid"] for s in cfn}
    assert set(re.findall(r"aws_cloudwatch_event_rule\.(\w+)", sources)) == {RULES[name] for name in cfn_rules}
    assert statements["DenyInsecureTransport"][1]["effect"] == "Deny"


@pytest.mark.parametrize(("name", "cfn_queue"), [("scan", "ScanQueue"), ("inventory", "InventoryQueue")])
def test_queue_like_template(name: str, cfn_queue: str) -> None:
    queue = _resource("aws_sqs_queue", name)
    cfn = _template()["Resources"][cfn_queue]["Properties"]

    # SQS managed SSE, or SSE-KMS under the customer's key, like the template's KmsKeyGiven switch.
    assert queue["sqs_managed_sse_enabled"] == '${var.kms_key_arn == "" ? true : null}'
    assert queue["kms_master_key_id"] == '${var.kms_key_arn != "" ? var.kms_key_arn : null}'
    assert queue["visibility_timeout_seconds"] == cfn["VisibilityTimeout"]
    assert queue["message_retention_seconds"] == cfn["MessageRetentionPeriod"]
    assert "deadLetterTargetArn = aws_sqs_queue.dead_letter.arn" in queue["redrive_policy"]
    assert f"maxReceiveCount = {cfn['RedrivePolicy']['maxReceiveCount']}" in queue["redrive_policy"]


def test_scan_queue_feeds_function_one_message_at_a_time() -> None:
    mapping = _resource("aws_lambda_event_source_mapping", "scan_queue")
    cfn = _template()["Resources"]["ScanQueueEventSource"]["Properties"]

    assert mapping["batch_size"] == cfn["BatchSize"] == 1
    assert mapping["function_response_types"] == cfn["FunctionResponseTypes"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": "${var.scan_queue_max_concurrency}"}]


def test_inventory_queue_feeds_function_one_unit_at_a_time() -> None:
    mapping = _resource("aws_lambda_event_source_mapping", "inventory_queue")
    cfn_mapping = _template()["Resources"]["InventoryQueueEventSource"]["Properties"]

    assert mapping["event_source_arn"] == "${aws_sqs_queue.inventory.arn}"
    assert mapping["batch_size"] == cfn_mapping["BatchSize"] == 1
    assert mapping["function_response_types"] == cfn_mapping["FunctionResponseTypes"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": "${var.inventory_queue_max_concurrency}"}]


def test_inventory_queue_policy_only_denies_insecure_transport() -> None:
    statements = _policy_statements(_typed(MODULE, "data", "aws_iam_policy_document")["inventory_queue"])

    assert list(statements) == ["DenyInsecureTransport"]
    assert statements["DenyInsecureTransport"][1]["effect"] == "Deny"
    assert _resource("aws_sqs_queue_policy", "inventory")["queue_url"] == "${aws_sqs_queue.inventory.id}"


def test_dashboard_named_per_instance_and_region_with_template_body() -> None:
    dashboard = _resource("aws_cloudwatch_dashboard", "scanner")
    # The body rendered from the templates' widgets (cloudformation/render.py) names what the module passes.
    names = set(re.findall(r"\$\{(\w+)\}", (MODULE / "dashboard.json.tftpl").read_text()))

    assert dashboard["dashboard_name"] == "${var.name}-${local.region}"
    assert 'templatefile("${path.module}/dashboard.json.tftpl"' in dashboard["dashboard_body"]
    passed = re.findall(r"(\w+) = ", dashboard["dashboard_body"].partition(", {")[2])  # the variables map
    assert names and set(passed) == names


# ---------------------------------------------------------------- storage, notifications, trail


def _bucket_resource(type_name: str) -> dict[str, Any]:
    return _typed(BUCKET_MODULE, "resource", type_name)["this"]


def test_bucket_module_encrypted_versioned_private_tls_only_expiring() -> None:
    (sse,) = _bucket_resource("aws_s3_bucket_server_side_encryption_configuration")["rule"]
    block = _bucket_resource("aws_s3_bucket_public_access_block")
    (rule,) = _bucket_resource("aws_s3_bucket_lifecycle_configuration")["rule"]
    document = _typed(BUCKET_MODULE, "data", "aws_iam_policy_document")["this"]
    (deny,) = [s for s in document["statement"] if s["effect"] == "Deny"]

    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "${var.sse_algorithm}"
    assert _bucket_resource("aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == "Enabled"
    assert all(block[key] is True for key in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert block["restrict_public_buckets"] is True
    assert _bucket_resource("aws_s3_bucket_ownership_controls")["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    (expiration,) = [d["expiration"] for d in rule["dynamic"] if "expiration" in d]
    assert expiration["for_each"] == "${var.expiration_days == null ? [] : [var.expiration_days]}"
    assert expiration["content"][0]["days"] == "${expiration.value}"
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 90
    # Only the artifacts bucket (rebuilt by make) is destroyed with its objects; scanner-native's never.
    assert _bucket_resource("aws_s3_bucket")["force_destroy"] == "${var.force_destroy}"
    assert _named(BUCKET_MODULE, "variable")["force_destroy"]["default"] is False
    assert all("force_destroy" not in body for body in _named(MODULE, "module").values())
    assert deny["sid"] == "DenyInsecureTransport"
    assert deny["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    assert document["source_policy_documents"] == "${var.policy_documents}"


@pytest.mark.parametrize(("module", "former", "algorithm", "rule_id"), BUCKETS, ids=[b[1] for b in BUCKETS])
def test_buckets_use_bucket_module_with_template_encryption_and_retention(
    module: str, former: str, algorithm: str, rule_id: str
) -> None:
    call = _named(MODULE, "module")[module]

    assert call["source"] == "../hardened-bucket"
    assert set(call) - MODULE_BLOCK_META_ARGUMENTS <= set(_named(BUCKET_MODULE, "variable"))
    assert call["sse_algorithm"] == algorithm
    assert call["lifecycle_rule_id"] == rule_id
    assert call["expiration_days"] == "${var.results_retention_days}"
    assert call["name_prefix"] == f"${{var.name}}-{former}-"


def test_trail_bucket_policy_admits_cloudtrail_for_this_trail_only() -> None:
    call = _named(MODULE, "module")["trail_bucket"]
    statements = _typed(MODULE, "data", "aws_iam_policy_document")["trail"]["statement"]

    assert call["policy_documents"] == ["${data.aws_iam_policy_document.trail[0].json}"]
    assert sorted(s["sid"] for s in statements) == ["CloudTrailAclCheck", "CloudTrailWrite"]
    for statement in statements:
        assert statement["principals"] == [{"type": "Service", "identifiers": ["cloudtrail.amazonaws.com"]}]
        assert {"test": "StringEquals", "variable": "aws:SourceArn", "values": ["${local.trail_arn}"]} in statement[
            "condition"
        ]


@pytest.mark.parametrize(("module", "former", "algorithm", "rule_id"), BUCKETS, ids=[b[1] for b in BUCKETS])
def test_moved_blocks_carry_every_former_bucket_resource_into_module(
    module: str, former: str, algorithm: str, rule_id: str
) -> None:
    moves = {block["from"]: block["to"] for block in _parsed(MODULE).get("moved", [])}
    resource_types = _typed_names(BUCKET_MODULE, "resource")

    assert resource_types
    for resource_type in resource_types:
        assert moves[f"${{{resource_type}.{former}[0]}}"] == f"${{module.{module}[0].{resource_type}.this}}"


def test_cache_table_key_ttl_pitr_sse_like_template() -> None:
    table = _resource("aws_dynamodb_table", "scan_cache")
    definition = cache_table_definition()

    assert table["hash_key"] == definition["KeySchema"][0]["AttributeName"] == "function_arn"
    assert table["attribute"] == [{"name": "function_arn", "type": "S"}]
    assert table["ttl"] == [{"attribute_name": definition["ttl_attribute"], "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"] == [
        {"enabled": True, "kms_key_arn": '${var.kms_key_arn != "" ? var.kms_key_arn : null}'}
    ]


def test_topic_encrypted_with_rotating_key_that_alarms_can_use() -> None:
    key = _resource("aws_kms_key", "notifications")
    cfn_sids = [s["Sid"] for s in _cfn_resource("AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]]

    assert key["enable_key_rotation"] is True
    assert all(f"Sid = {json.dumps(sid)}" in key["policy"] for sid in cfn_sids)
    assert "cloudwatch.amazonaws.com" in key["policy"]
    assert _resource("aws_sns_topic", "notifications")["kms_master_key_id"] == "${aws_kms_key.notifications[0].arn}"


@pytest.mark.parametrize(
    "alarm", ["scanner_errors", "dead_letter_queue", "scanner_throttles", "inventory_targets_unreachable"]
)
def test_alarms_notify_topic_when_enabled(alarm: str) -> None:
    properties = _resource("aws_cloudwatch_metric_alarm", alarm)

    assert properties["threshold"] == 0
    assert properties["comparison_operator"] == "GreaterThanThreshold"
    assert properties["alarm_actions"] == "${aws_sns_topic.notifications[*].arn}"


def test_trail_every_one_logs_management_events() -> None:
    trails = [body for path in (MODULE, *EXAMPLES) for body in _typed(path, "resource", "aws_cloudtrail").values()]
    cfn = _cfn_resource("AWS::CloudTrail::Trail")["Properties"]

    assert trails
    for trail in trails:
        assert trail["event_selector"] == [
            {
                "read_write_type": cfn["EventSelectors"][0]["ReadWriteType"],
                "include_management_events": cfn["EventSelectors"][0]["IncludeManagementEvents"],
            }
        ]
        assert trail["is_multi_region_trail"] is True
        assert trail["enable_log_file_validation"] is True
        assert trail["count"] == "${var.create_cloudtrail ? 1 : 0}"


def test_trail_named_like_template() -> None:
    assert _locals(MODULE)["trail_name"] == "${var.name}-qscanner"
    assert _cfn_resource("AWS::CloudTrail::Trail")["Properties"]["TrailName"] == {
        "Fn::Sub": "${AWS::StackName}-qscanner"
    }


# ---------------------------------------------------------------- outputs and examples


def test_outputs_mirror_template_outputs() -> None:
    outputs = _named(MODULE, "output")

    assert set(OUTPUTS) == set(_template()["Outputs"])
    assert set(OUTPUTS.values()) <= set(outputs)
    assert all(body.get("description") for body in outputs.values())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_pass_only_module_inputs_and_every_required_one(example: Path) -> None:
    variables = _named(MODULE, "variable")
    required = {name for name, body in variables.items() if "default" not in body}
    modules = _named(example, "module")

    assert modules
    for body in modules.values():
        assert body["source"] == "../../modules/scanner-native"
        arguments = set(body) - MODULE_BLOCK_META_ARGUMENTS
        assert arguments <= set(variables)
        assert required <= arguments


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_read_only_module_outputs(example: Path) -> None:
    outputs = _named(MODULE, "output")
    modules = _named(example, "module")

    references = re.findall(r"\bmodule\.(\w+)\.(\w+)", json.dumps(_parsed(example)))

    assert references
    assert {(m, o) for m, o in references if m not in modules or o not in outputs} == set()


def test_multi_region_example_one_instance_per_provider_alias() -> None:
    example = EXAMPLES[1]
    aliases = {f"aws.{body['alias']}" for block in _parsed(example)["provider"] for body in block.values()}
    modules = _named(example, "module")

    assert len(modules) >= 2
    assert sorted(body["providers"]["aws"] for body in modules.values()) == sorted(f"${{{a}}}" for a in aliases)
    assert [name for name, body in modules.items() if body["create_cloudtrail"] is not False] == ["scanner_us_east_1"]


# ---------------------------------------------------------------- checkov


def test_checkov_suppressions_state_a_reason() -> None:
    documents = (*_raw(MODULE), *_raw(BUCKET_MODULE))
    skips = [c for document in documents for c in _comments(document) if c.startswith("checkov:skip=")]

    assert skips
    for skip in skips:
        assert re.fullmatch(r"checkov:skip=CKV2?_AWS_\d+:.{40,}", skip), skip


@pytest.mark.slow  # an external linter run: tens of seconds
def test_checkov_finds_nothing_unsuppressed(tmp_path: Path) -> None:
    # The module as is, and a copy whose defaults turn every optional resource on (checkov evaluates
    # count with the defaults, so the trail is only checked when create_cloudtrail defaults to true).
    shutil.copytree(MODULE, tmp_path / "module")
    # Both copies call ../hardened-bucket, which checkov follows.
    shutil.copytree(BUCKET_MODULE, tmp_path / BUCKET_MODULE.name)
    every_feature = tmp_path / "every-feature"
    shutil.copytree(MODULE, every_feature)
    variables = every_feature / "variables.tf"
    text, count = re.subn(
        r'(variable "(create_cloudtrail|enable_security_hub)" \{\n  type        = bool\n  default     = )false',
        r"\1true",
        variables.read_text(),
    )
    assert count == 2
    variables.write_text(text)

    result = run_checkov(tmp_path, "terraform", ["module", "every-feature"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
