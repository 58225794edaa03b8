"""IAM policies of the templates and the Terraform module, resolved to plain strings, and a small evaluator.

The resolver turns CloudFormation intrinsics (and Terraform references) into plausible values: every
feature on, fixed example accounts, regions and resource names, so a statement can be matched against
the example ARNs of tests.permissions and handed to a policy linter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from qualys_lambda.publish import SCANNER_TAG_KEYS
from tests.support import hcl_clean, load_template

PARTITION = "aws"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
HOME = "111111111111"
SPOKE = "222222222222"
OTHER = "333333333333"
ORGANIZATION = "o-a1b2c3d4e5"
STACK = "qscanner"
SECRET_KEY_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SECRET_ARN = f"arn:{PARTITION}:secretsmanager:{REGION}:{HOME}:secret:qscanner/qualys-AbCdEf"
SECRET_KEY_ARN = f"arn:{PARTITION}:kms:{REGION}:{HOME}:key/{SECRET_KEY_ID}"
STACK_KEY_ARN = f"arn:{PARTITION}:kms:{REGION}:{HOME}:key/9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0"
SPOKE_ROLE = "QualysScannerSpokeRole"
HUB_ROLE_ARN = f"arn:{PARTITION}:iam::{HOME}:role/qscanner-hub-ScannerRole-ABC"
LOG_GROUP = f"/aws/lambda/{STACK}-scanner"

# Names the deployment's own resources get, by CloudFormation logical id and by Terraform address; the
# table's placeholders ({scan_queue}, ...) take the same names, so a grant on the resource matches.
RESOURCE_NAMES = {
    "ScanQueue": "scan-queue",
    "InventoryQueue": "inventory-queue",
    "DeadLetterQueue": "dead-letter-queue",
    "ResultsBucket": "results-bucket",
    "ScanCacheTable": "cache-table",
    "NotificationTopic": "topic",
    "NotificationKey": "notification-key",
    "ScannerLogGroup": LOG_GROUP,
}

# Every example value the table's resource patterns and contexts use.
VALUES = {
    "partition": PARTITION,
    "region": REGION,
    "other_region": OTHER_REGION,
    "home": HOME,
    "spoke": SPOKE,
    "other": OTHER,
    "organization": ORGANIZATION,
    "function": "orders-api",
    "layer": "shared-deps",
    "repository": "platform/orders-api",
    "function_key": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "secret_key": SECRET_KEY_ID,
    "secret": "qscanner/qualys-AbCdEf",
    "spoke_role": SPOKE_ROLE,
    "scanner_function": f"{STACK}-scanner",
    "scan_queue": RESOURCE_NAMES["ScanQueue"],
    "inventory_queue": RESOURCE_NAMES["InventoryQueue"],
    "dead_letter_queue": RESOURCE_NAMES["DeadLetterQueue"],
    "results_bucket": RESOURCE_NAMES["ResultsBucket"],
    "cache_table": RESOURCE_NAMES["ScanCacheTable"],
    "topic": RESOURCE_NAMES["NotificationTopic"],
    "notification_key": RESOURCE_NAMES["NotificationKey"],
    "log_group": LOG_GROUP,
}

# Parameter values that turn every feature on and name the example resources (used where a template
# has the parameter; the rest keep their defaults).
PARAMETERS = {
    "QualysSecretArn": SECRET_ARN,
    "QualysSecretKmsKeyArn": SECRET_KEY_ARN,
    "KmsKeyArn": STACK_KEY_ARN,
    "EnableTagging": "true",
    "QScannerLayerArn": f"arn:{PARTITION}:lambda:{REGION}:{HOME}:layer:qscanner:1",
    "CodeS3Bucket": "code-bucket",
    # stackset.yaml names the administrator's shared artefacts by region instead.
    "ArtifactsAccountId": HOME,
    "ArtifactsName": "qscanner",
    "QScannerLayerVersion": "1",
    "QualysSecretName": "qscanner/qualys",
    "CodeS3Key": "scanner-lambda-0123abcd.zip",
    "EnableS3Results": "true",
    "EnableSNSNotifications": "true",
    "EnableScanCache": "true",
    "EnableSecurityHub": "true",
    "EnableScanEvents": "true",
    "CreateCloudTrail": "true",
    "NotificationEmail": "security@example.com",
    "OrganizationId": ORGANIZATION,
    "AllowedAccountIds": SPOKE,
    "InventoryRegions": f"{REGION},{OTHER_REGION}",
    "InventoryAccounts": "organization",
    "ExternalId": "example-external-id-0123456789",
    "HubScannerRoleArn": HUB_ROLE_ARN,
    "HubEventBusArn": f"arn:{PARTITION}:events:{REGION}:{HOME}:event-bus/qscanner-hub",
    "SpokeRoleRegion": REGION,
    "SuppressionsUri": f"s3://{RESOURCE_NAMES['ResultsBucket']}/suppressions/suppressions.json",
    "ScanIdenticalCodeOnce": "true",
}

_NO_VALUE = object()

# (Ref value, Arn attribute) of a resource by type; {name} is the resource's example name.
_REF_AND_ARN = {
    "AWS::SQS::Queue": (
        "https://sqs.{region}.amazonaws.com/{account}/{name}",
        "arn:{partition}:sqs:{region}:{account}:{name}",
    ),
    "AWS::S3::Bucket": ("{name}", "arn:{partition}:s3:::{name}"),
    "AWS::SNS::Topic": (
        "arn:{partition}:sns:{region}:{account}:{name}",
        "arn:{partition}:sns:{region}:{account}:{name}",
    ),
    "AWS::KMS::Key": ("{name}", "arn:{partition}:kms:{region}:{account}:key/{name}"),
    "AWS::DynamoDB::Table": ("{name}", "arn:{partition}:dynamodb:{region}:{account}:table/{name}"),
    # CloudFormation's LogGroup Arn ends in ":*".
    "AWS::Logs::LogGroup": ("{name}", "arn:{partition}:logs:{region}:{account}:log-group:{name}:*"),
    "AWS::IAM::Role": ("{name}", "arn:{partition}:iam::{account}:role/{name}"),
    "AWS::Lambda::Function": ("{name}", "arn:{partition}:lambda:{region}:{account}:function:{name}"),
    "AWS::Events::EventBus": ("{name}", "arn:{partition}:events:{region}:{account}:event-bus/{name}"),
    "AWS::Events::Rule": ("{name}", "arn:{partition}:events:{region}:{account}:rule/{name}"),
    "AWS::CloudTrail::Trail": ("{name}", "arn:{partition}:cloudtrail:{region}:{account}:trail/{name}"),
}


class CloudFormationResolver:
    """Evaluates a template's intrinsics for one account with PARAMETERS and every condition evaluated."""

    def __init__(self, template: Mapping[str, Any], account: str, overrides: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.account = account
        self.parameters: dict[str, Any] = {}
        chosen = {**PARAMETERS, **(overrides or {})}
        for name, spec in template.get("Parameters", {}).items():
            value = chosen.get(name, spec.get("Default", ""))
            self.parameters[name] = value.split(",") if spec.get("Type") == "CommaDelimitedList" else value
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": account,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
        }
        # Conditions may name other conditions: evaluated on first use.
        self.conditions: dict[str, bool] = {}
        self.conditions = {name: self.condition(name) for name in template.get("Conditions", {})}

    def condition(self, name: str) -> bool:
        """A condition's value."""
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def _fill(self, pattern: str, name: str) -> str:
        return pattern.format(partition=PARTITION, region=REGION, account=self.account, name=name)

    def _name(self, logical_id: str) -> str:
        return RESOURCE_NAMES.get(logical_id, logical_id)

    def ref(self, name: str) -> Any:
        """A Ref's value: parameter, pseudo parameter or resource."""
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource_type = self.template["Resources"][name]["Type"]
        return self._fill(_REF_AND_ARN.get(resource_type, ("{name}", ""))[0], self._name(name))

    def get_att(self, logical_id: str, attribute: str) -> str:
        """A GetAtt's value (Arn and the few names the templates read)."""
        resource_type = self.template["Resources"][logical_id]["Type"]
        name = self._name(logical_id)
        if attribute == "Arn":
            return self._fill(_REF_AND_ARN[resource_type][1], name)
        if attribute in ("QueueName", "Name"):
            return name
        return f"{logical_id}.{attribute}"

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key and key.split(".", 1)[0] in self.template["Resources"]:
                return self.get_att(*key.split(".", 1))
            value = self.ref(key)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^!}]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        """`node` with every intrinsic evaluated; AWS::NoValue entries dropped."""
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))
                return self.sub(text, variables)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.value(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = self.value(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg)[0]
            if key == "Fn::And":
                return all(self.value(arg))
            if key == "Fn::Or":
                return any(self.value(arg))
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.value(items))
            if key == "Fn::Split":
                separator, text = arg
                return str(self.value(text)).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
        items = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in items.items() if v is not _NO_VALUE}


