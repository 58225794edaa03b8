"""`make demo` end to end: its own emulator, the real `make deploy`, the scanner's story, nothing left behind.

The demo writes its checks as JSON (DEMO_CHECKS, local/README.md): these tests read that file, each
check with the values it looked at, not the demo's printed prose.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.deploys  # make demo deploys the stack on its own moto server

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ARN = re.compile(r"arn:aws:lambda:us-east-2:\d{12}:function:orders-api")
EXPECTED_CHECKS = [
    "stack",
    "secret",
    "scanner",
    "security_hub_enabled",
    "deployed_code",
    "layer",
    "suppressions_uploaded",
    "first_scan",
    "tags",
    "summary",
    "vulnerabilities",
    "secrets",
    "sbom",
    "sns",
    "scan_event",
    "hub_findings",
    "hub_secret",
    "cache",
    "cache_hit",
    "rescan",
    "cve_archived",
    "secret_active",
    "changes",
    "new_attributes",
    "coverage_before",
    "inventory_planned",
    "inventory_ran",
    "inventory_requests",
    "legacy_scanned",
    "coverage_after",
    "suppressed",
    "suppressed_not_new",
    "hub_suppressed",
    "openvex",
    "priority_raised",
    "alias_target_scanned",  # issue 22: an alias on an older version is scanned by its qualified ARN
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One `make demo` for the module (it starts and stops its own moto server), and the checks it wrote."""
    checks_file = tmp_path_factory.mktemp("demo") / "demo-checks.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUALYS_"))}
    run = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env={**env, "DEMO_CHECKS": str(checks_file)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert checks_file.is_file(), run.stdout[-4000:] + run.stderr[-2000:]
    return run, json.loads(checks_file.read_text())


@pytest.fixture(scope="module")
def report(demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> dict[str, Any]:
    return demo[1]


def values(report: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in report["checks"] if c["name"] == name]
    assert check["ok"], check
    return dict(check["values"])


def test_demo_passes_every_check(demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    run, report = demo

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert report["passed"] is True and report["error"] == ""
    assert [c["name"] for c in report["checks"]] == EXPECTED_CHECKS
    assert all(c["ok"] for c in report["checks"]), [c for c in report["checks"] if not c["ok"]]
    # The person running it sees every check marked [ok].
    assert run.stdout.count("  [ok] ") == 2 * len(EXPECTED_CHECKS) and "[MISSING]" not in run.stdout


def test_demo_labels_qscanner_simulated(demo: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    run, report = demo
    head, _, summary = run.stdout.partition("===== summary")

    assert report["qscanner"] == "SIMULATED (local/qscanner)"
    assert "QScanner is SIMULATED" in head.splitlines()[1]
    assert "QScanner was SIMULATED" in summary


def test_demo_deploys_with_security_hub_and_the_demo_token(report: dict[str, Any]) -> None:
    assert values(report, "stack")["status"].endswith("_COMPLETE")
    assert values(report, "security_hub_enabled") == {"ENABLE_SECURITY_HUB": "true"}
    assert values(report, "scanner")["arn"].endswith(":function:qscanner-scanner")


def test_demo_scan_tags_results_notification_and_cache(report: dict[str, Any]) -> None:
    first = values(report, "first_scan")["outcome"]
    tags = values(report, "tags")["tags"]
    keys = values(report, "summary")["keys"]

    assert (
        first["outcome"] == "scanned" and first["status"] == "success" and SAMPLE_ARN.fullmatch(first["function_arn"])
    )
    assert tags["QualysScanStatus"] == "success" and tags["QualysScanTag"] == first["scan_id"]
    summaries = [k for k in keys if k.endswith("/summary.json")]
    assert len(summaries) == 1
    assert re.fullmatch(r"scans/\d{12}/us-east-2/orders-api/\d{8}T\d{6}Z-[0-9a-f-]{36}/summary\.json", summaries[0])
    assert values(report, "vulnerabilities")["total"] > 0 and values(report, "secrets")["secrets"] > 0
    assert values(report, "sns")["subjects"] == ["QScanner Results: orders-api"]
    assert values(report, "cache") == {"status": "success"}


def test_demo_lists_sbom_keys_among_the_results(report: dict[str, Any]) -> None:
    sboms = values(report, "sbom")["sbom"]
    keys = values(report, "summary")["keys"]

    assert sorted(sboms) == ["cyclonedx", "spdx"]
    # The simulator's CycloneDX name differs from the SPDX pattern: the scanner finds it by content.
    assert sboms["spdx"].endswith(".spdx.json") and sboms["cyclonedx"].endswith("-CycloneDX.json")
    assert set(sboms.values()) <= set(keys)


def test_demo_shows_the_scan_completed_event_on_a_rule(report: dict[str, Any]) -> None:
    (event,) = values(report, "scan_event")["events"]

    assert (event["detail-type"], event["source"], event["name"]) == (
        "Lambda Scan Completed",
        "qualys-lambda",
        "orders-api",
    )
    assert event["max_severity"] == "critical" and SAMPLE_ARN.fullmatch(event["arn"])


def test_demo_lists_security_hub_findings_with_severities(report: dict[str, Any]) -> None:
    findings = values(report, "hub_findings")["findings"]
    (cve,) = [f for f in findings if f["cve"] == "CVE-2018-18074"]
    (secret,) = [f for f in findings if f["title"] == "Secret in Lambda code: AWS Access Key ID"]

    assert (cve["severity"], cve["state"]) == ("HIGH", "ACTIVE") and cve["title"].startswith("[SIMULATED] requests ")
    assert cve["product_fields"]["qualys-lambda/Qid"] == "900001"
    assert (cve["package"], cve["fixed_in"]) == ("requests 2.19.1", "2.20.0")
    assert (secret["severity"], secret["state"]) == ("CRITICAL", "ACTIVE")
    assert all(len(f["resources"]) == 1 and SAMPLE_ARN.fullmatch(f["resources"][0]) for f in findings)


def test_demo_shows_cache_skip_then_rescan_archiving_the_fixed_finding(report: dict[str, Any]) -> None:
    rescan = values(report, "rescan")
    findings = values(report, "cve_archived")["findings"]

    assert values(report, "cache_hit")["outcome"]["outcome"] == "cache_hit"
    assert rescan["first"] and rescan["second"] and rescan["first"] != rescan["second"]
    assert {f["state"] for f in findings if f["cve"] == "CVE-2018-18074"} == {"ARCHIVED"}
    assert [f["state"] for f in findings if f["title"].startswith("Secret in Lambda code")] == ["ACTIVE"]


def test_demo_coverage_then_inventory_scans_the_pending_function(report: dict[str, Any]) -> None:
    requests = values(report, "inventory_requests")["requests"]

    assert values(report, "coverage_before")["reasons"] == {
        "orders-api": "SCANNED",
        "legacy-report": "PENDING",
        "payments-sandbox": "EXCLUDED_BY_TAG",
    }
    assert values(report, "inventory_planned")["result"]["units"] == 1
    assert values(report, "inventory_ran")["enqueued"] == 1
    assert [(r["source"], r["detail-type"], r["force"]) for r in requests] == [
        ("qualys-lambda.inventory", "Scan Request", False)
    ]
    assert requests[0]["functionArn"].endswith(":function:legacy-report")
    (outcome,) = values(report, "legacy_scanned")["outcomes"].values()
    assert outcome == "scanned"
    assert values(report, "coverage_after")["reasons"] == {
        "orders-api": "SCANNED",
        "legacy-report": "SCANNED",
        "payments-sandbox": "EXCLUDED_BY_TAG",
    }


def test_demo_leaves_no_emulator_listening(report: dict[str, Any]) -> None:
    emulator = report["emulator"]

    assert emulator["url"] == f"http://127.0.0.1:{emulator['port']}" and emulator["port_open"] is False
    with socket.socket() as probe:
        probe.settimeout(0.5)
        assert probe.connect_ex(("127.0.0.1", emulator["port"])) != 0
    status = Path(f"/proc/{emulator['pid']}/status")
    assert not status.exists() or "zombie" in status.read_text().lower()
    assert report["work_dir_removed"] is True and not Path(report["work_dir"]).exists()


def test_demo_rescan_shows_one_new_one_fixed_a_suppressed_finding_and_a_raised_priority(report: dict[str, Any]) -> None:
    assert (values(report, "changes")["new"], values(report, "changes")["fixed"]) == (["900003"], ["900001"])
    assert values(report, "new_attributes")["new_findings"] == "1"
    assert values(report, "suppressed")["rules"] == [["900002", "pyyaml-trusted-input"]]
    assert values(report, "hub_suppressed")["findings"]
    assert values(report, "priority_raised") == {"before": "P2", "after": "P1"}
