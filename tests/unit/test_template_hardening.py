"""What a security team expects of each scanner template beyond its grants (issue 11), as checks.

Each check below fails on today's templates and is marked strict xfail: the template phase adds the
parameter, alarm or switch, the check passes (XPASS, which strict turns into a failure), and the mark
is removed. The names they use (EnableTagging, EnableTracing, KmsKeyArn, EnableSecurityHub on the
spoke, the alarms' metrics) are the template phase's contract with the code (TAG_FUNCTIONS) and the
inventory's metric (InventoryTargetsUnreachable).
"""

from __future__ import annotations

from typing import Any

import hcl2
import pytest

from qualys_lambda.metrics import NAMESPACE
from tests.iam import TERRAFORM_MODULE, granted, resolved_template, role_policies
from tests.support import hcl_clean

PENDING = pytest.mark.xfail(strict=True, reason="issue 11: template fix pending")
SCANNER_TEMPLATES = ("single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml")
SPOKE = "centralized-spoke.yaml"


def _resources(name: str, **overrides: str) -> dict[str, Any]:
    return resolved_template(name, tuple(sorted(overrides.items())))["Resources"]


def _function(name: str, **overrides: str) -> dict[str, Any]:
    (function,) = [r for r in _resources(name, **overrides).values() if r["Type"] == "AWS::Lambda::Function"]
    return function["Properties"]


def _terraform_variables() -> dict[str, Any]:
    parsed = hcl_clean(hcl2.loads((TERRAFORM_MODULE / "variables.tf").read_text()))
    return {name: body for block in parsed["variable"] for name, body in block.items()}


@PENDING
@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_tagging_switch_sets_tag_functions(name: str) -> None:
    assert _function(name)["Environment"]["Variables"]["TAG_FUNCTIONS"] == "true"
    assert _function(name, EnableTagging="false")["Environment"]["Variables"]["TAG_FUNCTIONS"] == "false"


@PENDING
@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_tracing_off_by_default_and_active_when_enabled(name: str) -> None:
    assert _function(name).get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
    assert _function(name, EnableTracing="true")["TracingConfig"] == {"Mode": "Active"}


@PENDING
@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
@pytest.mark.parametrize(
    ("namespace", "metric"),
    [("AWS/Lambda", "Throttles"), ("AWS/Lambda", "Duration"), (NAMESPACE, "InventoryTargetsUnreachable")],
)
def test_template_alarms_on_throttles_duration_and_inventory_failures(name: str, namespace: str, metric: str) -> None:
    alarms = [r["Properties"] for r in _resources(name).values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(a.get("Namespace") == namespace and a.get("MetricName") == metric for a in alarms)


@PENDING
@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_customer_managed_key_parameter_optional(name: str) -> None:
    assert resolved_template(name)["Parameters"]["KmsKeyArn"]["Default"] == ""


@PENDING
@pytest.mark.parametrize("variable", ["tag_functions", "enable_tracing", "kms_key_arn", "qualys_secret_kms_key_arn"])
def test_terraform_module_has_hardening_variable(variable: str) -> None:
    assert variable in _terraform_variables()


@PENDING
def test_spoke_security_hub_import_only_when_enabled() -> None:
    function = "arn:aws:securityhub:us-east-1:222222222222:product/222222222222/default"
    off = role_policies(SPOKE, "SpokeRole", (("EnableSecurityHub", "false"),))
    on = role_policies(SPOKE, "SpokeRole", (("EnableSecurityHub", "true"),))
    assert not granted(off, "securityhub:BatchImportFindings", function, {})
    assert granted(on, "securityhub:BatchImportFindings", function, {})
