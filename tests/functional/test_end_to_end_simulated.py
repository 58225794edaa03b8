"""The scanner with the real subprocess runner and the simulated QScanner, on the session's moto server."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from local.emulator import store_function_code
from qualys_lambda.config import Settings
from qualys_lambda.deps import Deps
from qualys_lambda.errors import ScanFailedError
from qualys_lambda.handler import handle
from qualys_lambda.qscanner import run_subprocess
from tests.support import (
    ACCOUNT,
    REGION,
    TOKEN,
    VULNERABLE_CODE,
    Resources,
    code_zip,
    create_function,
    lambda_context,
    load_event,
    make_deps,
)

SIMULATOR = str(Path(__file__).resolve().parents[2] / "local" / "qscanner")
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
pytestmark = pytest.mark.server


@pytest.fixture
def simulated(server_resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deps:
    """A scanner whose QScanner is the simulator, run as a real child process."""
    # The simulator's `#!/usr/bin/env python3` must find an interpreter with boto3.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("QSCANNER_SIM_RUN_LOG", str(tmp_path / "runs.jsonl"))
    create_function()
    store_function_code(boto3.client("lambda"), boto3.client("s3"), "orders-api", code_zip(VULNERABLE_CODE))
    return make_scanner(server_resources, tmp_path)


def make_scanner(resources: Resources, tmp_path: Path, qscanner_path: str = SIMULATOR) -> Deps:
    env = {
        **os.environ,
        "QUALYS_SECRET_ARN": resources.secret_arn,
        "RESULTS_S3_BUCKET": resources.bucket,
        "SNS_TOPIC_ARN": resources.topic_arn,
        "SCAN_CACHE_TABLE": resources.table,
        "QSCANNER_PATH": qscanner_path,
    }
    return make_deps(Settings.from_env(env), run_subprocess, tmp_path / "work")


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "runs.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_simulated_scan_finds_vulnerable_package_and_planted_key(
    simulated: Deps, server_resources: Resources, tmp_path: Path
) -> None:
    outcome = handle(load_event("create_function"), lambda_context(), simulated)
    result = server_resources.summary()
    assert outcome["outcome"] == "scanned" and result["scan"]["simulated"] is True
    assert result["findings"]["vulnerabilities"]["high"] == 1  # requests 2.19.1, CVE-2018-18074
    assert result["findings"]["secrets"] == 1
    tags = runtime.function_tags(boto3.Session(), FUNCTION_ARN)
    assert tags["QualysScanStatus"] == "success" and tags["QualysScanTag"] == result["scan"]["scan_id"]
    (run,) = runs(tmp_path)
    assert run["caller_account"] == ACCOUNT and run["arn"] == FUNCTION_ARN
    assert not list((tmp_path / "work").glob("qscanner-scan-*"))


@pytest.mark.parametrize(
    ("code", "policy_tags", "status", "policy"), [("40", "", "partial", ""), ("42", "prod", "success", "DENY")]
)
def test_simulated_exit_codes_finish_scan(
    simulated: Deps,
    server_resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    policy_tags: str,
    status: str,
    policy: str,
) -> None:
    monkeypatch.setenv("QSCANNER_SIM_EXIT_CODE", code)
    monkeypatch.setenv("POLICY_TAGS", policy_tags)
    scanner = make_scanner(server_resources, Path(simulated.work_root).parent)
    handle(load_event("create_function"), lambda_context(), scanner)
    assert (server_resources.summary()["scan"]["status"], server_resources.summary()["scan"]["policy"]) == (
        status,
        policy,
    )


def test_simulated_policy_gate_verdict_reaches_summary_tag_and_sns(
    simulated: Deps, server_resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_TAGS", "production")
    scanner = make_scanner(server_resources, Path(simulated.work_root).parent)
    handle(load_event("create_function"), lambda_context(), scanner)
    # requests 2.19.1 is the worst finding (high): the simulated central policy answers AUDIT (exit 43).
    assert server_resources.summary()["scan"]["policy"] == "AUDIT"
    assert boto3.client("lambda").list_tags(Resource=FUNCTION_ARN)["Tags"]["QualysScanPolicy"] == "AUDIT"
    (message,) = server_resources.messages()
    assert message["MessageAttributes"]["policy"]["Value"] == "AUDIT"


def test_simulated_planted_key_is_located_but_never_stored(simulated: Deps, server_resources: Resources) -> None:
    handle(load_event("create_function"), lambda_context(), simulated)
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=server_resources.bucket)["Contents"]]
    bodies = [s3.get_object(Bucket=server_resources.bucket, Key=k)["Body"].read() for k in keys]
    assert server_resources.summary()["findings"]["secret_locations"][0]["file"] == "app.py"
    assert all(b"AKIAIOSFODNN7EXAMPLE" not in body for body in bodies)
    assert all(b"AKIAIOSFODNN7EXAMPLE" not in json.dumps(m).encode() for m in server_resources.messages())
    assert not any(k.endswith(".xz") for k in keys)


def test_simulated_token_echo_never_reaches_logs_s3_or_sns(
    simulated: Deps, server_resources: Resources, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="qualys_lambda")
    monkeypatch.setenv("QSCANNER_SIM_ECHO_TOKEN", "1")
    monkeypatch.setenv("QSCANNER_SIM_EXIT_CODE", "1")
    scanner = make_scanner(server_resources, Path(simulated.work_root).parent)
    with pytest.raises(ScanFailedError):
        handle(load_event("create_function"), lambda_context(), scanner)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "[REDACTED]" in logged and TOKEN not in logged
    assert TOKEN not in json.dumps(server_resources.summary())
    assert all(TOKEN not in json.dumps(m) for m in server_resources.messages())


def test_simulated_cache_hit_skips_second_run(simulated: Deps, tmp_path: Path) -> None:
    handle(load_event("create_function"), lambda_context(), simulated)
    outcome = handle(load_event("update_function_configuration"), lambda_context(), simulated)
    assert outcome["outcome"] == "cache_hit" and len(runs(tmp_path)) == 1


def test_missing_binary_fails_scan(
    server_resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_function()
    scanner = make_scanner(server_resources, tmp_path, qscanner_path=str(tmp_path / "no-such-qscanner"))
    with pytest.raises(ScanFailedError, match="binary not found"):
        handle(load_event("create_function"), lambda_context(), scanner)


def test_simulated_scan_stores_spdx_and_cyclonedx_sboms(simulated: Deps, server_resources: Resources) -> None:
    handle(load_event("create_function"), lambda_context(), simulated)
    result = server_resources.summary()
    s3 = boto3.client("s3")
    assert set(result["sbom"]) == {"spdx", "cyclonedx"}
    spdx = json.loads(s3.get_object(Bucket=server_resources.bucket, Key=result["sbom"]["spdx"])["Body"].read())
    cdx = json.loads(s3.get_object(Bucket=server_resources.bucket, Key=result["sbom"]["cyclonedx"])["Body"].read())
    assert spdx["spdxVersion"] == "SPDX-2.3" and cdx["bomFormat"] == "CycloneDX"
    assert "requests" in {p["name"] for p in spdx["packages"]}
    assert "requests" in {c["name"] for c in cdx["components"]}
