"""What a security team expects of each scanner template beyond its grants (issue 11), as checks.

The names these checks use (EnableTagging, EnableTracing, KmsKeyArn, EnableSecurityHub on the
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


@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_tagging_switch_sets_tag_functions(name: str) -> None:
    assert _function(name)["Environment"]["Variables"]["TAG_FUNCTIONS"] == "true"
    assert _function(name, EnableTagging="false")["Environment"]["Variables"]["TAG_FUNCTIONS"] == "false"


@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_tracing_off_by_default_and_active_when_enabled(name: str) -> None:
    assert _function(name).get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
    assert _function(name, EnableTracing="true")["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
@pytest.mark.parametrize(
    ("namespace", "metric"),
    [("AWS/Lambda", "Throttles"), ("AWS/Lambda", "Duration"), (NAMESPACE, "InventoryTargetsUnreachable")],
)
def test_template_alarms_on_throttles_duration_and_inventory_failures(name: str, namespace: str, metric: str) -> None:
    alarms = [r["Properties"] for r in _resources(name).values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    # An alarm's metric is either its own (Namespace, MetricName) or one of its metric math inputs.
    metrics = [a for a in alarms] + [
        m["MetricStat"]["Metric"] for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m
    ]
    assert any(m.get("Namespace") == namespace and m.get("MetricName") == metric for m in metrics)


@pytest.mark.parametrize("name", SCANNER_TEMPLATES)
def test_template_customer_managed_key_parameter_optional(name: str) -> None:
    assert resolved_template(name)["Parameters"]["KmsKeyArn"]["Default"] == ""


@pytest.mark.parametrize("variable", ["tag_functions", "enable_tracing", "kms_key_arn", "qualys_secret_kms_key_arn"])
def test_terraform_module_has_hardening_variable(variable: str) -> None:
    assert variable in _terraform_variables()


def test_spoke_security_hub_import_only_when_enabled() -> None:
    function = "arn:aws:securityhub:us-east-1:222222222222:product/222222222222/default"
    off = role_policies(SPOKE, "SpokeRole", (("EnableSecurityHub", "false"),))
    on = role_policies(SPOKE, "SpokeRole", (("EnableSecurityHub", "true"),))
    assert not granted(off, "securityhub:BatchImportFindings", function, {})
    assert granted(on, "securityhub:BatchImportFindings", function, {})
