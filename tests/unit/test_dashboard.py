"""The operators' dashboard shows every metric the scanner emits and nothing it does not, in every stack.

The emitted names are read from the code (every `metrics({...})` call of qualys_lambda), the shown ones
from each scanner template's DashboardBody, so the dashboard and the code cannot drift apart. The
Terraform module's body is rendered from the same widgets (test_template_sources holds it up to date).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from qualys_lambda import metrics
from tests.support import load_template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scanner-lambda" / "qualys_lambda"
SCANNER_TEMPLATES = ("single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml")


def _metric_calls() -> list[tuple[str, ast.Call]]:
    """Every call of a function or attribute named `metrics` in the package (the MetricsSink)."""
    calls = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "metrics":
                    calls.append((f"{path.name}:{node.lineno}", node))
    return calls


def _key_names(key: ast.expr | None) -> set[str]:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return {key.value}
    if isinstance(key, ast.IfExp):
        return _key_names(key.body) | _key_names(key.orelse)
    raise AssertionError(f"metric name is not a literal: {ast.unparse(key) if key else '**'}")


def emitted_metrics() -> set[str]:
    """The metric names the code emits, from the dict literals handed to the metrics sink."""
    names: set[str] = set()
    for where, call in _metric_calls():
        (argument,) = call.args
        assert isinstance(argument, ast.Dict), f"{where}: metrics() takes a dict literal, so its names can be read"
        for key in argument.keys:
            names |= _key_names(key)
    return names


def _body(template: str) -> dict[str, Any]:
    sub = load_template(template)["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Each !Sub reference as <reference>, so the body parses as JSON and says what it names.
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", sub))


def _metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]


def _own_metric_names(body: dict[str, Any]) -> set[str]:
    return {metric[1] for metric in _metrics(body) if metric[0] == metrics.NAMESPACE}


def test_emitted_metrics_found_in_scanner_and_inventory() -> None:
    # The reader sees the calls it must: a scan's, the inventory's and the handler's.
    assert {"ScansRun", "FunctionsCovered", "InventoryUnitsPlanned", "TransientFailures"} <= emitted_metrics()


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_dashboard_shows_every_emitted_metric_and_no_other(template: str) -> None:
    assert _own_metric_names(_body(template)) == emitted_metrics()


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_dashboard_own_metrics_carry_code_dimension(template: str) -> None:
    own = [m for m in _metrics(_body(template)) if m[0] == metrics.NAMESPACE]
    dimensions = [item for pair in sorted(metrics.DIMENSIONS.items()) for item in pair]

    assert own
    assert all(metric[2:4] == dimensions for metric in own)


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_dashboard_service_metrics_name_the_stacks_function_and_queues(template: str) -> None:
    body = _body(template)
    service = [m for m in _metrics(body) if m[0] != metrics.NAMESPACE]

    assert {(m[0], m[3]) for m in service} == {
        ("AWS/Lambda", "<ScannerFunction>"),
        ("AWS/SQS", "<ScanQueue.QueueName>"),
        ("AWS/SQS", "<InventoryQueue.QueueName>"),
        ("AWS/SQS", "<DeadLetterQueue.QueueName>"),
    }
    assert {w["properties"]["region"] for w in body["widgets"]} == {"<AWS::Region>"}


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_dashboard_named_per_stack_and_region(template: str) -> None:
    dashboard = load_template(template)["Resources"]["Dashboard"]["Properties"]

    # Dashboards are global to an account; a stack deployed in two regions needs two names.
    assert dashboard["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
