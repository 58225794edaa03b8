"""The failure table (permanent or transient for the scanned code) and the inventory's back-off arithmetic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qualys_lambda.cache import retry_delay
from qualys_lambda.qscanner import ScanRun
from qualys_lambda.qscanner_output import QScannerReport
from qualys_lambda.retries import failure_reason, is_permanent


def run(status: str, exit_code: int | None, failure: str = "") -> ScanRun:
    return ScanRun(status, exit_code, QScannerReport(), 1.0, failure)


@pytest.mark.parametrize(
    ("exit_code", "failure", "reason"),
    [
        (2, "QScanner exited with code 2: invalid parameter", "INVALID_PARAMETER"),
        (5, "QScanner exited with code 5: artifact failure", "ARTIFACT_FAILURE"),
        (10, "QScanner exited with code 10: artifact failure", "ARTIFACT_FAILURE"),
        (None, "TOO_LARGE: needs 1 bytes of /tmp", "TOO_LARGE"),
        (1, "QScanner exited with code 1: generic error", "TRANSIENT"),
        (3, "QScanner exited with code 3: logger initialisation failed", "TRANSIENT"),
        (4, "QScanner exited with code 4: undocumented exit code", "TRANSIENT"),
        (11, "QScanner exited with code 11: scan failure", "TRANSIENT"),
        (30, "QScanner exited with code 30: output or upload failure", "TRANSIENT"),
        (42, "QScanner exited with code 42: policy verdict DENY", "TRANSIENT"),
        (None, "QScanner timed out after 870 s", "TRANSIENT"),
        (None, "QScanner binary not found or not executable at /opt/bin/qscanner", "TRANSIENT"),
    ],
)
def test_failed_runs_are_permanent_only_for_invalid_parameters_artifacts_and_size(
    exit_code: int | None, failure: str, reason: str
) -> None:
    failed = run("failed", exit_code, failure)
    assert failure_reason(failed) == reason
    assert is_permanent(failed) == (reason != "TRANSIENT")


@pytest.mark.parametrize(("status", "exit_code"), [("success", 0), ("partial", 40), ("partial", 41), ("success", 42)])
def test_finished_runs_have_no_failure_reason(status: str, exit_code: int) -> None:
    assert failure_reason(run(status, exit_code)) == "" and not is_permanent(run(status, exit_code))


def test_back_off_doubles_from_one_day_and_stops_at_rescan_after_days() -> None:
    assert [retry_delay(attempts, 7).days for attempts in range(1, 7)] == [1, 2, 4, 7, 7, 7]
    assert retry_delay(3, 30) == timedelta(days=4) and retry_delay(10_000, 365) == timedelta(days=365)
    assert retry_delay(0, 7) == timedelta(0)
