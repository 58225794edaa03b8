"""The code identity's record (reuse.py): what is recorded, when a record may stand for a run, its key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qualys_lambda.cache import IDENTITY_KEY_PREFIX, ScanIdentity, identity_item_key
from qualys_lambda.config import Settings
from qualys_lambda.qscanner import ScanRun
from qualys_lambda.qscanner_output import QScannerReport, StoredFile
from qualys_lambda.reuse import IdentityResult, result_of, usable

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SETTINGS = Settings(qualys_secret_arn="arn", results_bucket="results", scan_identical_code_once=True)
IDENTITY = ScanIdentity("c2hh", ("arn:aws:lambda:us-east-1:111111111111:layer:deps:3",))
FILES = (StoredFile("scan-1-ScanResult.json", b"{}", "application/json"),)


def run(status: str = "success", exit_code: int | None = 0) -> ScanRun:
    return ScanRun(status, exit_code, QScannerReport(scan_id="scan-1", files=FILES), 1.0)


def record(**changes: Any) -> IdentityResult:
    recorded = result_of(IDENTITY, "arn:aws:lambda:us-east-1:111111111111:function:a", run(), NOW, SETTINGS, "scans/p/")
    assert recorded is not None
    return IdentityResult(**{**recorded.__dict__, **changes})


def test_a_success_is_recorded_with_its_files_and_settings() -> None:
    recorded = record()
    assert recorded.files == ("scan-1-ScanResult.json",) and recorded.exit_code == 0
    assert recorded.scan_types == SETTINGS.scan_types and recorded.bucket == "results"
    assert IdentityResult.from_item({**recorded.fields(), "scan_identity": IDENTITY.key}) == recorded


@pytest.mark.parametrize("outcome", [run("partial", 40), run("failed", 10), run("failed", None)])
def test_partial_and_failed_runs_are_not_recorded(outcome: ScanRun) -> None:
    assert result_of(IDENTITY, "arn", outcome, NOW, SETTINGS, "scans/p/") is None


def test_no_record_without_a_results_bucket() -> None:
    assert result_of(IDENTITY, "arn", run(), NOW, Settings(qualys_secret_arn="arn"), "scans/p/") is None


def test_a_record_stands_for_a_run_until_rescan_after_days() -> None:
    assert usable(record(), SETTINGS, NOW + timedelta(days=SETTINGS.rescan_after_days))
    assert not usable(record(), SETTINGS, NOW + timedelta(days=SETTINGS.rescan_after_days, seconds=1))


@pytest.mark.parametrize(
    "changes",
    [
        {"scan_types": "os"},
        {"policy_tags": "gate"},
        {"bucket": "other"},
        {"status": "partial"},
        {"scan_timestamp": "x"},
    ],
)
def test_a_record_of_other_settings_or_an_incomplete_run_is_not_used(changes: dict[str, str]) -> None:
    assert not usable(record(**changes), SETTINGS, NOW)


@pytest.mark.parametrize(
    "changes", [{"files": ["../x"]}, {"files": []}, {"s3_prefix": "other/p/"}, {"exit_code": "0"}, {"files": "a"}]
)
def test_a_malformed_item_is_no_record(changes: dict[str, Any]) -> None:
    assert IdentityResult.from_item({**record().fields(), **changes}) is None


def test_identity_items_cannot_collide_with_function_items() -> None:
    key = identity_item_key(IDENTITY)
    assert key == IDENTITY_KEY_PREFIX + IDENTITY.key and not key.startswith("arn:")
