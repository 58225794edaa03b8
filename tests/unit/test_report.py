"""Findings from QScanner's files and the QScanner run's argv, environment and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qualys_lambda.qscanner import ScanJob, build_env, classify, read_outputs, redact
from qualys_lambda.report import findings_from, max_severity, s3_prefix, vulnerability_counts
from tests.support import TOKEN, sarif


def test_vulnerability_counts_by_severity() -> None:
    counts = vulnerability_counts(sarif([5, 5, 4, 3, 1]))
    assert counts == {"critical": 2, "high": 1, "medium": 1, "low": 0, "info": 1, "total": 5}


def test_vulnerability_counts_tolerates_malformed_report() -> None:
    assert vulnerability_counts({"runs": "x"})["total"] == 0
    assert vulnerability_counts(None)["total"] == 0


def test_findings_from_files_counts_secrets_and_max_severity() -> None:
    low = {"Severity": "LOW"}
    files = {
        "id-Report.sarif.json": json.dumps(sarif([3, 2])).encode(),
        "id-ScanResult.json": json.dumps({"SecretResults": [{"Secrets": [low, low]}, {"Secrets": [low]}]}).encode(),
    }
    findings = findings_from(files)
    assert findings["secrets"] == 3 and findings["max_severity"] == "medium"


def test_findings_from_files_leaked_critical_secret_raises_max_severity() -> None:
    files = {
        "id-Report.sarif.json": json.dumps(sarif([2])).encode(),
        "id-ScanResult.json": json.dumps({"SecretResults": [{"Secrets": [{"Severity": "CRITICAL"}]}]}).encode(),
    }
    findings = findings_from(files)
    assert findings["vulnerabilities"]["critical"] == 0 and findings["max_severity"] == "critical"


def test_max_severity_none_without_findings() -> None:
    assert max_severity(vulnerability_counts(sarif([]))) == "none"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, ("success", "")),
        (40, ("partial", "")),
        (42, ("success", "DENY")),
        (43, ("success", "AUDIT")),
        (1, ("failed", "")),
        (41, ("failed", "")),
        (-9, ("failed", "")),
    ],
)
def test_classify_exit_codes(code: int, expected: tuple[str, str]) -> None:
    assert classify(code) == expected


def test_build_env_is_explicit_and_carries_token_region_credentials() -> None:
    job = ScanJob(
        "/opt/bin/qscanner",
        "US2",
        TOKEN,
        "arn",
        "eu-west-1",
        aws_env={"AWS_ACCESS_KEY_ID": "AKIDSPOKE", "AWS_SECRET_ACCESS_KEY": "s"},
        inherited_env={"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "own"},
    )
    env = build_env(job, "/tmp/home")
    assert env == {
        "PATH": "/bin",
        "AWS_ACCESS_KEY_ID": "AKIDSPOKE",
        "AWS_SECRET_ACCESS_KEY": "s",
        "QUALYS_ACCESS_TOKEN": TOKEN,
        "HOME": "/tmp/home",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_read_outputs_takes_scan_id_from_scan_result(tmp_path: Path) -> None:
    (tmp_path / "abc-ScanResult.json").write_text("{}")
    (tmp_path / "abc-Report.sarif.json").write_text("{}")
    (tmp_path / "nested").mkdir()
    scan_id, files = read_outputs(tmp_path)
    assert scan_id == "abc" and sorted(files) == ["abc-Report.sarif.json", "abc-ScanResult.json"]


def test_redact_removes_every_secret() -> None:
    assert redact(f"a {TOKEN} b {TOKEN} c secret", [TOKEN, "secret", ""]) == "a [REDACTED] b [REDACTED] c [REDACTED]"


def test_s3_prefix_layout() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, 21, 7, 35, tzinfo=UTC)
    assert (
        s3_prefix("123456789012", "us-east-1", "orders", moment)
        == "scans/123456789012/us-east-1/orders/20261126T210735Z/"
    )
