"""The documented priority rule: rank from severity and QDS, then exposure; runtime; the scan as a whole."""

from __future__ import annotations

import pytest

from qualys_lambda.priority import finding_priority, finding_rank, qds_band, runtime_priority, scan_priority
from qualys_lambda.qscanner_output import QScannerReport, Secret, Vulnerability


@pytest.mark.parametrize(
    ("qds", "band"),
    [
        (None, None),
        (1, "low"),
        (39, "low"),
        (40, "medium"),
        (69, "medium"),
        (70, "high"),
        (89, "high"),
        (90, "critical"),
        (100, "critical"),
    ],
)
def test_qds_band_qualys_ranges(qds: int | None, band: str | None) -> None:
    assert qds_band(qds) == band


@pytest.mark.parametrize(
    ("severity", "qds", "rank"),
    [
        ("critical", None, "critical"),
        ("critical", 20, "critical"),  # the higher of the two: a low QDS never lowers the severity
        ("medium", 95, "critical"),
        ("low", 75, "high"),
        ("info", None, "info"),
        ("high", 50, "high"),
    ],
)
def test_finding_rank_higher_of_severity_and_qds(severity: str, qds: int | None, rank: str) -> None:
    assert finding_rank(severity, qds) == rank


# The table of docs/DESIGN.md section 13, row by row.
TABLE = [
    ("critical", None, "P1", "P2"),
    ("high", None, "P2", "P3"),
    ("medium", None, "P3", "P4"),
    ("low", None, "P4", "P4"),
    ("info", None, "P4", "P4"),
    ("medium", 92, "P1", "P2"),
    ("low", 72, "P2", "P3"),
]


@pytest.mark.parametrize(("severity", "qds", "public", "private"), TABLE)
def test_finding_priority_table(severity: str, qds: int | None, public: str, private: str) -> None:
    assert finding_priority(severity, qds, "public") == public
    assert finding_priority(severity, qds, "private") == private
    # Unknown exposure ranks like private: it never raises the priority.
    assert finding_priority(severity, qds, "unknown") == private


@pytest.mark.parametrize(
    ("status", "public", "private"),
    [
        ("deprecated", "P2", "P3"),
        ("approaching_deprecation", "P4", "P4"),
        ("supported", None, None),
        ("unknown", None, None),
        ("not_applicable", None, None),
    ],
)
def test_runtime_priority(status: str, public: str | None, private: str | None) -> None:
    assert (runtime_priority(status, "public"), runtime_priority(status, "private")) == (public, private)


def report(*vulnerabilities: Vulnerability, secrets: tuple[Secret, ...] = ()) -> QScannerReport:
    return QScannerReport(vulnerabilities=vulnerabilities, secrets=secrets)


CRITICAL = Vulnerability("5000101", 5, "critical one", qds=95)
MEDIUM = Vulnerability("5000103", 3, "medium one", qds=45)


def test_scan_priority_worst_unsuppressed_finding_and_why() -> None:
    result = scan_priority(report(MEDIUM, CRITICAL), "public", "supported")

    assert result.as_json() == {"level": "P1", "reason": "QID 5000101 (critical, QDS 95) on a public function"}


def test_scan_priority_suppressed_critical_left_out() -> None:
    result = scan_priority(report(MEDIUM, CRITICAL), "private", "supported", suppressed_qids={"5000101"})

    assert (result.level, result.reason) == (
        "P4",
        "QID 5000103 (medium, QDS 45) on a function whose exposure is private",
    )


def test_scan_priority_public_function_raises_the_same_findings() -> None:
    assert scan_priority(report(MEDIUM), "private", "supported").level == "P4"
    assert scan_priority(report(MEDIUM), "public", "supported").level == "P3"


def test_scan_priority_deprecated_runtime_alone_is_a_finding() -> None:
    result = scan_priority(report(), "private", "deprecated")

    assert (result.level, result.reason) == ("P3", "runtime deprecated on a function whose exposure is private")


def test_scan_priority_secret_counts_by_its_severity() -> None:
    secret = Secret("aws-access-key-id", "app.py", 3, "CRITICAL", "AWS key")

    assert scan_priority(report(MEDIUM, secrets=(secret,)), "unknown", "supported").level == "P2"


def test_scan_priority_nothing_found_is_none() -> None:
    assert scan_priority(report(), "public", "supported").as_json() == {
        "level": "none",
        "reason": "no unsuppressed finding",
    }
    assert scan_priority(report(CRITICAL), "public", "supported", suppressed_qids=["5000101"]).level == "none"
