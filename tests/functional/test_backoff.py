"""Failures that back off: permanent failures are not retried by SQS, and the daily inventory re-enqueues a
failed code identity after 1, 2, 4, ... days; through the handler, the inventory and the emulator's queues."""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest

from local import runtime
from local.emulator import store_function_code
from qualys_lambda.cli import render_table
from qualys_lambda.config import Settings
from qualys_lambda.coverage import CoverageRow
from qualys_lambda.deps import Deps
from qualys_lambda.events import scan_request_event
from qualys_lambda.handler import handle
from qualys_lambda.inventory import collect
from qualys_lambda.qscanner import run_subprocess
from tests.functional.test_end_to_end_simulated import SIMULATOR, runs
from tests.support import (
    ACCOUNT,
    DAY_0,
    REGION,
    SCAN_LAG,
    VULNERABLE_CODE,
    FakeRunner,
    Resources,
    create_function,
    daily_inventories,
    lambda_context,
    make_deps,
    scan_queues,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"


def row_of(scanner: Deps, now: datetime, name: str = "orders-api") -> CoverageRow:
    (row,) = [r for r in collect(scanner, now) if r.function_name == name]
    return row


def depth(url: str) -> int:
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def at(day: int, lag: timedelta = SCAN_LAG) -> str:
    return (DAY_0 + timedelta(days=day) + lag).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.server
@pytest.mark.slow  # eight simulated days, a real QScanner stand-in process per run
def test_always_failing_function_costs_4_qscanner_runs_over_8_daily_inventories(
    server_resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulated QScanner, a real child process, exits 10 (artifact failure) for this function every time.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("QSCANNER_SIM_RUN_LOG", str(tmp_path / "runs.jsonl"))
    monkeypatch.setenv("QSCANNER_SIM_EXIT_CODE", "10")
    create_function()
    store_function_code(boto3.client("lambda"), boto3.client("s3"), "orders-api", runtime.zip_bytes(VULNERABLE_CODE))
    urls = scan_queues()
    env = {**os.environ, **{k: v for k, v in urls.items() if k != "dlq"}, "QSCANNER_PATH": SIMULATOR}
    env.update(QUALYS_SECRET_ARN=server_resources.secret_arn, RESULTS_S3_BUCKET=server_resources.bucket)
    env.update(SNS_TOPIC_ARN=server_resources.topic_arn, SCAN_CACHE_TABLE=server_resources.table)
    scanner = make_deps(Settings.from_env(env), run_subprocess, tmp_path / "work")

    per_day = daily_inventories(scanner, urls, range(8), lambda: len(runs(tmp_path)))

    # 1, 2 and 4 days after each attempt; before the back-off, 3 receives x 8 inventories = 24 runs.
    assert per_day == [1, 1, 0, 1, 0, 0, 0, 1] and sum(per_day) <= 10
    assert all(run["arn"].endswith(":function:orders-api") for run in runs(tmp_path))
    # Permanent: each message succeeded at its first receive; nothing waits for SQS or the DLQ.
    assert depth(urls["SCAN_QUEUE_URL"]) == 0 and depth(urls["dlq"]) == 0
    row = row_of(scanner, DAY_0 + timedelta(days=8))
    assert (row.reason, row.status, row.failure, row.attempts) == ("FAILED", "failed", "ARTIFACT_FAILURE", 4)
    assert row.detail.startswith("QScanner exited with code 10: artifact failure")
    assert (row.last_scan, row.next_retry_text) == (at(7), at(14))  # capped at RescanAfterDays (7)
    assert runtime.function_tags(boto3.Session(), FUNCTION_ARN)["QualysScanStatus"] == "failed"


@pytest.fixture
def urls(resources: Resources) -> dict[str, str]:
    return scan_queues()


def inventory_scanner(resources: Resources, urls: dict[str, str], runner: FakeRunner, tmp_path: Path) -> Deps:
    settings = settings_for(resources, **{k: v for k, v in urls.items() if k != "dlq"})
    return make_deps(settings, runner, tmp_path)


def test_transient_failure_is_retried_by_sqs_and_heals_at_the_next_retry(
    resources: Resources, urls: dict[str, str], tmp_path: Path
) -> None:
    # Output upload failures (exit 30) for the first three runs: the Qualys platform was down for a while.
    runner = FakeRunner()
    runner.on_call = lambda argv, env: setattr(runner, "exit_code", 30 if len(runner.calls) <= 3 else 0)
    create_function()
    scanner = inventory_scanner(resources, urls, runner, tmp_path)

    per_day = daily_inventories(scanner, urls, range(1), lambda: len(runner.calls))
    row = row_of(scanner, DAY_0 + SCAN_LAG)

    assert per_day == [3]  # retried by SQS as before: three receives, then the dead-letter queue
    assert depth(urls["dlq"]) == 1
    # Three receives of one request are one attempt: the back-off starts at 1 day.
    assert (row.reason, row.failure, row.attempts, row.next_retry_text) == ("FAILED", "TRANSIENT", 1, at(1))
    assert row.detail.startswith("QScanner exited with code 30: output or upload failure")

    per_day += daily_inventories(scanner, urls, range(1, 3), lambda: len(runner.calls))
    row = row_of(scanner, DAY_0 + timedelta(days=2))

    assert per_day == [3, 1, 0]  # healed at the next retry, then covered
    assert (row.reason, row.status, row.attempts, row.failure, row.detail) == ("SCANNED", "success", 0, "", "")
    assert row.as_json().keys().isdisjoint({"attempts", "next_retry", "failure"})
    assert json.loads(resources.messages()[-1]["Message"])["scan"]["status"] == "success"


def test_always_transient_failure_is_retried_by_sqs_once_then_by_the_back_off(
    resources: Resources, urls: dict[str, str], tmp_path: Path
) -> None:
    runner = FakeRunner(exit_code=30)  # the upload fails every time
    create_function()
    scanner = inventory_scanner(resources, urls, runner, tmp_path)

    per_day = daily_inventories(scanner, urls, range(8), lambda: len(runner.calls))
    row = row_of(scanner, DAY_0 + timedelta(days=8))

    # Day 0: three receives of the first request (SQS); then one run per back-off step (days 1, 3, 7).
    assert per_day == [3, 1, 0, 1, 0, 0, 0, 1] and sum(per_day) <= 10
    assert depth(urls["dlq"]) == 1  # only the first request reached the dead-letter queue
    assert (row.reason, row.failure, row.attempts) == ("FAILED", "TRANSIENT", 4)


def test_code_change_resets_the_back_off(resources: Resources, urls: dict[str, str], tmp_path: Path) -> None:
    runner = FakeRunner(exit_code=10)
    create_function()
    scanner = inventory_scanner(resources, urls, runner, tmp_path)

    def deploy_new_code(day: int) -> None:
        if day == 2:
            boto3.client("lambda").update_function_code(
                FunctionName="orders-api", ZipFile=runtime.zip_bytes({"app.py": "fixed = True\n"})
            )

    per_day = daily_inventories(scanner, urls, range(2), lambda: len(runner.calls), deploy_new_code)
    assert per_day == [1, 1]
    assert row_of(scanner, DAY_0 + timedelta(days=2)).next_retry_text == at(3)  # 2 days after the 2nd attempt

    per_day += daily_inventories(scanner, urls, range(2, 4), lambda: len(runner.calls), deploy_new_code)
    row = row_of(scanner, DAY_0 + timedelta(days=3) + SCAN_LAG)

    # The new code is scanned at day 2's inventory, and fails afresh: attempt 1, retried a day later.
    assert per_day == [1, 1, 1, 1]
    assert (row.attempts, row.last_scan, row.next_retry_text) == (2, at(3), at(5))


@pytest.mark.parametrize(
    ("exit_code", "reason", "retried"),
    [
        (2, "INVALID_PARAMETER", False),
        (5, "ARTIFACT_FAILURE", False),
        (10, "ARTIFACT_FAILURE", False),
        (1, "TRANSIENT", True),
        (11, "TRANSIENT", True),
        (30, "TRANSIENT", True),
    ],
)
def test_permanent_failure_is_recorded_and_its_message_succeeds(
    resources: Resources, tmp_path: Path, exit_code: int, reason: str, retried: bool
) -> None:
    create_function()
    scanner = make_deps(settings_for(resources), FakeRunner(exit_code=exit_code), tmp_path)
    request = scan_request_event(FUNCTION_ARN, ACCOUNT, REGION, False, "5b1a4c1e-0000-4000-8000-000000000001")
    event = runtime.bodies_batch([request], f"arn:aws:sqs:{REGION}:{ACCOUNT}:scan-requests")

    with runtime.captured_logs() as logs:
        result = handle(event, lambda_context(), scanner)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}] if retried else []}
    item = runtime.cache_item(boto3.Session(), resources.table, {"function_arn": {"S": FUNCTION_ARN}})
    assert (item["status"], item["failure_reason"], item["attempts"]) == ("failed", reason, 1)
    assert item["error"].startswith(f"QScanner exited with code {exit_code}: ")
    (outcome,) = runtime.message_outcomes(logs)
    assert outcome["outcome"] == ("failed" if retried else "scanned")
    assert json.loads(resources.messages()[0]["Message"])["scan"]["status"] == "failed"