@dataclass(frozen=True)
class Policy:
    """One resolved IAM policy document and where it comes from."""

    source: str
    kind: str  # "identity" (a role's permissions), "trust" or "resource"
    document: dict[str, Any]


TEMPLATES_DIR = Path(__file__).parent.parent / "cloudformation"
TERRAFORM_MODULE = Path(__file__).parent.parent / "terraform" / "modules" / "scanner-native"
TEMPLATE_NAMES = tuple(sorted(p.name for p in TEMPLATES_DIR.glob("*.yaml")))
# Resource policies, by resource type: the property holding the document.
_RESOURCE_POLICIES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::Events::EventBusPolicy": "Statement",
}


def template_account(name: str) -> str:
    """The account a template is deployed in: a spoke's own account, the scanner's otherwise."""
    return SPOKE if "spoke" in name else HOME


@cache
def resolved_template(name: str, overrides: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """A template with every intrinsic evaluated (every feature on unless `overrides` says otherwise);
    resources whose condition is off dropped."""
    template = load_template(name)
    resolver = CloudFormationResolver(template, template_account(name), dict(overrides))
    resources = {
        logical_id: resolver.value(resource)
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    return {**template, "Resources": resources}


def role_policies(name: str, role: str, overrides: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    """The permission policy documents of one role of a template (inline and attached AWS::IAM::Policy)."""
    resources = resolved_template(name, overrides)["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    for resource in resources.values():
        attached = resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        if attached and role in resource["Properties"].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    return documents


def template_policies(name: str) -> list[Policy]:
    """Every IAM policy document of a template: roles' permissions and trust, resource policies."""
    policies: list[Policy] = []
    for logical_id, resource in resolved_template(name)["Resources"].items():
        properties = resource.get("Properties", {})
        source = f"{name}:{logical_id}"
        if resource["Type"] == "AWS::IAM::Role":
            policies.append(Policy(source, "trust", properties["AssumeRolePolicyDocument"]))
            policies += [
                Policy(f"{source}:{p['PolicyName']}", "identity", p["PolicyDocument"])
                for p in properties.get("Policies", [])
            ]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            policies.append(Policy(source, "identity", properties["PolicyDocument"]))
        elif resource["Type"] in _RESOURCE_POLICIES:
            document = properties[_RESOURCE_POLICIES[resource["Type"]]]
            if resource["Type"] == "AWS::Events::EventBusPolicy":
                document = {"Version": "2012-10-17", "Statement": [document]}
            policies.append(Policy(source, "resource", document))
        elif resource["Type"] == "AWS::Events::EventBus" and "Policy" in properties:
            policies.append(Policy(source, "resource", properties["Policy"]))
    return policies


# Terraform references the module's IAM documents use, with the same example values.
TERRAFORM_REFERENCES: dict[str, str | list[str]] = {
    "local.partition": PARTITION,
    "local.region": REGION,
    "local.account_id": HOME,
    "local.qualys_secret_arn": SECRET_ARN,
    # generated.tf's list, rendered from the code's (test_template_sources holds it up to date).
    "local.scanner_tag_keys": list(SCANNER_TAG_KEYS),
    "var.qualys_secret_kms_key_arn": SECRET_KEY_ARN,
    "var.kms_key_arn": STACK_KEY_ARN,
    "var.organization_id": ORGANIZATION,
    "local.suppressions_object": f"{RESOURCE_NAMES['ResultsBucket']}/suppressions/suppressions.json",
    "aws_s3_bucket.results[0].arn": f"arn:{PARTITION}:s3:::{RESOURCE_NAMES['ResultsBucket']}",
    "aws_sns_topic.notifications[0].arn": f"arn:{PARTITION}:sns:{REGION}:{HOME}:{RESOURCE_NAMES['NotificationTopic']}",
    "aws_kms_key.notifications[0].arn": f"arn:{PARTITION}:kms:{REGION}:{HOME}:key/{RESOURCE_NAMES['NotificationKey']}",
    "aws_dynamodb_table.scan_cache[0].arn": f"arn:{PARTITION}:dynamodb:{REGION}:{HOME}:table/cache-table",
    "aws_sqs_queue.scan.arn": f"arn:{PARTITION}:sqs:{REGION}:{HOME}:{RESOURCE_NAMES['ScanQueue']}",
    "aws_sqs_queue.inventory.arn": f"arn:{PARTITION}:sqs:{REGION}:{HOME}:{RESOURCE_NAMES['InventoryQueue']}",
    "aws_sqs_queue.dead_letter.arn": f"arn:{PARTITION}:sqs:{REGION}:{HOME}:{RESOURCE_NAMES['DeadLetterQueue']}",
    "aws_cloudwatch_log_group.scanner.arn": f"arn:{PARTITION}:logs:{REGION}:{HOME}:log-group:{LOG_GROUP}",
    "aws_s3_bucket.trail[0].arn": f"arn:{PARTITION}:s3:::trail-bucket",
    "module.results_bucket[0].arn": f"arn:{PARTITION}:s3:::{RESOURCE_NAMES['ResultsBucket']}",
    "module.trail_bucket[0].arn": f"arn:{PARTITION}:s3:::trail-bucket",
    "aws_cloudtrail.lambda[0].arn": f"arn:{PARTITION}:cloudtrail:{REGION}:{HOME}:trail/qscanner",
    "aws_lambda_function.scanner.arn": f"arn:{PARTITION}:lambda:{REGION}:{HOME}:function:{STACK}-scanner",
    "local.trail_arn": f"arn:{PARTITION}:cloudtrail:{REGION}:{HOME}:trail/qscanner-lambda",
    "concat([for rule in aws_cloudwatch_event_rule.scan : rule.arn], [aws_cloudwatch_event_rule.manual_scan.arn])": [
        f"arn:{PARTITION}:events:{REGION}:{HOME}:rule/qscanner-create-function",
        f"arn:{PARTITION}:events:{REGION}:{HOME}:rule/qscanner-manual-scan",
    ],
    "concat([for rule in aws_cloudwatch_event_rule.scan : rule.arn], [aws_cloudwatch_event_rule.manual_scan.arn],"
    " aws_cloudwatch_event_rule.inventory[*].arn)": [
        f"arn:{PARTITION}:events:{REGION}:{HOME}:rule/qscanner-create-function",
        f"arn:{PARTITION}:events:{REGION}:{HOME}:rule/qscanner-inventory",
    ],
    "aws_sqs_queue.scan.url": f"https://sqs.{REGION}.amazonaws.com/{HOME}/{RESOURCE_NAMES['ScanQueue']}",
}


def _terraform_values(value: str | list[str]) -> list[str]:
    """A list attribute's values: literal strings with ${...} filled in, or one list-valued expression."""
    if isinstance(value, str):
        resolved = TERRAFORM_REFERENCES[value[2:-1]]
        return resolved if isinstance(resolved, list) else [resolved]
    return [_terraform_text(item) for item in value]


def _terraform_text(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference not in TERRAFORM_REFERENCES:
            raise KeyError(f"tests/iam.py TERRAFORM_REFERENCES has no example value for {reference}")
        return str(TERRAFORM_REFERENCES[reference])

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def _terraform_statement(block: Mapping[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": block.get("effect", "Allow")}
    if "sid" in block:
        statement["Sid"] = block["sid"]
    for key, target in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource")):
        if key in block:
            statement[target] = _terraform_values(block[key])
    for principals in block.get("principals", []):
        # The provider writes type "*" as the principal "*", the same as {"AWS": "*"}.
        kind = "AWS" if principals["type"] == "*" else principals["type"]
        statement.setdefault("Principal", {})[kind] = _terraform_values(principals["identifiers"])
    for condition in block.get("condition", []):
        values = _terraform_values(condition["values"])
        statement.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = values
    return statement


def _terraform_document(body: Mapping[str, Any]) -> dict[str, Any]:
    statements = [_terraform_statement(s) for s in body.get("statement", [])]
    for dynamic in body.get("dynamic", []):
        for label, block in dynamic.items():
            if label == "statement":
                # Every feature on: a dynamic statement is present.
                statements += [_terraform_statement(c) for c in block["content"]]
    return {"Version": "2012-10-17", "Statement": statements}


@cache
def terraform_documents() -> dict[str, dict[str, Any]]:
    """Every aws_iam_policy_document data source of the module, resolved, by name."""
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM_MODULE.glob("*.tf")):
        parsed = hcl_clean(hcl2.loads(path.read_text()))
        for block in parsed.get("data", []):
            for body in block.get("aws_iam_policy_document", {}).items():
                documents[body[0]] = _terraform_document(body[1])
    return documents


def terraform_policies() -> list[Policy]:
    """The module's policy documents: "_assume" ones are trust policies, those naming principals resource policies."""
    policies = []
    for name, document in terraform_documents().items():
        with_principal = any("Principal" in statement for statement in document["Statement"])
        kind = "trust" if name.endswith("_assume") else "resource" if with_principal else "identity"
        policies.append(Policy(f"terraform:{name}", kind, document))
    return policies


# ---------------------------------------------------------------- evaluation


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    # IAM wildcards: * any run of characters (":" and "/" included), ? one character.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists
    qualifier, _, base = operator.rpartition(":")
    actual = [str(v) for v in _listed(context[key])]
    wanted = [str(v) for v in _listed(expected)]
    negated = base.startswith(("StringNot", "ArnNot"))
    base = base.replace("Not", "", 1) if negated else base
    if base not in ("StringEquals", "ArnEquals", "Bool", "StringLike", "ArnLike", "StringEqualsIgnoreCase"):
        return False  # an operator this evaluator does not know never grants

    def one(value: str) -> bool:
        if base in ("StringLike", "ArnLike"):
            return any(_like(w, value) for w in wanted)
        if base == "StringEqualsIgnoreCase":
            return value.lower() in {w.lower() for w in wanted}
        return value in wanted

    if qualifier == "ForAllValues":
        result = all(one(v) for v in actual)
    elif qualifier == "ForAnyValue":
        result = any(one(v) for v in actual)
    else:
        result = len(actual) == 1 and one(actual[0])
    return not result if negated else result


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in statement:
        if not any(_like(a, action, case_sensitive=False) for a in _listed(statement["Action"])):
            return False
    elif any(_like(a, action, case_sensitive=False) for a in _listed(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_like(r, resource) for r in _listed(statement["Resource"])):
            return False
    elif any(_like(r, resource) for r in _listed(statement.get("NotResource", []))):
        return False
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def granted(documents: list[dict[str, Any]], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """Whether the identity policies allow `action` on `resource` with `context` (an explicit deny wins)."""
    allowed = False
    for document in documents:
        for statement in _listed(document.get("Statement", [])):
            if _statement_applies(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    return False
                allowed = True
    return allowed


def as_json(document: Mapping[str, Any]) -> str:
    """A resolved document as the JSON a linter reads."""
    return json.dumps(document, sort_keys=True)
