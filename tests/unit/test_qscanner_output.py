"""QScanner's files read into one typed report: the documented SARIF and ScanResult layouts, secrets stripped."""

from __future__ import annotations

import json
from pathlib import Path

from qualys_lambda.qscanner_output import Package, read_report
from qualys_lambda.summary import findings_from
from tests.support import PLANTED_SECRET, scan_result

FIXTURE = Path(__file__).parent.parent / "fixtures" / "qscanner-Report.sarif.json"


def files(**extra: bytes) -> dict[str, bytes]:
    """A run's files: the documented-layout SARIF fixture and a ScanResult with one planted secret."""
    return {
        "s1-Report.sarif.json": FIXTURE.read_bytes(),
        "s1-ScanResult.json": json.dumps(scan_result(1)).encode(),
        **extra,
    }


def test_read_report_one_vulnerability_per_qid_with_rule_severity() -> None:
    report = read_report(files())

    assert [(v.qid, v.severity_name) for v in report.vulnerabilities] == [
        ("5000101", "critical"),
        ("5000102", "high"),
        ("5000103", "medium"),
        ("5000104", "medium"),
    ]
    assert findings_from(report)["vulnerabilities"] == {
        "critical": 1,
        "high": 1,
        "medium": 2,
        "low": 0,
        "info": 0,
        "total": 4,
    }


def test_read_report_cves_cvss_and_packages_from_rules_and_results() -> None:
    by_qid = {v.qid: v for v in read_report(files()).vulnerabilities}

    assert by_qid["5000103"].cves == ("CVE-2023-32681", "CVE-2024-35195")
    assert by_qid["5000101"].cvss == 9.8
    assert by_qid["5000104"].cves == ()
    assert by_qid["5000104"].packages == (
        Package("urllib3", "1.24.1", "1.26.18", "/var/task/urllib3/__init__.py"),
        Package("urllib3", "1.24.1", "1.26.18", "/opt/python/urllib3/__init__.py"),
    )
    # Two QIDs share the requests package, each keeping its own fixed version.
    assert by_qid["5000102"].packages[0].fixed_version == "2.20.0"
    assert by_qid["5000103"].packages[0].fixed_version == "2.32.0"


def test_read_report_result_without_message_takes_rule_description() -> None:
    by_qid = {v.qid: v for v in read_report(files()).vulnerabilities}

    assert by_qid["5000103"].title == "requests proxy credential leak"
    assert by_qid["5000102"].title == "requests 2.19.1 sends Authorization on redirect"


def test_read_report_severity_falls_back_to_result_then_level() -> None:
    sarif = {
        "runs": [
            {
                "tool": {"driver": {"rules": [{"id": "1", "properties": {}}, {"id": "2"}]}},
                "results": [
                    {"ruleId": "1", "level": "note", "properties": {"QID": 1, "severity": 4}},
                    {"ruleId": "2", "level": "error", "properties": {"QID": 2}},
                ],
            }
        ]
    }

    report = read_report({"s-Report.sarif.json": json.dumps(sarif).encode()})

    assert {v.qid: v.severity for v in report.vulnerabilities} == {"1": 4, "2": 4}


def test_read_report_unreadable_sarif_is_a_problem_not_zero_findings() -> None:
    bad_json = read_report(files(**{"s1-Report.sarif.json": b"{not json"}))
    no_runs = read_report(files(**{"s1-Report.sarif.json": b'{"version": "2.1.0", "runs": []}'}))

    assert bad_json.problems == ("SARIF report is not valid JSON",)
    assert no_runs.problems == ("SARIF report has no runs",)


def test_read_report_strips_match_from_stored_scan_result_and_keeps_location() -> None:
    report = read_report(files())
    stored = {f.name: f for f in report.files}

    scan_result_copy = stored["s1-ScanResult.json"]
    secret = json.loads(scan_result_copy.body)["SecretResults"][0]["Secrets"][0]
    assert PLANTED_SECRET.encode() not in scan_result_copy.body
    assert "Match" not in secret
    assert (secret["RuleID"], secret["StartLine"], secret["Severity"]) == ("aws-access-key-id", 2, "CRITICAL")
    assert [(s.rule, s.target, s.line, s.severity_name) for s in report.secrets] == [
        ("aws-access-key-id", "app.py", 2, "critical")
    ]


def test_read_report_redacts_secret_text_from_every_other_file() -> None:
    leaky = json.dumps({"bomFormat": "CycloneDX", "note": PLANTED_SECRET}).encode()

    report = read_report(files(**{"s1-whatever.json": leaky}))

    assert report.sboms == {"cyclonedx": "s1-whatever.json"}
    assert all(PLANTED_SECRET.encode() not in f.body for f in report.files)


def test_read_report_content_types_and_binary_changelists_skipped() -> None:
    spdx = json.dumps({"spdxVersion": "SPDX-2.3"}).encode()
    report = read_report(
        files(
            **{
                "s1-ScanResult.spdx.json": spdx,
                "s1-ScanResult.spdx.json.xz": b"\xfd7zXZ\x00",
                "s1-ChangeList.db.xz": b"\xfd7zXZ\x00",
            }
        )
    )

    assert {f.name: f.content_type for f in report.files} == {
        "s1-Report.sarif.json": "application/sarif+json",
        "s1-ScanResult.json": "application/json",
        "s1-ScanResult.spdx.json": "application/spdx+json",
    }
    assert report.sboms == {"spdx": "s1-ScanResult.spdx.json"}


def test_read_report_scans_performed_failures_named() -> None:
    report = read_report({"s1-ScanResult.json": json.dumps(scan_result(0, failed_scans=("secret",))).encode()})

    assert report.failed_scans == ("secret",)
    assert report.scan_id == "s1"
