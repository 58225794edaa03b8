"""One scan per artifact (ScanIdenticalCodeOnce, issue 19 item 5): functions that share a code identity share
one QScanner run, each receiving the result as its own; through the handler with moto in-process."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from local.runtime import zip_bytes as code_zip
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from qualys_lambda.publish import TAG_SCAN_ID, TAG_STATUS, TAG_TIMESTAMP
from qualys_lambda.securityhub import product_arn
from tests.support import (
    ACCOUNT,
    REGION,
    VULNERABLE_CODE,
    FakeRunner,
    Resources,
    create_function,
    daily_inventories,
    event_for,
    lambda_context,
    make_deps,
    scan_queues,
    settings_for,
)

OTHER_REGION = "us-west-2"
# Two copies in one region (a StackSet's or a promotion's), one in another region; all the same code.
COPIES = (("orders-api", REGION), ("orders-worker", REGION), ("orders-api", OTHER_REGION))


def scan_event(name: str, region: str) -> dict[str, Any]:
    event = event_for(name)
    event["region"] = region
    return event


def scan_all(scanner: Deps) -> list[dict[str, Any]]:
    return [handle(scan_event(name, region), lambda_context(), scanner) for name, region in COPIES]


def summaries(resources: Resources) -> dict[str, list[dict[str, Any]]]:
    """Every summary.json in the results bucket, by the function it is about."""
    session = boto3.Session(region_name=REGION)
    found: dict[str, list[dict[str, Any]]] = {}
    for key in runtime.s3_keys(session, resources.bucket):
        if key.endswith("/summary.json"):
            summary = runtime.s3_json(session, resources.bucket, key)
            found.setdefault(summary["function"]["arn"], []).append(summary)
    return found


def tags_of(arn: str) -> dict[str, str]:
    tags: dict[str, str] = boto3.client("lambda", region_name=arn.split(":")[3]).list_tags(Resource=arn)["Tags"]
    return tags


def findings_of(arn: str) -> list[dict[str, Any]]:
    region = arn.split(":")[3]
    session = boto3.Session(region_name=region)
    return runtime.security_hub_findings(session, product_arn("aws", region, ACCOUNT), arn)


@pytest.fixture
def copies(resources: Resources) -> list[str]:
    """The three functions, created from one zip so their CodeSha256 is the same; Security Hub on."""
    for region in (REGION, OTHER_REGION):
        boto3.client("securityhub", region_name=region).enable_security_hub()
    code = code_zip(VULNERABLE_CODE)
    return [create_function(name, region=region, zip_file=code) for name, region in COPIES]


@pytest.fixture
def metrics() -> list[dict[str, int]]:
    return []


def reuse_scanner(
    resources: Resources, runner: FakeRunner, tmp_path: Path, metrics: list[dict[str, int]], on: bool = True
) -> Deps:
    settings = settings_for(resources, ENABLE_SECURITY_HUB="true", SCAN_IDENTICAL_CODE_ONCE="true" if on else "false")
    return make_deps(settings, runner, tmp_path, metrics=lambda values: metrics.append(dict(values)))


def totals(metrics: list[dict[str, int]]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for values in metrics:
        counted.update(values)
    return counted


def test_identical_code_is_scanned_once_and_each_copy_gets_its_own_results(
    resources: Resources, copies: list[str], tmp_path: Path, metrics: list[dict[str, int]]
) -> None:
    runner = FakeRunner()
    outcomes = scan_all(reuse_scanner(resources, runner, tmp_path, metrics))

    assert len(runner.calls) == 1  # one QScanner run for three functions
    assert [o["outcome"] for o in outcomes] == ["scanned"] * 3
    assert totals(metrics)["ScansRun"] == 1 and totals(metrics)["ScansReused"] == 2
    scanned, *reusing = copies
    stored = summaries(resources)
    assert sorted(stored) == sorted(copies)  # each function has its own summary, under its own ARN
    (original,) = stored[scanned]
    assert "reused_from" not in original["scan"]
    scan_id = original["scan"]["scan_id"]
    for arn in reusing:
        (summary,) = stored[arn]
        assert summary["function"]["arn"] == arn
        assert summary["scan"]["status"] == "success"
        assert summary["scan"]["reused_from"] == {
            "function_arn": scanned,
            "scan_id": scan_id,
            "s3_prefix": original["s3"]["prefix"],
            "identity": summary["scan"]["reused_from"]["identity"],
            "scan_timestamp": original["scan"]["started_at"],
        }
        assert summary["findings"] == original["findings"]
        # Its own prefix holds its own copy of QScanner's files, named in its own summary.
        assert summary["s3"]["prefix"] != original["s3"]["prefix"]
        assert arn.split(":")[-1] in summary["s3"]["prefix"]
        keys = runtime.s3_keys(boto3.Session(region_name=REGION), resources.bucket, summary["s3"]["prefix"])
        assert any(key.endswith("-Report.sarif.json") for key in keys)
        assert any(key.endswith("-ScanResult.json") for key in keys)
    # Tags, SNS and Security Hub: every function its own, the reused ones with the scanned run's id and time.
    for arn in copies:
        tags = tags_of(arn)
        assert tags[TAG_STATUS] == "success" and tags[TAG_SCAN_ID] == scan_id
        assert tags[TAG_TIMESTAMP] == original["scan"]["started_at"]
        findings = findings_of(arn)
        assert len(findings) == 5  # four QIDs and one secret, on this function's ARN
        assert all(f["Resources"][0]["Id"] == arn for f in findings)
    messages = [json.loads(m["Message"]) for m in resources.messages()]
    assert sorted(m["function"]["arn"] for m in messages) == sorted(copies)
    assert sum("reused_from" in m["scan"] for m in messages) == 2


def test_a_code_change_of_one_copy_scans_it_again(
    resources: Resources, copies: list[str], tmp_path: Path, metrics: list[dict[str, int]]
) -> None:
    runner = FakeRunner()
    scanner = reuse_scanner(resources, runner, tmp_path, metrics)
    scan_all(scanner)
    assert len(runner.calls) == 1

    changed = copies[1]
    boto3.client("lambda", region_name=REGION).update_function_code(
        FunctionName=changed, ZipFile=code_zip({**VULNERABLE_CODE, "app.py": "print('fixed')\n"})
    )
    outcome = handle(scan_event("orders-worker", REGION), lambda_context(), scanner)

    assert outcome["outcome"] == "scanned"
    assert len(runner.calls) == 2  # new code, new identity: a real run
    first, second = sorted(summaries(resources)[changed], key=lambda s: "reused_from" in s["scan"])
    assert "reused_from" not in first["scan"] and "reused_from" in second["scan"]
    assert first["function"]["code_sha256"] != second["function"]["code_sha256"]
    # The unchanged copies are still what they were (cached): no further run.
    assert handle(scan_event("orders-api", OTHER_REGION), lambda_context(), scanner)["outcome"] == "cache_hit"
    assert len(runner.calls) == 2


def test_option_off_runs_qscanner_for_every_copy(
    resources: Resources, copies: list[str], tmp_path: Path, metrics: list[dict[str, int]]
) -> None:
    runner = FakeRunner()
    scan_all(reuse_scanner(resources, runner, tmp_path, metrics, on=False))

    assert len(runner.calls) == 3
    assert totals(metrics)["ScansRun"] == 3 and totals(metrics)["ScansReused"] == 0
    assert all("reused_from" not in s["scan"] for found in summaries(resources).values() for s in found)


def test_unreadable_stored_files_fall_back_to_a_real_run(
    resources: Resources,
    copies: list[str],
    tmp_path: Path,
    metrics: list[dict[str, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = FakeRunner()
    scanner = reuse_scanner(resources, runner, tmp_path, metrics)
    handle(scan_event(*COPIES[0]), lambda_context(), scanner)
    # The scanned run's QScanner files are gone from the bucket (a lifecycle rule, an operator).
    s3 = boto3.client("s3", region_name=REGION)
    for key in runtime.s3_keys(boto3.Session(region_name=REGION), resources.bucket):
        if not key.endswith("/summary.json"):
            s3.delete_object(Bucket=resources.bucket, Key=key)

    with caplog.at_level(logging.WARNING):
        outcome = handle(scan_event(*COPIES[1]), lambda_context(), scanner)

    assert outcome["outcome"] == "scanned" and outcome["status"] == "success"
    assert len(runner.calls) == 2
    (summary,) = summaries(resources)[copies[1]]
    assert "reused_from" not in summary["scan"]
    warnings = [r for r in caplog.records if r.getMessage() == "stored result unreadable, running QScanner"]
    assert len(warnings) == 1
    # The new complete run is now the identity's record: the third copy reuses it.
    handle(scan_event(*COPIES[2]), lambda_context(), scanner)
    assert len(runner.calls) == 2
    (third,) = summaries(resources)[copies[2]]
    assert third["scan"]["reused_from"]["function_arn"] == copies[1]


def test_a_failed_or_partial_scan_is_not_reused(
    resources: Resources, copies: list[str], tmp_path: Path, metrics: list[dict[str, int]]
) -> None:
    runner = FakeRunner(exit_code=40)  # report not ready: partial
    scanner = reuse_scanner(resources, runner, tmp_path, metrics)
    handle(scan_event(*COPIES[0]), lambda_context(), scanner)
    runner.exit_code = 10  # artifact failure: failed, permanent
    handle(scan_event(*COPIES[1]), lambda_context(), scanner)
    runner.exit_code = 0
    handle(scan_event(*COPIES[2]), lambda_context(), scanner)

    assert len(runner.calls) == 3
    assert all("reused_from" not in s["scan"] for found in summaries(resources).values() for s in found)


def test_through_the_inventory_and_the_scan_queue_copies_cost_one_run(
    resources: Resources, tmp_path: Path, metrics: list[dict[str, int]]
) -> None:
    # Three copies and one other function in this region; the daily inventory enqueues all four.
    code = code_zip(VULNERABLE_CODE)
    copies = [create_function(name, zip_file=code) for name in ("copy-a", "copy-b", "copy-c")]
    other = create_function("other", files={"app.py": "x = 1\n"})
    urls = scan_queues()
    runner = FakeRunner()
    settings = settings_for(resources, SCAN_IDENTICAL_CODE_ONCE="true", **{k: v for k, v in urls.items() if k != "dlq"})
    scanner = make_deps(settings, runner, tmp_path, metrics=lambda values: metrics.append(dict(values)))

    per_day = daily_inventories(scanner, urls, range(2), lambda: len(runner.calls))

    assert per_day == [2, 0]  # one run for the three copies, one for the other function; then all cached
    assert other in {call["argv"][-1] for call in runner.calls}
    stored = summaries(resources)
    assert sorted(stored) == sorted([*copies, other])
    assert sum("reused_from" in s["scan"] for found in stored.values() for s in found) == 2
