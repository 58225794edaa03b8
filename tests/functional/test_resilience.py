"""Resilience against a real scanner process and real fleets: clean kills, unique prefixes, size, drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from local.emulator import store_function_code
from qualys_lambda.coverage import totals
from qualys_lambda.deps import Deps
from qualys_lambda.errors import ScanFailedError
from qualys_lambda.handler import handle
from qualys_lambda.inventory import collect
from qualys_lambda.qscanner import Runner
from tests.functional.test_end_to_end_simulated import make_scanner
from tests.support import (
    ACCOUNT,
    PLANTED_SECRET,
    REGION,
    TOKEN,
    VULNERABLE_CODE,
    FakeRunner,
    Resources,
    code_zip,
    create_function,
    lambda_context,
    load_event,
    run_inventory,
    sarif,
    settings_for,
)


def alive(pid: int) -> bool:
    """Whether `pid` still runs; a zombie (dead, not yet reaped by its new parent) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def helper_record(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text())
    return record


@pytest.fixture
def helper_scan(server_resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """orders-api on the moto server, and the simulator told to start a long-lived helper and write
    scratch files; returns the path of the helper's record."""
    # The simulator's `#!/usr/bin/env python3` must find an interpreter with boto3.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    create_function()
    store_function_code(boto3.client("lambda"), boto3.client("s3"), "orders-api", code_zip(VULNERABLE_CODE))
    record = tmp_path / "helper.json"
    monkeypatch.setenv("QSCANNER_SIM_SPAWN_HELPER", str(record))
    return record


@pytest.mark.server
def test_scan_past_its_deadline_leaves_no_process_and_no_scratch(
    helper_scan: Path, server_resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stuck QScanner: it ignores --scan-timeout and sleeps far past the scanner's 3 s deadline.
    monkeypatch.setenv("QSCANNER_SIM_DELAY", "60")
    monkeypatch.setenv("QSCANNER_SIM_IGNORE_SCAN_TIMEOUT", "1")
    monkeypatch.setenv("SCAN_TIMEOUT", "3")
    scanner = make_scanner(server_resources, tmp_path)
    with pytest.raises(ScanFailedError, match="timed out after 3 s"):
        handle(load_event("create_function"), lambda_context(), scanner)
    record = helper_record(helper_scan)
    assert record["scratch"].startswith(str(tmp_path / "work" / "qscanner-scan-"))
    assert not alive(record["helper_pid"])
    assert not Path(record["scratch"]).exists()
    assert not list((tmp_path / "work").glob("qscanner-scan-*"))
    assert server_resources.summary()["scan"]["status"] == "failed"


@pytest.mark.server
def test_scan_that_exits_kills_its_helpers_and_removes_scratch_keeping_cache(
    helper_scan: Path, server_resources: Resources, tmp_path: Path
) -> None:
    outcome = handle(load_event("create_function"), lambda_context(), make_scanner(server_resources, tmp_path))
    assert outcome["status"] == "success"
    record = helper_record(helper_scan)
    assert not alive(record["helper_pid"])
    assert not Path(record["scratch"]).exists()
    work = tmp_path / "work"
    assert not list(work.glob("qscanner-scan-*"))
    # What persists between scans: QScanner's cache directory and its HOME.
    assert (work / "qscanner-cache" / "simulated-vulndb.json").is_file()
    assert (work / "qscanner-home").is_dir()


def test_scratch_is_private_per_scan_and_cache_and_home_are_shared(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("manual_scan"), lambda_context(), scanner)
    handle(load_event("manual_scan"), lambda_context(), scanner)
    first, second = (call["env"] for call in runner.calls)
    assert first["TMPDIR"] != second["TMPDIR"]
    assert all(Path(env["TMPDIR"]).parent.name.startswith("qscanner-scan-") for env in (first, second))
    assert all(env["TMP"] == env["TEMP"] == env["TMPDIR"] for env in (first, second))
    assert first["HOME"] == second["HOME"]
    cache_dirs = {call["argv"][call["argv"].index("--cache-dir") + 1] for call in runner.calls}
    assert len(cache_dirs) == 1
    assert not list(Path(scanner.work_root).glob("qscanner-scan-*"))


def test_two_scans_in_one_second_keep_both_summaries(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    moment = datetime(2026, 11, 26, 21, 7, 35, tzinfo=UTC)
    scanner.clock = lambda: moment
    create_function()
    handle(load_event("manual_scan"), lambda_context(), scanner)
    handle(load_event("manual_scan"), lambda_context(), scanner)
    session = boto3.Session()
    summaries = [k for k in runtime.s3_keys(session, resources.bucket) if k.endswith("/summary.json")]
    assert len(summaries) == 2
    assert all("/20261126T210735Z-" in key for key in summaries)
    scan_ids = {runtime.s3_json(session, resources.bucket, key)["scan"]["scan_id"] for key in summaries}
    assert len(scan_ids) == 2
    assert all(any(scan_id in key for key in summaries) for scan_id in scan_ids)


# ---------------------------------------------------------------- drift: QScanner's output changed

NEW_FILE = "Report.v2.json"


def changing_output(runner: FakeRunner, change: Callable[[Path], None]) -> Runner:
    """`runner`, then `change` applied to the output directory: what a newer QScanner would leave."""

    def run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        completed = runner(argv, env, timeout)
        change(Path(argv[argv.index("--output-dir") + 1]))
        return completed

    return run


def schema_6(output: Path) -> None:
    """ScanResult.json with a SchemaVersion this scanner does not know, and a file it has never seen."""
    (path,) = output.glob("*-ScanResult.json")
    document = json.loads(path.read_text())
    document["SchemaVersion"] = 6
    document["QScannerVersion"] = "5.0.0"
    path.write_text(json.dumps(document))
    scan_id = path.name.removesuffix("-ScanResult.json")
    (output / f"{scan_id}-{NEW_FILE}").write_text(json.dumps({"secret": PLANTED_SECRET, "token": TOKEN}))


def recorded_metrics(scanner: Deps) -> list[Mapping[str, int]]:
    sent: list[Mapping[str, int]] = []
    scanner.metrics = sent.append
    return sent


def test_known_output_records_versions_and_no_drift(scanner: Deps, resources: Resources) -> None:
    metrics = recorded_metrics(scanner)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    scan = resources.summary()["scan"]
    assert (scan["qscanner_version"], scan["qscanner_schema_version"], scan["output_unrecognised"]) == (
        "4.8.0",
        "5",
        [],
    )
    assert metrics[-1]["QScannerOutputUnrecognised"] == 0


def test_unknown_schema_version_alarms_and_keeps_raw_files_redacted(
    scanner: Deps, resources: Resources, runner: FakeRunner
) -> None:
    scanner.runner = changing_output(runner, schema_6)
    metrics = recorded_metrics(scanner)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    scan = resources.summary()["scan"]
    assert scan["qscanner_version"] == "5.0.0" and scan["qscanner_schema_version"] == "6"
    assert scan["output_unrecognised"] == ["ScanResult.json SchemaVersion 6 is not a known one"]
    assert metrics[-1]["QScannerOutputUnrecognised"] == 1
    objects = runtime.s3_keys(boto3.Session(), resources.bucket)
    (raw,) = [key for key in objects if key.endswith(f"/raw/{scan['scan_id']}-{NEW_FILE}")]
    body = boto3.client("s3").get_object(Bucket=resources.bucket, Key=raw)["Body"].read().decode()
    assert PLANTED_SECRET not in body and TOKEN not in body and "[REDACTED]" in body


def test_sarif_rule_without_severity_alarms(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    report = sarif([4, 3])
    del report["runs"][0]["tool"]["driver"]["rules"][1]["properties"]["severity"]
    runner.sarif_text = json.dumps(report)
    metrics = recorded_metrics(scanner)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    assert resources.summary()["scan"]["output_unrecognised"] == [
        "1 SARIF rule(s) without a severity (properties.severity 1-5)"
    ]
    assert metrics[-1]["QScannerOutputUnrecognised"] == 1


def test_missing_sarif_where_vulnerabilities_were_asked_alarms(
    scanner: Deps, resources: Resources, runner: FakeRunner
) -> None:
    def drop_sarif(output: Path) -> None:
        for path in output.glob("*-Report.sarif.json"):
            path.unlink()

    scanner.runner = changing_output(runner, drop_sarif)
    metrics = recorded_metrics(scanner)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    summary = resources.summary()
    assert summary["scan"]["status"] == "partial"
    assert summary["scan"]["output_unrecognised"] == ["no SARIF vulnerability report was written"]
    assert metrics[-1]["QScannerOutputUnrecognised"] == 1


# ---------------------------------------------------------------- fit before fetch

GIB = 1024**3
IMAGE_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders:1.4"


def push_image(size: int) -> None:
    """An image of `size` compressed bytes in moto's ECR (moto reports the manifest's config size as the image's)."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="orders")
    layer = {
        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "size": size,
        "digest": "sha256:" + "a" * 64,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": size,
            "digest": "sha256:" + "b" * 64,
        },
        "layers": [layer],
    }
    ecr.put_image(repositoryName="orders", imageManifest=json.dumps(manifest), imageTag="1.4")


def image_function(resources: Resources) -> None:
    boto3.client("lambda").create_function(
        FunctionName="orders-api", Role=resources.role_arn, PackageType="Image", Code={"ImageUri": IMAGE_URI}
    )


def sqs_batch(event: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"messageId": "m-1", "body": json.dumps(event), "eventSource": "aws:sqs"}]}


def test_image_too_large_for_tmp_is_not_scanned_and_not_retried(
    scanner: Deps, resources: Resources, runner: FakeRunner
) -> None:
    scanner.settings = settings_for(resources, EPHEMERAL_STORAGE_MB=2048)
    metrics = recorded_metrics(scanner)
    push_image(3 * GIB)
    image_function(resources)

    result = handle(sqs_batch(load_event("create_function")), lambda_context(), scanner)

    assert result == {"batchItemFailures": []}  # a permanent outcome: SQS does not redeliver it
    assert runner.calls == []
    scan = resources.summary()["scan"]
    needed = 3 * GIB + 6 * GIB + 128 * 1024**2  # fetched + unpacked (twice) + margin
    assert scan["status"] == "failed" and scan["error"].startswith("TOO_LARGE: ")
    assert f"needs {needed} bytes of /tmp" in scan["error"]
    assert "raise EphemeralStorageSize (ephemeral_storage_size) to 9344 MB" in scan["error"]
    assert metrics[-1]["ScansTooLarge"] == 1 and metrics[-1]["ScansRun"] == 0
    (message,) = resources.messages()
    assert json.loads(message["Message"])["scan"]["error"] == scan["error"]


def test_image_that_fits_is_scanned(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    scanner.settings = settings_for(resources, EPHEMERAL_STORAGE_MB=10240)
    push_image(3 * GIB)
    image_function(resources)
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome["status"] == "success" and len(runner.calls) == 1


def test_too_large_shows_in_coverage_and_is_not_requeued(
    scanner: Deps, resources: Resources, runner: FakeRunner
) -> None:
    queue = boto3.client("sqs").create_queue(QueueName="scan-requests")["QueueUrl"]
    # Below Lambda's 512 MB floor on purpose: a tiny zip must then not fit (up to 250 MB unzipped + margin).
    scanner.settings = settings_for(resources, EPHEMERAL_STORAGE_MB=300, SCAN_QUEUE_URL=queue)
    create_function()
    assert handle(load_event("create_function"), lambda_context(), scanner)["reason"] == "TOO_LARGE"

    rows = collect(scanner, datetime.now(UTC))
    (row,) = [r.as_json() for r in rows if r.function_name == "orders-api"]
    assert row["reason"] == "TOO_LARGE" and row["status"] == "failed"
    assert "raise EphemeralStorageSize (ephemeral_storage_size) to" in row["detail"]
    assert totals(rows)["TOO_LARGE"] == 1 and totals(rows)["uncovered"] == 1

    inventory = run_inventory(scanner, queue)
    assert inventory["enqueued"] == 0 and runner.calls == []


def test_memory_too_small_names_scanner_memory_size(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    scanner.settings = settings_for(resources, AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256)
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome["reason"] == "TOO_LARGE" and runner.calls == []
    assert "raise ScannerMemorySize (scanner_memory_size) to 281 MB" in resources.summary()["scan"]["error"]
