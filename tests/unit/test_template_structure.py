"""Structure of cloudformation/single-account-native.yaml: what moto ignores, checked on the YAML itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qualys_lambda.pods import QUALYS_PODS
from qualys_lambda.publish import SCANNER_TAG_KEYS
from tests.support import load_template, run_checkov, template_with_trail_on

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "cloudformation" / "single-account-native.yaml"

EVENT_NAMES = {
    "CreateFunction20150331",
    "UpdateFunctionCode20150331v2",
    "UpdateFunctionConfiguration20150331v2",
    "DeleteFunction20150331",  # issue 21: retires a deleted function's findings
    "PublishVersion20150331",  # issue 22
    "CreateAlias20150331",
    "UpdateAlias20150331",
    "DeleteAlias20150331",
}
# docs/DESIGN.md section 2 (the scanner's environment) minus what only the hub sets
# (CROSS_ACCOUNT_*, ALLOWED_ACCOUNT_IDS) and the derived SCAN_TIMEOUT.
SCANNER_ENV_NAMES = {
    "QUALYS_SECRET_ARN",
    "RESULTS_S3_BUCKET",
    "SNS_TOPIC_ARN",
    "SCAN_CACHE_TABLE",
    "CACHE_TTL_DAYS",
    "QSCANNER_PATH",
    "SCAN_TYPES",
    "EXCLUDE_TAG",
    # Issue 7: Security Hub, scan events, SBOMs.
    "ENABLE_SECURITY_HUB",
    "SCAN_EVENT_BUS",
    "SBOM_FORMATS",
    # Issue 6: the scan queue the inventory fills, and when a scan is stale.
    "SCAN_QUEUE_URL",
    "TAG_FUNCTIONS",
    "POLICY_TAGS",
    "RESCAN_AFTER_DAYS",
    # Issue 12: the queue the inventory's per-(account, region) units go to.
    "INVENTORY_QUEUE_URL",
    # Issue 18: the suppressions document.
    "SUPPRESSIONS_URI",
    # Issue 19: /tmp's size, for the fit-before-fetch check.
    "EPHEMERAL_STORAGE_MB",
    # Issue 19 item 5: one QScanner run per code identity.
    "SCAN_IDENTICAL_CODE_ONCE",
}
PARAMETER_DEFAULTS = {
    "QualysPod": "US2",
    "EnableS3Results": "true",
    "EnableSNSNotifications": "true",
    "EnableScanCache": "true",
    "CreateCloudTrail": "false",
    "CacheTTLDays": 30,
    "ScannerMemorySize": 2048,
    "ScannerTimeout": 900,
    "EphemeralStorageSize": 2048,
    "ReservedConcurrency": 10,
    "ScanTypes": "pkg,secret",
    "ExcludeTag": "QualysScanExclude",
    "NotificationEmail": "",
    "ResultsRetentionDays": 365,
    "EnableSecurityHub": "false",
    "EnableScanEvents": "true",
    "SbomFormats": "spdx,cyclonedx",
    "ScanQueueMaxConcurrency": 5,
    "InventorySchedule": "rate(1 day)",
    "RescanAfterDays": 7,
    # Issue 10: the policy gate. Issue 11: hardening switches and customer managed keys.
    "PolicyTags": "",
    "EnableTagging": "true",
    "EnableTracing": "false",
    "KmsKeyArn": "",
    "QualysSecretKmsKeyArn": "",
    "InventoryQueueMaxConcurrency": 2,
    "SuppressionsUri": "",
    "ScanIdenticalCodeOnce": "false",
}
# Queues: SQS managed SSE, or SSE-KMS under KmsKeyArn when one is given.
SQS_MANAGED_UNLESS_CMK = {"Fn::If": ["KmsKeyGiven", {"Ref": "AWS::NoValue"}, True]}
CMK_IF_GIVEN = {"Fn::If": ["KmsKeyGiven", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
REQUIRED_PARAMETERS = {"QualysSecretArn", "QScannerLayerArn", "CodeS3Bucket", "CodeS3Key"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.name)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def _role_statements(resources: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(condition, statement) for every statement of the scanner role; conditional ones unwrapped."""
    (role,) = _of_type(resources, "AWS::IAM::Role").values()
    statements = []
    for policy in role["Properties"]["Policies"]:
        for item in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in item:
                condition, statement, otherwise = item["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                statements.append((condition, statement))
            else:
                statements.append((None, item))
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement_with_action(resources: dict[str, Any], action: str) -> tuple[str | None, dict[str, Any]]:
    # The customer managed key's statement (KmsKeyArn) shares kms actions with the topic key's.
    matches = [
        (c, s)
        for c, s in _role_statements(resources)
        if action in _as_list(s["Action"]) and s["Sid"] != "UseCustomerManagedKey"
    ]
    assert len(matches) == 1, action
    return matches[0]


def _denies_insecure_transport(policy_document: dict[str, Any], bucket: str) -> bool:
    for statement in policy_document["Statement"]:
        if (
            statement["Effect"] == "Deny"
            and statement["Principal"] == "*"
            and statement["Action"] == "s3:*"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ):
            return {"Fn::GetAtt": [bucket, "Arn"]} in statement["Resource"] and {
                "Fn::Sub": f"${{{bucket}.Arn}}/*"
            } in statement["Resource"]
    return False


# ---------------------------------------------------------------- parameters


def test_parameters_names_and_defaults_as_issued(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]

    assert set(parameters) == set(PARAMETER_DEFAULTS) | REQUIRED_PARAMETERS
    assert {name: parameters[name].get("Default") for name in PARAMETER_DEFAULTS} == PARAMETER_DEFAULTS
    assert all("Default" not in parameters[name] for name in REQUIRED_PARAMETERS)


def test_parameters_every_one_has_description(template: dict[str, Any]) -> None:
    assert all(p.get("Description") for p in template["Parameters"].values())


def test_parameters_qualys_pod_allowed_values(template: dict[str, Any]) -> None:
    assert template["Parameters"]["QualysPod"]["AllowedValues"] == list(QUALYS_PODS)


@pytest.mark.parametrize(
    ("name", "minimum", "maximum"),
    [
        ("CacheTTLDays", 1, 365),
        ("ScannerMemorySize", 512, 10240),
        ("EphemeralStorageSize", 512, 10240),
        ("ReservedConcurrency", 0, 1000),
    ],
)
def test_parameters_numeric_bounds(template: dict[str, Any], name: str, minimum: int, maximum: int) -> None:
    parameter = template["Parameters"][name]

    assert (parameter["MinValue"], parameter["MaxValue"]) == (minimum, maximum)


def test_parameters_scanner_timeout_at_most_lambda_maximum(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ScannerTimeout"]["MaxValue"] == 900


@pytest.mark.parametrize("switch", ["EnableS3Results", "EnableSNSNotifications", "EnableScanCache", "CreateCloudTrail"])
def test_parameters_switches_accept_only_true_false(template: dict[str, Any], switch: str) -> None:
    assert template["Parameters"][switch]["AllowedValues"] == ["true", "false"]


def test_parameters_notification_email_pattern_accepts_empty_and_address(template: dict[str, Any]) -> None:
    pattern = re.compile(template["Parameters"]["NotificationEmail"]["AllowedPattern"])

    assert pattern.fullmatch("")
    assert pattern.fullmatch("secops@example.com")
    assert not pattern.fullmatch("not an address")


# ---------------------------------------------------------------- scanner function


def test_function_environment_names_match_design(resources: dict[str, Any]) -> None:
    variables = resources["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert set(variables) == SCANNER_ENV_NAMES


@pytest.mark.parametrize(
    ("variable", "condition", "resource"),
    [
        ("RESULTS_S3_BUCKET", "S3ResultsEnabled", "ResultsBucket"),
        ("SNS_TOPIC_ARN", "SNSEnabled", "NotificationTopic"),
        ("SCAN_CACHE_TABLE", "ScanCacheEnabled", "ScanCacheTable"),
    ],
)
def test_function_environment_feature_variable_empty_when_disabled(
    resources: dict[str, Any], variable: str, condition: str, resource: str
) -> None:
    value = resources["ScannerFunction"]["Properties"]["Environment"]["Variables"][variable]

    assert value == {"Fn::If": [condition, {"Ref": resource}, ""]}


def test_function_environment_fixed_values(resources: dict[str, Any]) -> None:
    variables = resources["ScannerFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["QSCANNER_PATH"] == "/opt/bin/qscanner"
    assert variables["QUALYS_SECRET_ARN"] == {"Ref": "QualysSecretArn"}
    assert variables["CACHE_TTL_DAYS"] == {"Ref": "CacheTTLDays"}
    assert variables["SCAN_TYPES"] == {"Ref": "ScanTypes"}
    assert variables["EXCLUDE_TAG"] == {"Ref": "ExcludeTag"}


def test_function_runs_real_code_from_s3_with_qscanner_layer(resources: dict[str, Any]) -> None:
    properties = resources["ScannerFunction"]["Properties"]

    assert properties["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
    assert properties["Handler"] == "lambda_function.lambda_handler"
    assert properties["Runtime"] == "python3.12"
    assert properties["Layers"] == [{"Ref": "QScannerLayerArn"}]


def test_function_sizing_from_parameters(resources: dict[str, Any]) -> None:
    properties = resources["ScannerFunction"]["Properties"]

    assert properties["MemorySize"] == {"Ref": "ScannerMemorySize"}
    assert properties["Timeout"] == {"Ref": "ScannerTimeout"}
    assert properties["EphemeralStorage"] == {"Size": {"Ref": "EphemeralStorageSize"}}
    assert properties["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservedConcurrencySet", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_function_zero_reserved_concurrency_means_unreserved(template: dict[str, Any]) -> None:
    condition = template["Conditions"]["ReservedConcurrencySet"]

    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]}


def test_function_logs_json_to_own_group_kept_30_days(resources: dict[str, Any]) -> None:
    properties = resources["ScannerFunction"]["Properties"]

    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "ScannerLogGroup"}}
    assert resources["ScannerLogGroup"]["Properties"]["RetentionInDays"] == 30


def test_function_async_failures_go_to_dead_letter_queue(resources: dict[str, Any]) -> None:
    dlq_arn = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    (invoke_config,) = _of_type(resources, "AWS::Lambda::EventInvokeConfig").values()

    assert resources["ScannerFunction"]["Properties"]["DeadLetterConfig"] == {"TargetArn": dlq_arn}
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "ScannerFunction"}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    assert invoke_config["Properties"]["DestinationConfig"] == {"OnFailure": {"Destination": dlq_arn}}


# ---------------------------------------------------------------- EventBridge


def _cloudtrail_rules(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: rule
        for name, rule in _of_type(resources, "AWS::Events::Rule").items()
        if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.lambda"]
    }


def test_rules_one_per_event_name(resources: dict[str, Any]) -> None:
    names = [
        rule["Properties"]["EventPattern"]["detail"]["eventName"] for rule in _cloudtrail_rules(resources).values()
    ]

    assert all(len(n) == 1 for n in names)
    assert sorted(n[0] for n in names) == sorted(EVENT_NAMES)


def test_rules_pattern_matches_successful_lambda_cloudtrail_calls(resources: dict[str, Any]) -> None:
    for rule in _cloudtrail_rules(resources).values():
        pattern = rule["Properties"]["EventPattern"]

        assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
        assert pattern["detail"]["eventSource"] == ["lambda.amazonaws.com"]
        assert pattern["detail"]["errorCode"] == [{"exists": False}]


def test_rules_target_scan_queue_with_retry_policy_and_dead_letter(resources: dict[str, Any]) -> None:
    rules = {**_cloudtrail_rules(resources), "ManualScanRule": resources["ManualScanRule"]}
    assert len(rules) == 9  # issue 21 added DeleteFunctionRule, issue 22 the version and alias rules
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]

        assert target["Arn"] == {"Fn::GetAtt": ["ScanQueue", "Arn"]}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}


