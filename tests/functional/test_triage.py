"""Findings a team can act on (issue 18), through the handler on moto: what changed since the last complete
scan, what is suppressed and why, how exposed the function is, its runtime's support, and the priority."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from qualys_lambda.aws import AwsAccess
from qualys_lambda.cli import main as cli_main
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from tests.functional.test_coverage import deploy_scanner
from tests.support import (
    ACCOUNT,
    REGION,
    FakeRunner,
    Resources,
    code_zip,
    create_function,
    event_for,
    lambda_context,
    load_event,
    make_deps,
    sarif_result,
    sarif_rule,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
SUPPRESSIONS_KEY = "suppressions/suppressions.json"
TODAY = datetime.now(UTC).date()


def report(qids: dict[int, int]) -> str:
    """QScanner's SARIF with the given QIDs and severities (QDS = severity x 19, as sarif_rule writes)."""
    rules = [sarif_rule(q, s, [f"CVE-2021-{q % 10000:04d}"]) for q, s in qids.items()]
    results = [sarif_result(q, [("requests", "2.19.1", "2.20.0")]) for q in qids]
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "QScanner", "rules": rules}}, "results": results}]}
    )


def deps_for(
    resources: Resources, runner: FakeRunner, tmp_path: Path, metrics: list[dict[str, Any]] | None = None, **env: str
) -> Deps:
    settings = settings_for(resources, ENABLE_SECURITY_HUB="true", **env)
    deps = make_deps(settings, runner, tmp_path, access=AwsAccess(ACCOUNT, home_region=REGION))
    if metrics is not None:
        deps.metrics = metrics.append
    return deps


def put_suppressions(resources: Resources, rules: list[dict[str, Any]] | str) -> dict[str, str]:
    body = rules if isinstance(rules, str) else json.dumps({"suppressions": rules})
    boto3.client("s3").put_object(Bucket=resources.bucket, Key=SUPPRESSIONS_KEY, Body=body.encode())
    return {"SUPPRESSIONS_URI": f"s3://{resources.bucket}/{SUPPRESSIONS_KEY}"}


def rule(rule_id: str, expires: date, **matcher: Any) -> dict[str, Any]:
    return {"id": rule_id, "reason": f"{rule_id}: assessed, not reachable", "expires": expires.isoformat(), **matcher}


def published(resources: Resources) -> tuple[dict[str, Any], dict[str, str]]:
    """The one SNS message since the last call: its summary and its attributes."""
    (envelope,) = resources.messages()
    return json.loads(envelope["Message"]), {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}


def hub_findings() -> dict[str, dict[str, Any]]:
    pages = boto3.client("securityhub").get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


def qid_finding(qid: int) -> dict[str, Any]:
    return hub_findings()[f"{FUNCTION_ARN}/qualys-lambda/qid/{qid}"]


def change_code(content: str) -> None:
    boto3.client("lambda").update_function_code(FunctionName="orders-api", ZipFile=code_zip({"app.py": content}))


@pytest.fixture
def hub(resources: Resources) -> Resources:
    boto3.client("securityhub").enable_security_hub()
    return resources


def test_new_fixed_and_unchanged_across_two_scans_and_a_rescan_with_nothing_new(hub: Resources, tmp_path: Path) -> None:
    create_function()
    runner = FakeRunner(sarif_text=report({100001: 5, 100002: 4, 100003: 3}), secrets=1)
    deps = deps_for(hub, runner, tmp_path)

    handle(event_for("orders-api"), lambda_context(), deps)
    first, first_attributes = published(hub)
    change_code("print('v2')\n")
    runner.sarif_text = report({100002: 4, 100003: 3, 100004: 2})
    runner.secrets = 0
    handle(event_for("orders-api", "update_function_code"), lambda_context(), deps)
    second, second_attributes = published(hub)
    handle(load_event("manual_scan"), lambda_context(), deps)  # forced: the same code again
    third, third_attributes = published(hub)

    assert first["schema_version"] == 3
    assert first["findings"]["changes"]["new"] == ["100001", "100002", "100003"]
    assert first["findings"]["changes"]["baseline"] == "first_scan"
    assert first_attributes["new_findings"] == "3" and first_attributes["new_max_severity"] == "critical"
    assert second["findings"]["changes"] == {
        "new": ["100004"],
        "fixed": ["100001"],
        "unchanged": 2,
        "secrets": {"new": [], "fixed": [{"rule": "aws-access-key-id", "file": "app.py", "line": 2}], "unchanged": 0},
        "baseline": "complete",
    }
    assert (second_attributes["new_findings"], second_attributes["new_max_severity"]) == ("1", "low")
    assert second["findings"]["new_findings"] == 1 and second["findings"]["new_max_severity"] == "low"
    # A weekly rescan of unchanged code: still high, nothing new, so "new high or critical" stays quiet.
    assert third["findings"]["changes"]["unchanged"] == 3 and third["findings"]["changes"]["new"] == []
    assert (third_attributes["new_findings"], third_attributes["new_max_severity"]) == ("0", "none")
    assert third_attributes["max_severity"] == "high"
    item = boto3.client("dynamodb").get_item(TableName=hub.table, Key={"function_arn": {"S": FUNCTION_ARN}})["Item"]
    assert [q["S"] for q in item["finding_keys"]["M"]["qids"]["L"]] == ["100002", "100003", "100004"]


