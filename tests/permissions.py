"""Every AWS action the scanner, QScanner and Lambda (for the scanner) need, with the resource each acts on.

moto enforces no IAM, so this table is what the tests hold the templates and the Terraform module to:
tests/unit/test_permissions_table.py checks it covers every boto3 call of qualys_lambda (by reading the
code), tests/unit/test_iam_grants.py that each role grants each row on its example resource.

Accounts: `home` is the scanner's own account (its bucket, queues, topic, table, secret, bus);
`target` is the scanned function's account (the same account in the single-account models, a spoke
reached through the spoke role in the hub model). `other` is a third account that owns a layer, an
image repository or a key the target's function uses.

Resources are ARN patterns with `{placeholders}`; `example()` fills them. Names in braces that are not
accounts, regions or the partition stand for the deployment's own resources (`{scan_queue}`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from qualys_lambda.publish import SCANNER_TAG_KEYS

Account = Literal["home", "target"]
# Who makes the call: the scanner's Python code, the QScanner binary (with the target account's
# credentials in its environment), or the Lambda service acting with the scanner's execution role.
Caller = Literal["scanner", "qscanner", "lambda", "operator"]

# Sources of the facts below.
QSCANNER_DOCS = "Qualys QScanner documentation, 'lambda' command: reads the function and its layers, pulls images"
ECR_PULL_DOCS = "Amazon ECR User Guide, 'Private repository policies' / 'Required IAM permissions for pulling an image'"
LAMBDA_CMK_DOCS = "AWS Lambda Developer Guide, 'Encrypting Lambda .zip deployment packages' (SourceKMSKeyArn)"
LAYER_DOCS = "AWS Lambda Developer Guide, 'Layer permissions': both the caller's policy and the layer's allow"
SECRETS_CMK_DOCS = "AWS Secrets Manager User Guide, 'Secret encryption and decryption' (kms:ViaService)"
EXECUTION_ROLE_DOCS = "AWS Lambda Developer Guide, 'Lambda execution role' (logs, SQS event source, DLQ)"
BOTO3_DOCS = "the boto3 call in qualys_lambda named in `calls`"
XRAY_DOCS = "AWS Lambda Developer Guide, 'Visualize Lambda function invocations using AWS X-Ray' (execution role)"


@dataclass(frozen=True)
class Permission:
    """One action on one example resource, by one caller in one account."""

    action: str
    account: Account
    resource: str
    caller: Caller
    case: str
    source: str
    # The boto3 calls (service.method) that need this action; empty for QScanner and Lambda's own calls.
    calls: tuple[str, ...] = ()
    # The scanner feature whose setting turns the call on; "" when always on. "inventory-regions": Security
    # Hub with an inventory across regions (the hub's InventoryRegions), where a stack in one region
    # imports findings in others. "organization": the hub's INVENTORY_ACCOUNTS=organization.
    feature: str = ""
    # Request context keys the call carries that a statement's Condition may test.
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def example(self, values: Mapping[str, str]) -> str:
        """The example resource ARN with `values` filled in."""
        return self.resource.format(**values)


_FUNCTION = "arn:{partition}:lambda:{region}:{target}:function:{function}"
_OWN_FUNCTION_LAYER = "arn:{partition}:lambda:{region}:{target}:layer:{layer}:1"
_OTHER_LAYER = "arn:{partition}:lambda:{region}:{other}:layer:{layer}:7"
_OWN_REPOSITORY = "arn:{partition}:ecr:{region}:{target}:repository/{repository}"
_OTHER_REPOSITORY = "arn:{partition}:ecr:{region}:{other}:repository/{repository}"
_FUNCTION_KEY = "arn:{partition}:kms:{region}:{target}:key/{function_key}"
_CREDENTIALS_KEY = "arn:{partition}:kms:{region}:{home}:key/{secret_key}"
_PRODUCT = "arn:{partition}:securityhub:{region}:{target}:product/{target}/default"
_PRODUCT_OTHER_REGION = "arn:{partition}:securityhub:{other_region}:{target}:product/{target}/default"
_HUB = "arn:{partition}:securityhub:{region}:{target}:hub/default"
_HUB_OTHER_REGION = "arn:{partition}:securityhub:{other_region}:{target}:hub/default"
_XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_ECR_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
# Organizations keep images in a central registry account; aws:ResourceOrgID may bound that grant.
_IN_ORGANIZATION = {"aws:ResourceOrgID": "{organization}"}

PERMISSIONS: tuple[Permission, ...] = (
    # ---------------------------------------------------------------- target: read, list, tag
    Permission("lambda:GetFunction", "target", _FUNCTION, "scanner", "function", BOTO3_DOCS, ("lambda.get_function",)),
    Permission("lambda:GetFunction", "target", _FUNCTION, "qscanner", "function (QScanner)", QSCANNER_DOCS),
    Permission("lambda:ListTags", "target", _FUNCTION, "scanner", "function", BOTO3_DOCS, ("lambda.list_tags",)),
    # Exposure (exposure.py): the function's URL configuration and resource-based policy; a denied read
    # leaves the exposure unknown, never a failed scan.
    Permission(
        "lambda:GetFunctionUrlConfig",
        "target",
        _FUNCTION,
        "scanner",
        "function",
        BOTO3_DOCS,
        ("lambda.get_function_url_config",),
    ),
    Permission("lambda:GetPolicy", "target", _FUNCTION, "scanner", "function", BOTO3_DOCS, ("lambda.get_policy",)),
    # Aliases (targets.py): the published versions an alias points to are scan targets.
    Permission("lambda:ListAliases", "target", _FUNCTION, "scanner", "function", BOTO3_DOCS, ("lambda.list_aliases",)),
    Permission("lambda:GetAlias", "target", _FUNCTION, "scanner", "function", BOTO3_DOCS, ("lambda.get_alias",)),
    Permission(
        "lambda:TagResource",
        "target",
        _FUNCTION,
        "scanner",
        "function, scanner tag keys",
        BOTO3_DOCS,
        ("lambda.tag_resource",),
        feature="tags",
        context={"aws:TagKeys": tuple(sorted(SCANNER_TAG_KEYS))},
    ),
    # Inventory: ListFunctions and tag:GetResources have no resource-level permission (Service
    # Authorization Reference), so "*" is their only resource.
    Permission("lambda:ListFunctions", "target", "*", "scanner", "any", BOTO3_DOCS, ("lambda.list_functions",)),
    Permission(
        "tag:GetResources", "target", "*", "scanner", "any", BOTO3_DOCS, ("resourcegroupstaggingapi.get_resources",)
    ),
    Permission("lambda:GetLayerVersion", "target", _OWN_FUNCTION_LAYER, "qscanner", "own-account layer", QSCANNER_DOCS),
    Permission("lambda:GetLayerVersion", "target", _OTHER_LAYER, "qscanner", "other-account layer", LAYER_DOCS),
    # ecr:GetAuthorizationToken has no resource-level permission: "*" is its only resource.
    Permission("ecr:GetAuthorizationToken", "target", "*", "qscanner", "any", ECR_PULL_DOCS),
    *(Permission(a, "target", _OWN_REPOSITORY, "qscanner", "own-account repository", ECR_PULL_DOCS) for a in _ECR_PULL),
    *(
        Permission(
            a,
            "target",
            _OTHER_REPOSITORY,
            "qscanner",
            "other-account repository",
            ECR_PULL_DOCS,
            context=_IN_ORGANIZATION,
        )
        for a in _ECR_PULL
    ),
    # The image's size before QScanner runs (sizing.py), in the function's account or a central registry.
    Permission(
        "ecr:DescribeImages",
        "target",
        _OWN_REPOSITORY,
        "scanner",
        "own-account repository",
        BOTO3_DOCS,
        ("ecr.describe_images",),
    ),
    Permission(
        "ecr:DescribeImages",
        "target",
        _OTHER_REPOSITORY,
        "scanner",
        "other-account repository",
        BOTO3_DOCS,
        ("ecr.describe_images",),
        context=_IN_ORGANIZATION,
    ),
    # Code under a customer managed key (SourceKMSKeyArn): GetFunction's code URL serves the package
    # only to principals that may decrypt with the key, and Lambda makes that call on their behalf.
    Permission(
        "kms:Decrypt",
        "target",
        _FUNCTION_KEY,
        "qscanner",
        "function code under a customer managed key",
        LAMBDA_CMK_DOCS,
        context={"kms:ViaService": "lambda.{region}.amazonaws.com"},
    ),
    Permission(
        "securityhub:BatchImportFindings",
        "target",
        _PRODUCT,
        "scanner",
        "scanner region",
        BOTO3_DOCS,
        ("securityhub.batch_import_findings",),
        feature="securityhub",
    ),
    Permission(
        "securityhub:BatchImportFindings",
        "target",
        _PRODUCT_OTHER_REGION,
        "scanner",
        "another inventoried region",
        BOTO3_DOCS,
        ("securityhub.batch_import_findings",),
        feature="inventory-regions",
    ),
    Permission(
        "securityhub:GetFindings",
        "target",
        _HUB,
        "scanner",
        "scanner region",
        BOTO3_DOCS,
        ("securityhub.get_findings",),
        feature="securityhub",
    ),
    Permission(
        "securityhub:GetFindings",
        "target",
        _HUB_OTHER_REGION,
        "scanner",
        "another inventoried region",
        BOTO3_DOCS,
        ("securityhub.get_findings",),
        feature="inventory-regions",
    ),
    # Suppressions as code: an existing finding's Workflow and Note (BatchImportFindings cannot change them).
    Permission(
        "securityhub:BatchUpdateFindings",
        "target",
        _HUB,
        "scanner",
        "scanner region",
        BOTO3_DOCS,
        ("securityhub.batch_update_findings",),
        feature="securityhub",
    ),
    Permission(
        "securityhub:BatchUpdateFindings",
        "target",
        _HUB_OTHER_REGION,
        "scanner",
        "another inventoried region",
        BOTO3_DOCS,
        ("securityhub.batch_update_findings",),
        feature="inventory-regions",
    ),
    # ---------------------------------------------------------------- home: the scanner's own resources
    Permission(
        "secretsmanager:GetSecretValue",
        "home",
        "arn:{partition}:secretsmanager:{region}:{home}:secret:{secret}",
        "scanner",
        "Qualys secret",
        BOTO3_DOCS,
        ("secretsmanager.get_secret_value",),
    ),
    Permission(
        "kms:Decrypt",
        "home",
        _CREDENTIALS_KEY,
        "scanner",
        "Qualys secret under a customer managed key",
        SECRETS_CMK_DOCS,
        feature="secret-key",
        context={"kms:ViaService": "secretsmanager.{region}.amazonaws.com"},
    ),
    Permission(
        "s3:PutObject",
        "home",
        "arn:{partition}:s3:::{results_bucket}/scans/{home}/{region}/fn/2026/summary.json",
        "scanner",
        "results object",
        BOTO3_DOCS,
        ("s3.put_object",),
        feature="results",
    ),
    # SCAN_IDENTICAL_CODE_ONCE: a code identity's stored QScanner files, read back to reuse them (reuse.py).
    Permission(
        "s3:GetObject",
        "home",
        "arn:{partition}:s3:::{results_bucket}/scans/{home}/{region}/fn/2026/report.sarif.json",
        "scanner",
        "stored results object",
        BOTO3_DOCS,
        ("s3.get_object",),
        feature="reuse",
    ),
    # SUPPRESSIONS_URI: exactly the one object it names (`make suppressions` puts it in the results bucket).
    Permission(
        "s3:GetObject",
        "home",
        "arn:{partition}:s3:::{results_bucket}/suppressions/suppressions.json",
        "scanner",
        "suppressions document",
        BOTO3_DOCS,
        ("s3.get_object",),
        feature="suppressions",
    ),
    Permission(
        "sns:Publish",
        "home",
        "arn:{partition}:sns:{region}:{home}:{topic}",
        "scanner",
        "notification topic",
        BOTO3_DOCS,
        ("sns.publish",),
        feature="sns",
    ),
    # The topic is encrypted with a customer managed key: publishing needs the data key.
    *(
        Permission(
            a,
            "home",
            "arn:{partition}:kms:{region}:{home}:key/{notification_key}",
            "scanner",
            "notification key",
            "Amazon SNS Developer Guide, 'Encryption at rest' (publisher needs kms:GenerateDataKey, kms:Decrypt)",
            feature="sns",
        )
        for a in ("kms:GenerateDataKey", "kms:Decrypt")
    ),
    *(
        Permission(
            f"dynamodb:{op}",
            "home",
            "arn:{partition}:dynamodb:{region}:{home}:table/{cache_table}",
            "scanner",
            "cache table",
            BOTO3_DOCS,
            (f"dynamodb.{method}",),
            feature="cache",
        )
        for op, method in (
            ("GetItem", "get_item"),
            ("BatchGetItem", "batch_get_item"),
            ("PutItem", "put_item"),
            ("UpdateItem", "update_item"),
            ("DeleteItem", "delete_item"),
        )
    ),
    Permission(
        "events:PutEvents",
        "home",
        "arn:{partition}:events:{region}:{home}:event-bus/default",
        "scanner",
        "default bus",
        BOTO3_DOCS,
        ("events.put_events",),
        feature="events",
    ),
    # SendMessageBatch is authorised as sqs:SendMessage (Amazon SQS API Reference, SendMessageBatch).
    Permission(
        "sqs:SendMessage",
        "home",
        "arn:{partition}:sqs:{region}:{home}:{scan_queue}",
        "scanner",
        "scan queue",
        BOTO3_DOCS,
        ("sqs.send_message_batch",),
    ),
    # Inventory units and their continuations go to the inventory queue (scans to the scan queue).
    Permission(
        "sqs:SendMessage",
        "home",
        "arn:{partition}:sqs:{region}:{home}:{inventory_queue}",
        "scanner",
        "inventory queue",
        BOTO3_DOCS,
        ("sqs.send_message_batch",),
    ),
    # INVENTORY_ACCOUNTS=organization: ListAccounts has no resource-level permission (Service
    # Authorization Reference, AWS Organizations), so "*" is its only resource.
    Permission(
        "organizations:ListAccounts",
        "home",
        "*",
        "scanner",
        "organization inventory",
        BOTO3_DOCS,
        ("organizations.list_accounts",),
        feature="organization",
    ),
    Permission(
        "sts:AssumeRole",
        "home",
        "arn:{partition}:iam::{spoke}:role/{spoke_role}",
        "scanner",
        "spoke role",
        BOTO3_DOCS,
        ("sts.assume_role",),
        feature="hub",
        context={"aws:ResourceOrgID": "{organization}", "aws:ResourceAccount": "{spoke}"},
    ),
    # ---------------------------------------------------------------- home: Lambda, with the execution role
    *(
        Permission(
            a, "home", "arn:{partition}:sqs:{region}:{home}:{scan_queue}", "lambda", "scan queue", EXECUTION_ROLE_DOCS
        )
        for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    ),
    *(
        Permission(
            a,
            "home",
            "arn:{partition}:sqs:{region}:{home}:{inventory_queue}",
            "lambda",
            "inventory queue",
            EXECUTION_ROLE_DOCS,
        )
        for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    ),
    Permission(
        "sqs:SendMessage",
        "home",
        "arn:{partition}:sqs:{region}:{home}:{dead_letter_queue}",
        "lambda",
        "dead-letter queue",
        EXECUTION_ROLE_DOCS,
    ),
    *(
        Permission(
            a,
            "home",
            "arn:{partition}:logs:{region}:{home}:log-group:{log_group}:log-stream:2026/11/30/[$LATEST]abc",
            "lambda",
            "own log group",
            EXECUTION_ROLE_DOCS,
        )
        for a in ("logs:CreateLogStream", "logs:PutLogEvents")
    ),
    # Active tracing (EnableTracing): Lambda sends the segments with the execution role. Neither action
    # has resource-level permission, so "*" is their only resource.
    *(Permission(a, "home", "*", "lambda", "any", XRAY_DOCS, feature="tracing") for a in _XRAY),
    # ---------------------------------------------------------------- operator (cli.py, not a role)
    Permission(
        "lambda:GetFunctionConfiguration",
        "home",
        "arn:{partition}:lambda:{region}:{home}:function:{scanner_function}",
        "operator",
        "scanner function",
        BOTO3_DOCS,
        ("lambda.get_function_configuration",),
    ),
)

# The caller whose grants live on the scanner's roles (the operator's come from docs/iam).
ROLE_CALLERS: frozenset[Caller] = frozenset({"scanner", "qscanner", "lambda"})


def covered_calls() -> frozenset[str]:
    """Every boto3 call (service.method) some row of the table authorises."""
    return frozenset(call for permission in PERMISSIONS for call in permission.calls)
