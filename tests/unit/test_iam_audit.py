"""Static IAM audit with parliament (offline catalogue of AWS actions, resources and condition keys).

Every policy document of every template (intrinsics resolved to plausible values, every feature on),
of the Terraform module, the deployer policies in docs/iam and the permissions table itself: unknown
actions, resource formats that do not fit the action, condition keys the action does not have, and
anything else parliament reports fail, unless SUPPRESSIONS below gives the finding a written reason.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.iam import TEMPLATE_NAMES, VALUES, Policy, as_json, template_policies, terraform_policies
from tests.permissions import PERMISSIONS, Permission

with warnings.catch_warnings():
    # parliament 1.6.4 imports pkg_resources and leaves its data files open at import.
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string

DEPLOYER_POLICIES = sorted((Path(__file__).parents[2] / "docs" / "iam").glob("deployer-*.json"))

# The one place a finding may be accepted: (issue, policy kind, text in the finding's detail) -> why.
# parliament lints identity policies; trust and resource policies need the first two.
SUPPRESSIONS = {
    ("MALFORMED", "trust", "neither Resource nor NotResource"): (
        "a role's trust policy has no Resource element (IAM User Guide, 'Role trust policy')"
    ),
    ("RESOURCE_STAR", "resource", "kms:"): (
        'in a key policy Resource "*" means the key itself (AWS KMS Developer Guide, "Key policies")'
    ),
    ("RESOURCE_POLICY_PRIVILEGE_ESCALATION", "deployer", "s3:PutBucketPolicy"): (
        "CloudFormation writes the stack's bucket policies with the deployer's credentials: whoever "
        "deploys the stack administers its buckets by design"
    ),
    ("RESOURCE_POLICY_PRIVILEGE_ESCALATION", "deployer", "s3:PutLifecycleConfiguration"): (
        "the results and trail buckets' retention is a lifecycle rule the stack sets"
    ),
}


def _scalar_conditions(document: dict[str, Any]) -> dict[str, Any]:
    # A one-element list and its value are the same condition to IAM; parliament 1.6.4 reads Bool
    # values only as scalars (Terraform writes every value as a list).
    statements = []
    for statement in document["Statement"]:
        if "Condition" in statement:
            statement = {
                **statement,
                "Condition": {
                    operator: {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in block.items()}
                    for operator, block in statement["Condition"].items()
                },
            }
        statements.append(statement)
    return {**document, "Statement": statements}


def findings(policy: Policy) -> list[str]:
    """parliament's findings on `policy` that no suppression covers, as readable lines."""
    result = analyze_policy_string(as_json(_scalar_conditions(policy.document)), ignore_private_auditors=True)
    lines = []
    for finding in result.findings:
        detail = str(finding.detail)
        if any(issue == finding.issue and kind == policy.kind and text in detail for issue, kind, text in SUPPRESSIONS):
            continue
        lines.append(f"{policy.source}: {finding.issue} {detail}")
    return lines


ALL_POLICIES = (
    [p for name in TEMPLATE_NAMES for p in template_policies(name)]
    + terraform_policies()
    + [Policy(f"docs/iam/{path.name}", "deployer", json.loads(path.read_text())) for path in DEPLOYER_POLICIES]
)


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda policy: policy.source)
def test_policy_has_no_unsuppressed_audit_finding(policy: Policy) -> None:
    assert findings(policy) == []


def test_every_deployment_model_has_a_deployer_policy() -> None:
    assert [p.name for p in DEPLOYER_POLICIES] == [
        "deployer-artifacts.json",
        "deployer-spoke.json",
        "deployer-stack.json",
        "deployer-stackset.json",
    ]


def test_audit_reports_unknown_action_wrong_resource_and_unknown_condition_key() -> None:
    # The audit is only worth something if parliament still knows the catalogue.
    broken = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:GetFunctionCode", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:sqs:us-east-1:111111111111:q"},
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:111111111111:q",
                "Condition": {"StringEquals": {"sqs:QueueOwner": "x"}},
            },
        ],
    }
    issues = {line.split()[1] for line in findings(Policy("broken", "identity", broken))}
    assert issues == {"UNKNOWN_ACTION", "RESOURCE_MISMATCH", "UNKNOWN_CONDITION_FOR_ACTION"}


def _row_policy(permission: Permission) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": permission.action,
        "Resource": permission.example({**VALUES, "target": VALUES["home"]}),
    }
    for key, value in permission.context.items():
        operator = "ForAllValues:StringEquals" if isinstance(value, tuple) else "StringEquals"
        statement.setdefault("Condition", {}).setdefault(operator, {})[key] = (
            list(value) if isinstance(value, tuple) else value.format(**VALUES)
        )
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.parametrize("permission", PERMISSIONS, ids=lambda p: f"{p.action}-{p.case}".replace(" ", "_"))
def test_permissions_table_row_is_a_valid_grant(permission: Permission) -> None:
    # Each row as a one-statement policy: a real action, its resource format, its condition keys.
    assert findings(Policy("table", "identity", _row_policy(permission))) == []


def test_readme_deployer_section_names_every_deployer_policy() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    section = guide.split("## Deployer permissions", 1)[1].split("\n## ", 1)[0]
    assert [p.name for p in DEPLOYER_POLICIES if p.name not in section] == []