def test_a_partial_scan_marks_nothing_fixed(hub: Resources, tmp_path: Path) -> None:
    create_function()
    runner = FakeRunner(sarif_text=report({100001: 5, 100002: 4}), secrets=0)
    deps = deps_for(hub, runner, tmp_path)
    handle(event_for("orders-api"), lambda_context(), deps)
    published(hub)

    runner.sarif_text, runner.failed_scans = report({100002: 4}), ("secret",)
    handle(load_event("manual_scan"), lambda_context(), deps)
    summary, _ = published(hub)

    assert summary["scan"]["status"] == "partial"
    assert summary["findings"]["changes"]["fixed"] == [] and summary["findings"]["changes"]["baseline"] == "incomplete"


def test_active_suppression_keeps_a_critical_out_of_new_and_priority_and_suppresses_it_in_security_hub(
    hub: Resources, tmp_path: Path
) -> None:
    create_function()
    env = put_suppressions(
        hub,
        [
            rule("accepted-critical", TODAY + timedelta(days=30), qid="100001"),
            rule("lapsed", TODAY - timedelta(days=1), qid="100002"),
        ],
    )
    runner = FakeRunner(sarif_text=report({100001: 5, 100002: 4, 100003: 3}), secrets=0)

    handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path, **env))
    summary, attributes = published(hub)

    # The active rule removes the critical from new_* and the priority; the expired one applies no more.
    assert (attributes["new_findings"], attributes["new_max_severity"]) == ("2", "high")
    assert summary["findings"]["suppressed"] == [
        {
            "qid": "100001",
            "rule": "accepted-critical",
            "reason": "accepted-critical: assessed, not reachable",
            "expires": (TODAY + timedelta(days=30)).isoformat(),
        }
    ]
    assert summary["priority"]["level"] == "P3" and "100002" in summary["priority"]["reason"]
    assert attributes["max_severity"] == "critical"  # today's attribute still counts every finding
    suppressed = qid_finding(100001)
    assert suppressed["Workflow"]["Status"] == "SUPPRESSED"
    assert suppressed["Note"]["Text"].startswith("Suppressed by rule accepted-critical until ")
    assert qid_finding(100002).get("Workflow", {}).get("Status", "NEW") == "NEW"


def test_a_rule_added_later_suppresses_the_existing_finding_and_its_expiry_returns_it_to_new(
    hub: Resources, tmp_path: Path
) -> None:
    create_function()
    runner = FakeRunner(sarif_text=report({100001: 5}), secrets=0)
    handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path))
    published(hub)
    expires = TODAY + timedelta(days=3)
    env = put_suppressions(hub, [rule("build-only", expires, cve="CVE-2021-0001")])

    handle(load_event("manual_scan"), lambda_context(), deps_for(hub, runner, tmp_path, **env))
    during, during_attributes = published(hub)
    workflow_during = qid_finding(100001)["Workflow"]["Status"]
    later = deps_for(hub, runner, tmp_path, **env)
    later.clock = lambda: datetime.now(UTC) + timedelta(days=5)
    handle(load_event("manual_scan"), lambda_context(), later)
    after, after_attributes = published(hub)

    assert during["findings"]["suppressed"][0]["rule"] == "build-only" and workflow_during == "SUPPRESSED"
    assert during_attributes["priority"] == "none"
    assert after["findings"]["suppressed"] == []
    assert after_attributes["priority"] == "P2"
    finding = qid_finding(100001)
    assert finding["Workflow"]["Status"] == "NEW"
    assert finding["Note"]["UpdatedBy"] == "qualys-lambda"


def test_qds_exposure_and_priority_end_to_end(hub: Resources, tmp_path: Path) -> None:
    create_function()
    boto3.client("lambda").create_function_url_config(FunctionName="orders-api", AuthType="NONE")
    runner = FakeRunner(sarif_text=report({100001: 5, 100002: 3}), secrets=0)

    handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path))
    summary, attributes = published(hub)

    assert summary["function"]["exposure"] == {"status": "public", "reasons": ["function URL with AuthType NONE"]}
    assert [(v["qid"], v["qds"], v["priority"]) for v in summary["findings"]["top"]] == [
        ("100001", 95, "P1"),
        ("100002", 57, "P3"),
    ]
    assert summary["findings"]["max_qds"] == 95
    assert summary["priority"] == {"level": "P1", "reason": "QID 100001 (critical, QDS 95) on a public function"}
    assert attributes["priority"] == "P1"
    finding = qid_finding(100001)
    assert finding["FindingProviderFields"]["Criticality"] == 90
    assert finding["Resources"][0]["Details"]["Other"]["Exposure"] == "public"