def test_too_large_is_one_permanent_case_rechecked_after_its_back_off(
    resources: Resources, urls: dict[str, str], tmp_path: Path
) -> None:
    runner = FakeRunner()
    create_function()
    # /tmp too small for any zip (up to 250 MB unzipped): never a QScanner run.
    settings = settings_for(resources, EPHEMERAL_STORAGE_MB=300, **{k: v for k, v in urls.items() if k != "dlq"})
    scanner = make_deps(settings, runner, tmp_path)

    per_day = daily_inventories(scanner, urls, range(4), lambda: len(runner.calls))
    row = row_of(scanner, DAY_0 + timedelta(days=4))

    assert per_day == [0, 0, 0, 0] and depth(urls["dlq"]) == 0
    assert (row.reason, row.failure, row.attempts, row.next_retry_text) == ("TOO_LARGE", "TOO_LARGE", 3, at(7))
    assert "raise EphemeralStorageSize" in row.detail


def test_coverage_report_shows_attempts_and_next_retry(
    resources: Resources, urls: dict[str, str], tmp_path: Path
) -> None:
    create_function()
    create_function(name="billing", files={"app.py": "ok = 1\n"})
    runner = FakeRunner()
    runner.on_call = lambda argv, env: setattr(runner, "exit_code", 7 if argv[-1].endswith("orders-api") else 0)
    scanner = inventory_scanner(resources, urls, runner, tmp_path)
    daily_inventories(scanner, urls, range(2), lambda: len(runner.calls))
    rows = collect(scanner, DAY_0 + timedelta(days=2))

    report = {row.function_name: row.as_json() for row in rows}
    assert report["orders-api"]["attempts"] == 2 and report["orders-api"]["next_retry"] == at(3)
    assert report["orders-api"]["failure"] == "ARTIFACT_FAILURE"
    assert "attempts" not in report["billing"]
    table = io.StringIO()
    render_table(rows, table)
    header, *lines = table.getvalue().splitlines()
    assert header.split()[-3:] == ["ATTEMPTS", "NEXT", "RETRY"]
    (orders,) = [line for line in lines if line.startswith("orders-api")]
    assert orders.split()[-2:] == ["2", at(3)]
