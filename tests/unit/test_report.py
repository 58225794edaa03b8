"""The summary's counts, QScanner's argv, environment and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qualys_lambda.qscanner import ScanJob, build_argv, build_env, exit_reason, exit_status, read_outputs
from qualys_lambda.qscanner_output import read_report, redact
from qualys_lambda.summary import findings_from, max_severity, s3_prefix, vulnerability_counts
from tests.support import TOKEN, sarif, scan_result


def report_of(severities: list[int], secrets: int = 0, severity: str = "CRITICAL") -> object:
    result = scan_result(secrets)
    for secret in result["SecretResults"][0]["Secrets"]:
        secret["Severity"] = severity
    return read_report(
        {
            "id-Report.sarif.json": json.dumps(sarif(severities)).encode(),
            "id-ScanResult.json": json.dumps(result).encode(),
        }
    )


def test_vulnerability_counts_by_severity() -> None:
    counts = vulnerability_counts(report_of([5, 5, 4, 3, 1]))  # type: ignore[arg-type]
    assert counts == {"critical": 2, "high": 1, "medium": 1, "low": 0, "info": 1, "total": 5}


def test_findings_counts_secrets_and_max_severity() -> None:
    findings = findings_from(report_of([3, 2], secrets=3, severity="LOW"))  # type: ignore[arg-type]
    assert findings["secrets"] == 3 and findings["max_severity"] == "medium"
    assert findings["secret_locations"][0] == {
        "rule": "aws-access-key-id",
        "file": "app.py",
        "line": 2,
        "severity": "low",
    }


def test_findings_leaked_critical_secret_raises_max_severity() -> None:
    findings = findings_from(report_of([2], secrets=1))  # type: ignore[arg-type]
    assert findings["vulnerabilities"]["critical"] == 0 and findings["max_severity"] == "critical"


def test_findings_top_lists_cves_and_package_versions() -> None:
    findings = findings_from(report_of([3, 5]))  # type: ignore[arg-type]
    assert [(t["qid"], t["severity"], t["cves"]) for t in findings["top"]] == [
        ("100001", "critical", ["CVE-2020-0001"]),
        ("100000", "medium", ["CVE-2020-0000"]),
    ]
    assert findings["top"][0]["packages"] == ["requests 2.19.1 (fixed in 2.20.0)"]


def test_max_severity_none_without_findings() -> None:
    assert max_severity(vulnerability_counts(report_of([]))) == "none"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "mode", "expected"),
    [
        (0, "get-report", ("success", "")),
        (0, "evaluate-policy", ("success", "ALLOW")),
        (40, "get-report", ("partial", "")),
        (41, "evaluate-policy", ("partial", "")),
        (42, "evaluate-policy", ("success", "DENY")),
        (43, "evaluate-policy", ("success", "AUDIT")),
        (42, "get-report", ("failed", "")),
        (1, "get-report", ("failed", "")),
        (-9, "get-report", ("failed", "")),
    ],
)
def test_classify_exit_codes(code: int, mode: str, expected: tuple[str, str]) -> None:
    assert exit_status(code, mode) == expected


@pytest.mark.parametrize(
    ("code", "words"),
    [(2, "invalid parameter"), (7, "artifact"), (15, "scan failure"), (33, "upload"), (40, "vulnerability report")],
)
def test_exit_reason_names_the_range(code: int, words: str) -> None:
    assert words in exit_reason(code)


def test_build_env_is_explicit_and_carries_credentials_region() -> None:
    job = ScanJob(
        "/opt/bin/qscanner",
        "US2",
        qualys_env={"QUALYS_CLIENT_ID": "id", "QUALYS_CLIENT_SECRET": "secret"},
        function_arn="arn",
        region="eu-west-1",
        aws_env={"AWS_ACCESS_KEY_ID": "AKIDSPOKE", "AWS_SECRET_ACCESS_KEY": "s"},
        inherited_env={"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "own"},
    )
    env = build_env(job, "/tmp/home")
    assert env == {
        "PATH": "/bin",
        "AWS_ACCESS_KEY_ID": "AKIDSPOKE",
        "AWS_SECRET_ACCESS_KEY": "s",
        "QUALYS_CLIENT_ID": "id",
        "QUALYS_CLIENT_SECRET": "secret",
        "HOME": "/tmp/home",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_build_argv_json_format_scan_timeout_policy_and_gateway() -> None:
    job = ScanJob(
        "/q",
        gateway_url="https://gateway.qg1.apps.qualysgov.com",
        qualys_env={"QUALYS_ACCESS_TOKEN": TOKEN},
        function_arn="arn",
        formats=("spdx", "cyclonedx"),
        policy_tags="prod,pci",
    )
    argv = build_argv(job, "/out", "/cache", 700.0)
    assert argv == [
        "/q",
        "--gateway-url",
        "https://gateway.qg1.apps.qualysgov.com",
        "--output-dir",
        "/out",
        "--cache-dir",
        "/cache",
        "--scan-types",
        "pkg,secret",
        "--scan-timeout",
        "690s",
        "--format",
        "json,spdx,cyclonedx",
        "--mode",
        "evaluate-policy",
        "--policy-tags",
        "prod,pci",
        "lambda",
        "arn",
    ]
    assert TOKEN not in " ".join(argv)


def test_read_outputs_reads_files_not_directories(tmp_path: Path) -> None:
    (tmp_path / "abc-ScanResult.json").write_text("{}")
    (tmp_path / "abc-Report.sarif.json").write_text("{}")
    (tmp_path / "nested").mkdir()
    assert sorted(read_outputs(tmp_path)) == ["abc-Report.sarif.json", "abc-ScanResult.json"]


def test_redact_removes_every_secret() -> None:
    assert redact(f"a {TOKEN} b {TOKEN} c secret", [TOKEN, "secret", ""]) == "a [REDACTED] b [REDACTED] c [REDACTED]"


def test_s3_prefix_layout() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, 21, 7, 35, tzinfo=UTC)
    scan_id = "6f1c2a9e-0b7d-4e1f-9a3c-2d5e8f7a1b4c"
    assert (
        s3_prefix("123456789012", "us-east-1", "orders", moment, scan_id)
        == f"scans/123456789012/us-east-1/orders/20261126T210735Z-{scan_id}/"
    )


def test_s3_prefix_without_usable_scan_id_is_still_unique() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 26, 21, 7, 35, tzinfo=UTC)
    first, second = (s3_prefix("123456789012", "us-east-1", "orders", moment, bad) for bad in ("", "../x"))
    assert first != second
    assert all(p.startswith("scans/123456789012/us-east-1/orders/20261126T210735Z-") for p in (first, second))
    assert ".." not in second
