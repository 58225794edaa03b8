"""Each role of each template and of the Terraform module grants every action of the permissions table.

moto enforces no IAM, so this is where a missing grant shows before a real deployment's AccessDenied:
every row of tests.permissions.PERMISSIONS that a role's account needs is evaluated against the
role's resolved policy on the row's example resource (an other-account layer, a central registry's
repository, a customer managed key reached through Lambda or Secrets Manager, another inventoried region).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from qualys_lambda.publish import SCANNER_TAG_KEYS
from tests.iam import (
    HOME,
    SPOKE,
    TEMPLATE_NAMES,
    VALUES,
    granted,
    role_policies,
    template_policies,
    terraform_documents,
    terraform_policies,
)
from tests.permissions import PERMISSIONS, ROLE_CALLERS, Permission


@dataclass(frozen=True)
class Role:
    """A role the scanner's calls run under, with the accounts it acts for."""

    name: str  # test id
    accounts: frozenset[str]
    target_account: str
    template: str = ""
    logical_id: str = ""
    hub: bool = False
    # Acts in regions other than its stack's (the hub's InventoryRegions; the spoke role is global).
    multi_region: bool = False

    def documents(self) -> list[dict[str, Any]]:
        """The role's resolved permission policies."""
        if self.template:
            # Tracing is off by default (tests/iam.py PARAMETERS keep defaults); its rows need it on.
            return role_policies(self.template, self.logical_id, (("EnableTracing", "true"),))
        return [terraform_documents()["scanner"]]


BOTH = frozenset({"home", "target"})
ROLES = (
    Role("single-account", BOTH, HOME, "single-account-native.yaml", "ScannerRole"),
    Role("stackset", BOTH, HOME, "stackset.yaml", "ScannerRole"),
    # The hub scans its own account's functions with its own role, and spokes through SpokeRole.
    Role("hub", BOTH, HOME, "centralized-hub.yaml", "ScannerRole", hub=True, multi_region=True),
    Role("spoke", frozenset({"target"}), SPOKE, "centralized-spoke.yaml", "SpokeRole", multi_region=True),
    Role("terraform", BOTH, HOME),
)


def _applies(role: Role, permission: Permission) -> bool:
    if permission.caller not in ROLE_CALLERS or permission.account not in role.accounts:
        return False
    if permission.feature == "inventory-regions":
        return role.multi_region
    return permission.feature not in ("hub", "organization") or role.hub


def _values(role: Role) -> dict[str, str]:
    return {**VALUES, "target": role.target_account}


def _context(permission: Permission, values: dict[str, str]) -> dict[str, Any]:
    return {
        key: tuple(v.format(**values) for v in value) if isinstance(value, tuple) else value.format(**values)
        for key, value in permission.context.items()
    }


def _case_id(role: Role, permission: Permission) -> str:
    return f"{role.name}-{permission.action}-{permission.case}".replace(" ", "_")


CASES = [
    pytest.param(role, permission, id=_case_id(role, permission))
    for role in ROLES
    for permission in PERMISSIONS
    if _applies(role, permission)
]


@pytest.mark.parametrize(("role", "permission"), CASES)
def test_role_grants_table_action_on_example_resource(role: Role, permission: Permission) -> None:
    values = _values(role)
    resource = permission.example(values)
    context = _context(permission, values)
    assert granted(role.documents(), permission.action, resource, context), (
        f"{role.name} does not allow {permission.action} on {resource} with {context}"
    )


# Tag keys a scanner credential must not be able to write: the exclusion tag (which would let it
# exclude any function from scanning) and any key beside the scanner's own (a QualysScan* prefix
# condition would admit both; the roles list the exact keys with ForAllValues:StringEquals).
FORBIDDEN_TAG_KEYS = (
    pytest.param(("QualysScanExclude",), id="exclusion-tag"),
    pytest.param((*sorted(SCANNER_TAG_KEYS), "QualysScanOwner"), id="scanner-keys-plus-one"),
    pytest.param(("Owner",), id="unrelated-key"),
)


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
@pytest.mark.parametrize("keys", FORBIDDEN_TAG_KEYS)
def test_role_tag_write_denied_for_keys_scanner_does_not_write(role: Role, keys: tuple[str, ...]) -> None:
    values = _values(role)
    function = f"arn:aws:lambda:{values['region']}:{values['target']}:function:{values['function']}"
    assert not granted(role.documents(), "lambda:TagResource", function, {"aws:TagKeys": keys})


# ---------------------------------------------------------------- service principals: confused deputy

SCOPING_KEYS = frozenset({"aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID"})


def _service_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for policy in [p for name in TEMPLATE_NAMES for p in template_policies(name)] + terraform_policies():
        for index, statement in enumerate(policy.document["Statement"]):
            principal = statement.get("Principal", {})
            if isinstance(principal, dict) and "Service" in principal and statement["Effect"] == "Allow":
                found.append((f"{policy.source}:{statement.get('Sid', index)}", statement))
    return found


# Every statement admitting an AWS service says on whose behalf (AWS IAM User Guide, "The confused
# deputy problem").
@pytest.mark.parametrize(
    "statement", [pytest.param(statement, id=source) for source, statement in _service_statements()]
)
def test_service_principal_statement_scoped_to_source(statement: dict[str, Any]) -> None:
    keys = {key for block in statement.get("Condition", {}).values() for key in block}
    assert keys & SCOPING_KEYS