def test_manual_scan_rule_matches_manual_requests_only(resources: dict[str, Any]) -> None:
    pattern = resources["ManualScanRule"]["Properties"]["EventPattern"]

    assert pattern == {"source": ["qualys-lambda.manual"], "detail-type": ["Scan Request"]}


def test_inventory_schedule_invokes_scanner_with_scoped_permission(resources: dict[str, Any]) -> None:
    rule = resources["InventoryScheduleRule"]
    (permission,) = _of_type(resources, "AWS::Lambda::Permission").values()

    assert rule["Condition"] == "InventoryEnabled"
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "InventorySchedule"}
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ScannerFunction", "Arn"]}
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": ["InventoryScheduleRule", "Arn"]}
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"


def test_scan_queue_buffers_bursts(resources: dict[str, Any]) -> None:
    queue = resources["ScanQueue"]["Properties"]
    mapping = resources["ScanQueueEventSource"]

    assert queue["SqsManagedSseEnabled"] == SQS_MANAGED_UNLESS_CMK
    assert queue["VisibilityTimeout"] >= 6 * 900  # six times the largest ScannerTimeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 5
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ScanQueueMaxConcurrency"}}


def test_dead_letter_queue_encrypted_and_kept_14_days(resources: dict[str, Any]) -> None:
    properties = resources["DeadLetterQueue"]["Properties"]

    assert properties["SqsManagedSseEnabled"] == SQS_MANAGED_UNLESS_CMK
    assert properties["KmsMasterKeyId"] == CMK_IF_GIVEN
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize(("queue", "extra_rules"), [("DeadLetterQueue", 1), ("ScanQueue", 0)])
def test_queue_policies_admit_only_the_stack_rules(resources: dict[str, Any], queue: str, extra_rules: int) -> None:
    (policy,) = [
        p
        for p in _of_type(resources, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    named = [a["Fn::GetAtt"][0] for a in source_arns if "Fn::GetAtt" in a]

    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert sorted(named) == sorted([*_cloudtrail_rules(resources), "ManualScanRule"])
    assert len(source_arns) - len(named) == extra_rules  # the conditional inventory rule


# ---------------------------------------------------------------- storage


def test_results_bucket_policy_denies_insecure_transport(resources: dict[str, Any]) -> None:
    policy = resources["ResultsBucketPolicy"]

    assert policy["Condition"] == "S3ResultsEnabled"
    assert _denies_insecure_transport(policy["Properties"]["PolicyDocument"], "ResultsBucket")


@pytest.mark.parametrize("bucket", ["ResultsBucket", "TrailBucket"])
def test_buckets_private_versioned_encrypted(resources: dict[str, Any], bucket: str) -> None:
    properties = resources[bucket]["Properties"]
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert "BucketName" not in properties
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_results_bucket_lifecycle_expires_per_retention_parameter(resources: dict[str, Any]) -> None:
    (rule,) = resources["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "ResultsRetentionDays"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}


def test_cache_table_key_schema_is_function_arn_string(resources: dict[str, Any]) -> None:
    properties = resources["ScanCacheTable"]["Properties"]

    assert properties["KeySchema"] == [{"AttributeName": "function_arn", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "function_arn", "AttributeType": "S"}]


def test_cache_table_ttl_on_ttl_attribute(resources: dict[str, Any]) -> None:
    properties = resources["ScanCacheTable"]["Properties"]

    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_cache_table_on_demand_encrypted_with_point_in_time_recovery(resources: dict[str, Any]) -> None:
    properties = resources["ScanCacheTable"]["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": {"Fn::If": ["KmsKeyGiven", "KMS", {"Ref": "AWS::NoValue"}]},
        "KMSMasterKeyId": CMK_IF_GIVEN,
    }
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


# ---------------------------------------------------------------- IAM


def test_role_every_statement_has_sid(resources: dict[str, Any]) -> None:
    sids = [statement.get("Sid") for _c, statement in _role_statements(resources)]

    assert all(sids)
    assert len(sids) == len(set(sids))


def test_role_no_wildcard_action(resources: dict[str, Any]) -> None:
    for _condition, statement in _role_statements(resources):
        assert all("*" not in action for action in _as_list(statement["Action"]))


def test_role_wildcard_resource_only_for_ecr_authorization_token(resources: dict[str, Any]) -> None:
    wildcard = [s["Action"] for _c, s in _role_statements(resources) if "*" in _as_list(s["Resource"])]

    # None of these actions supports resource-level permissions.
    assert wildcard == [
        "ecr:GetAuthorizationToken",
        ["lambda:ListFunctions", "tag:GetResources"],
        ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    ]


def test_role_allow_only(resources: dict[str, Any]) -> None:
    assert {statement["Effect"] for _c, statement in _role_statements(resources)} == {"Allow"}


def test_role_tags_only_qualysscan_keys(resources: dict[str, Any]) -> None:
    _condition, statement = _statement_with_action(resources, "lambda:TagResource")

    assert statement["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": list(SCANNER_TAG_KEYS)}}
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*"}


def test_role_reads_only_the_qualys_secret(resources: dict[str, Any]) -> None:
    _condition, statement = _statement_with_action(resources, "secretsmanager:GetSecretValue")

    assert statement["Resource"] == {"Ref": "QualysSecretArn"}


# Layers and repositories are any account's (shared layers, central registries): their own resource
# policies decide, so the role does not scope them to this account.
@pytest.mark.parametrize("action", ["lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListTags"])
def test_role_lambda_reads_scoped_to_account(resources: dict[str, Any], action: str) -> None:
    _condition, statement = _statement_with_action(resources, action)

    assert "${AWS::AccountId}" in statement["Resource"]["Fn::Sub"]


def test_role_ecr_pulls_any_accounts_repositories(resources: dict[str, Any]) -> None:
    _condition, statement = _statement_with_action(resources, "ecr:BatchGetImage")

    assert set(statement["Action"]) == {
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:DescribeImages",
    }
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ecr:*:*:repository/*"}


@pytest.mark.parametrize(
    ("action", "condition", "resource"),
    [
        ("s3:PutObject", "S3ResultsEnabled", {"Fn::Sub": "${ResultsBucket.Arn}/scans/*"}),
        ("sns:Publish", "SNSEnabled", {"Ref": "NotificationTopic"}),
        ("kms:GenerateDataKey", "SNSEnabled", {"Fn::GetAtt": ["NotificationKey", "Arn"]}),
        ("dynamodb:PutItem", "ScanCacheEnabled", {"Fn::GetAtt": ["ScanCacheTable", "Arn"]}),
        (
            "sqs:ReceiveMessage",
            None,
            [{"Fn::GetAtt": ["ScanQueue", "Arn"]}, {"Fn::GetAtt": ["InventoryQueue", "Arn"]}],
        ),
        ("logs:PutLogEvents", None, {"Fn::GetAtt": ["ScannerLogGroup", "Arn"]}),
    ],
)
def test_role_feature_statements_scoped_and_conditional(
    resources: dict[str, Any], action: str, condition: str | None, resource: dict[str, Any]
) -> None:
    statement_condition, statement = _statement_with_action(resources, action)

    assert statement_condition == condition
    assert statement["Resource"] == resource


def test_role_cache_actions_are_get_put_update_delete(resources: dict[str, Any]) -> None:
    _condition, statement = _statement_with_action(resources, "dynamodb:GetItem")

    assert set(statement["Action"]) == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # issue 21: a deleted or excluded function's item goes
    }


def test_role_sends_only_to_its_own_queues(resources: dict[str, Any]) -> None:
    targets = sorted(
        resource["Fn::GetAtt"][0]
        for _c, s in _role_statements(resources)
        if "sqs:SendMessage" in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    )

    assert targets == ["DeadLetterQueue", "InventoryQueue", "ScanQueue"]


def test_role_has_no_managed_policies(resources: dict[str, Any]) -> None:
    assert "ManagedPolicyArns" not in resources["ScannerRole"]["Properties"]


# ---------------------------------------------------------------- switches, trail, alarms, outputs


@pytest.mark.parametrize(
    ("condition", "names"),
    [
        ("S3ResultsEnabled", {"ResultsBucket", "ResultsBucketPolicy"}),
        ("ScanCacheEnabled", {"ScanCacheTable"}),
        ("SNSEnabled", {"NotificationTopic", "NotificationKey"}),
        ("EmailSubscriptionEnabled", {"NotificationEmailSubscription"}),
        ("CloudTrailEnabled", {"TrailBucket", "TrailBucketPolicy", "Trail"}),
    ],
)
def test_switches_own_their_resources(resources: dict[str, Any], condition: str, names: set[str]) -> None:
    assert {name for name, res in resources.items() if res.get("Condition") == condition} == names


def test_trail_logs_write_management_events_in_all_regions(resources: dict[str, Any]) -> None:
    properties = resources["Trail"]["Properties"]

    assert properties["IsLogging"] is True
    assert properties["IsMultiRegionTrail"] is True
    assert properties["IncludeGlobalServiceEvents"] is True
    assert properties["EnableLogFileValidation"] is True
    assert properties["EventSelectors"] == [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
    assert resources["Trail"]["DependsOn"] == "TrailBucketPolicy"


def test_trail_bucket_policy_tls_only_and_scoped_to_this_trail(resources: dict[str, Any]) -> None:
    document = resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]
    service_statements = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    trail_name = resources["Trail"]["Properties"]["TrailName"]["Fn::Sub"]

    assert _denies_insecure_transport(document, "TrailBucket")
    assert {s["Action"] for s in service_statements} == {"s3:GetBucketAcl", "s3:PutObject"}
    for statement in service_statements:
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(f":trail/{trail_name}")


@pytest.mark.parametrize(
    ("alarm", "metric"),
    [("ScannerErrorsAlarm", "Errors"), ("DeadLetterQueueAlarm", "ApproximateNumberOfMessagesVisible")],
)
def test_alarms_fire_above_zero_and_notify_topic_when_enabled(
    resources: dict[str, Any], alarm: str, metric: str
) -> None:
    properties = resources[alarm]["Properties"]

    assert properties["MetricName"] == metric
    assert properties["Threshold"] == 0
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["Period"] == 300
    assert properties["AlarmActions"] == {
        "Fn::If": ["SNSEnabled", [{"Ref": "NotificationTopic"}], {"Ref": "AWS::NoValue"}]
    }


def test_outputs_exported_under_stack_name(template: dict[str, Any]) -> None:
    for name, output in template["Outputs"].items():
        assert output["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


@pytest.mark.parametrize(
    ("output", "condition"),
    [
        ("ScannerFunctionName", None),
        ("ScannerFunctionArn", None),
        ("ScannerRoleArn", None),
        ("ResultsBucketName", "S3ResultsEnabled"),
        ("ScanCacheTableName", "ScanCacheEnabled"),
        ("SNSTopicArn", "SNSEnabled"),
        ("DeadLetterQueueUrl", None),
        ("DeadLetterQueueArn", None),
        ("ScannerLogGroupName", None),
        ("CloudTrailName", "CloudTrailEnabled"),
        ("CreateFunctionRuleName", None),
        ("UpdateFunctionCodeRuleName", None),
        ("UpdateFunctionConfigurationRuleName", None),
    ],
)
def test_outputs_present_with_feature_condition(template: dict[str, Any], output: str, condition: str | None) -> None:
    assert template["Outputs"][output].get("Condition") == condition


# ---------------------------------------------------------------- linters


@pytest.mark.slow  # an external linter run: tens of seconds
def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.slow  # an external linter run: tens of seconds
def test_checkov_finds_nothing_unsuppressed(tmp_path: Path) -> None:
    # checkov evaluates conditions with the parameters' defaults, so CreateCloudTrail=false hides the
    # trail resources: a copy whose default turns them on is scanned too.
    shutil.copy(TEMPLATE, tmp_path / TEMPLATE.name)
    (tmp_path / "all-features.yaml").write_text(template_with_trail_on(TEMPLATE.name))

    result = run_checkov(tmp_path, "cloudformation", [TEMPLATE.name, "all-features.yaml"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_role_security_hub_import_only_on_own_product(resources: dict[str, Any]) -> None:
    condition, statement = _statement_with_action(resources, "securityhub:BatchImportFindings")

    assert condition == "SecurityHubEnabled"
    product = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
    assert statement["Resource"] == {"Fn::Sub": product}


def test_role_scan_events_only_on_default_bus(resources: dict[str, Any]) -> None:
    condition, statement = _statement_with_action(resources, "events:PutEvents")

    assert condition == "ScanEventsEnabled"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
    }