def test_a_resource_policy_open_to_anyone_makes_a_private_function_public(hub: Resources, tmp_path: Path) -> None:
    create_function()
    create_function(name="internal")
    boto3.client("lambda").add_permission(
        FunctionName="orders-api", StatementId="anyone", Action="lambda:InvokeFunction", Principal="*"
    )
    runner = FakeRunner(sarif_text=report({100001: 4}), secrets=0)
    deps = deps_for(hub, runner, tmp_path)

    handle(event_for("orders-api"), lambda_context(), deps)
    handle(event_for("internal"), lambda_context(), deps)
    levels = {
        s["function"]["name"]: (s["function"]["exposure"]["status"], s["priority"]["level"])
        for s in (json.loads(e["Message"]) for e in hub.messages())
    }

    assert levels == {"orders-api": ("public", "P2"), "internal": ("private", "P3")}


def test_a_deprecated_runtime_is_a_finding_of_its_own(hub: Resources, tmp_path: Path) -> None:
    create_function(runtime="python3.9")
    runner = FakeRunner(sarif_text=report({}), secrets=0)

    handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path))
    summary, attributes = published(hub)

    assert summary["function"]["runtime_status"]["status"] == "deprecated"
    assert summary["findings"]["runtime"]["deprecation_date"] == "2025-12-15"
    assert summary["findings"]["runtime"]["priority"] == "P3"
    assert attributes["priority"] == "P3" and "runtime deprecated" in summary["priority"]["reason"]
    finding = hub_findings()[f"{FUNCTION_ARN}/qualys-lambda/runtime/python3.9"]
    assert finding["Severity"]["Label"] == "MEDIUM" and "no more security patches" in finding["Description"]


def test_malformed_suppressions_never_block_a_scan(
    hub: Resources, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_function()
    env = put_suppressions(hub, [{"id": "no-reason", "qid": "100001", "expires": TODAY.isoformat()}])
    metrics: list[dict[str, Any]] = []
    runner = FakeRunner(sarif_text=report({100001: 5}), secrets=0)

    with caplog.at_level(logging.ERROR):
        outcome = handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path, metrics, **env))
    summary, attributes = published(hub)

    assert outcome["outcome"] == "scanned" and outcome["status"] == "success"
    assert attributes["new_max_severity"] == "critical" and summary["findings"]["suppressed"] == []
    assert {"SuppressionsUnreadable": 1} in metrics
    assert [r.getMessage() for r in caplog.records].count("suppressions unreadable, none applied") == 1


def test_vex_justified_rules_are_written_as_openvex_beside_the_summary(hub: Resources, tmp_path: Path) -> None:
    create_function()
    env = put_suppressions(
        hub,
        [
            rule(
                "pyyaml-build-only",
                TODAY + timedelta(days=60),
                cve="CVE-2021-0001",
                vex_justification="vulnerable_code_not_in_execute_path",
            )
        ],
    )
    runner = FakeRunner(sarif_text=report({100001: 5, 100002: 4}), secrets=0)

    handle(event_for("orders-api"), lambda_context(), deps_for(hub, runner, tmp_path, **env))
    summary, _ = published(hub)
    vex = runtime.s3_json(boto3.Session(region_name=REGION), hub.bucket, summary["s3"]["openvex_key"])

    assert summary["s3"]["openvex_key"] == summary["s3"]["prefix"] + "openvex.json"
    (statement,) = vex["statements"]
    assert statement["vulnerability"] == {"name": "CVE-2021-0001"}
    assert statement["products"] == [{"@id": FUNCTION_ARN}]
    assert (statement["status"], statement["justification"]) == ("not_affected", "vulnerable_code_not_in_execute_path")


def test_coverage_report_lists_rules_expiring_within_14_days(hub: Resources, tmp_path: Path) -> None:
    env = put_suppressions(
        hub,
        [rule("soon", TODAY + timedelta(days=10), qid="100001"), rule("later", TODAY + timedelta(days=90), qid="1")],
    )
    deploy_scanner(hub, {"QUALYS_SECRET_ARN": hub.secret_arn, "SCAN_CACHE_TABLE": hub.table, **env})
    out, table = io.StringIO(), io.StringIO()

    assert cli_main(["coverage", "--function-name", "qscanner-scanner", "--json"], out) == 0
    cli_main(["coverage", "--function-name", "qscanner-scanner"], table)

    assert [r["rule"] for r in json.loads(out.getvalue())["expiring_suppressions"]] == ["soon"]
    assert "suppression rules expiring within 14 days:" in table.getvalue()
    assert "soon  expires" in table.getvalue() and "later" not in table.getvalue()
