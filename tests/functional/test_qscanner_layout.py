"""QScanner's documented output layout end to end through the handler: counts, SNS, Security Hub, secrets."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from tests.support import (
    ACCOUNT,
    PLANTED_SECRET,
    REGION,
    TOKEN,
    FakeRunner,
    Resources,
    create_function,
    lambda_context,
    load_event,
    make_deps,
    settings_for,
)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "qscanner-Report.sarif.json"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
CLIENT_SECRET = json.dumps(
    {"qualys_pod": "EU2", "qualys_client_id": "client-id-0042", "qualys_client_secret": "client-secret-0042"}
)


def hub_scanner(resources: Resources, runner: Any, tmp_path: Path, **settings: str) -> Deps:
    """A scanner with every destination on: S3, SNS, cache, tags, Security Hub, the scan event."""
    config = settings_for(resources, ENABLE_SECURITY_HUB="true", **settings)
    return make_deps(config, runner, tmp_path, access=AwsAccess(ACCOUNT, home_region=REGION, home_client=aws.client))


@pytest.fixture
def hub(resources: Resources) -> Resources:
    boto3.client("securityhub").enable_security_hub()
    create_function()
    return resources


def s3_bodies(bucket: str) -> dict[str, tuple[bytes, str]]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    objects = {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}
    return {key.rsplit("/", 1)[1]: (o["Body"].read(), o["ContentType"]) for key, o in objects.items()}


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log record with its `extra` fields, as the JSON log format would print them."""
    return json.dumps([{**r.__dict__, "message": r.getMessage()} for r in caplog.records], default=str)


def hub_findings() -> list[dict[str, Any]]:
    pages = boto3.client("securityhub").get_paginator("get_findings").paginate()
    return [f for page in pages for f in page["Findings"]]


def test_documented_layout_gives_counts_max_severity_cves_packages_and_hub_severities(
    hub: Resources, tmp_path: Path
) -> None:
    runner = FakeRunner(sarif_text=FIXTURE.read_text(), secrets=0)
    handle(load_event("create_function"), lambda_context(), hub_scanner(hub, runner, tmp_path))

    summary = json.loads(next(b for name, (b, _) in s3_bodies(hub.bucket).items() if name == "summary.json"))
    assert summary["schema_version"] == 3
    assert summary["findings"]["vulnerabilities"] == {
        "critical": 1,
        "high": 1,
        "medium": 2,
        "low": 0,
        "info": 0,
        "total": 4,
    }
    assert summary["findings"]["max_severity"] == "critical"
    assert summary["findings"]["top"][0]["cves"] == ["CVE-2020-14343"]
    assert summary["findings"]["top"][0]["packages"] == ["pyyaml 5.3.1 (fixed in 5.4)"]
    # The rules' `properties.qds` (QScanner README v4.8.0) reaches the summary, with each QID's priority.
    assert [(v["qid"], v["qds"]) for v in summary["findings"]["top"]] == [
        ("5000101", 95),
        ("5000102", 70),
        ("5000103", 70),
        ("5000104", 70),
    ]
    assert summary["findings"]["max_qds"] == 95
    assert summary["findings"]["top"][0]["priority"] == "P2"
    (message,) = hub.messages()
    assert message["MessageAttributes"]["max_severity"]["Value"] == "critical"
    by_qid = {f["ProductFields"]["qualys-lambda/Qid"]: f for f in hub_findings()}
    assert {q: f["Severity"]["Label"] for q, f in by_qid.items()} == {
        "5000101": "CRITICAL",
        "5000102": "HIGH",
        "5000103": "MEDIUM",
        "5000104": "MEDIUM",
    }
    shared = by_qid["5000103"]["Vulnerabilities"][0]
    assert shared["Id"] == "CVE-2023-32681" and shared["RelatedVulnerabilities"] == ["CVE-2024-35195"]
    assert shared["VulnerablePackages"] == [
        {
            "Name": "requests",
            "Version": "2.19.1",
            "FixedInVersion": "2.32.0",
            "FilePath": "/var/task/requests-2.19.1.dist-info/METADATA",
        }
    ]
    assert by_qid["5000101"]["Vulnerabilities"][0]["Cvss"][0]["BaseScore"] == 9.8
    assert by_qid["5000103"]["Title"] == "requests proxy credential leak"


def test_planted_secret_text_reaches_nothing_the_product_writes(
    hub: Resources, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner = FakeRunner(secrets=2, stderr=f"found {PLANTED_SECRET}")
    handle(load_event("create_function"), lambda_context(), hub_scanner(hub, runner, tmp_path))

    stored = s3_bodies(hub.bucket)
    scan_result = next(body for name, (body, _) in stored.items() if name.endswith("-ScanResult.json"))
    secrets = json.loads(scan_result)["SecretResults"][0]["Secrets"]
    assert [(s["RuleID"], s["StartLine"]) for s in secrets] == [("aws-access-key-id", 2), ("aws-access-key-id", 3)]
    tags = boto3.client("lambda", region_name=REGION).list_tags(Resource=FUNCTION_ARN)["Tags"]
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=hub.table, Key={"function_arn": {"S": FUNCTION_ARN}}
    )["Item"]
    secret_findings = [f for f in hub_findings() if "/secret/" in f["Id"]]
    written = [
        *(body for body, _ in stored.values()),
        json.dumps(hub.messages()).encode(),
        json.dumps(hub_findings()).encode(),
        json.dumps(tags).encode(),
        json.dumps(item).encode(),
        logged(caplog).encode(),
    ]
    assert len(secret_findings) == 2
    assert all(PLANTED_SECRET.encode() not in blob for blob in written)


def test_stored_files_have_their_content_types_and_no_binary_changelists(hub: Resources, tmp_path: Path) -> None:
    def sboms(argv: list[str], env: dict[str, str]) -> None:
        out = Path(argv[argv.index("--output-dir") + 1])
        (out / "s-ScanResult.spdx.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
        (out / "s-unnamed.json").write_text(json.dumps({"bomFormat": "CycloneDX"}))
        (out / "s-ChangeList.db.xz").write_bytes(b"\xfd7zXZ\x00\x00binary")

    handle(load_event("create_function"), lambda_context(), hub_scanner(hub, FakeRunner(on_call=sboms), tmp_path))

    types = {
        name.split("-", 5)[-1] if name != "summary.json" else name: t for name, (_, t) in s3_bodies(hub.bucket).items()
    }
    assert sorted(types.values()) == [
        "application/json",
        "application/json",
        "application/sarif+json",
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
    ]
    assert not any(name.endswith(".xz") for name in s3_bodies(hub.bucket))


@pytest.mark.parametrize(
    ("runner_kwargs", "problem"),
    [
        ({"sarif_text": "{not json"}, "SARIF report is not valid JSON"),
        ({"sarif_text": '{"version": "2.1.0", "runs": []}'}, "SARIF report has no runs"),
        ({"failed_scans": ("secret",)}, "scans not successful: secret"),
    ],
    ids=["bad-json", "no-runs", "failed-scan"],
)
def test_unreadable_report_or_failed_scan_is_partial_with_reason(
    scanner: Deps, resources: Resources, runner_kwargs: dict[str, Any], problem: str
) -> None:
    scanner.runner = FakeRunner(**runner_kwargs)
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    summary = json.loads(s3_bodies(resources.bucket)["summary.json"][0])
    assert outcome["status"] == "partial" and summary["scan"]["status"] == "partial"
    assert problem in summary["scan"]["problems"]


def test_client_credentials_reach_qscanner_environment_only(
    scanner: Deps, resources: Resources, runner: FakeRunner
) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=resources.secret_arn, SecretString=CLIENT_SECRET)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    (call,) = runner.calls
    env, argv = call["env"], call["argv"]
    assert (env["QUALYS_CLIENT_ID"], env["QUALYS_CLIENT_SECRET"]) == ("client-id-0042", "client-secret-0042")
    assert "QUALYS_ACCESS_TOKEN" not in env and "client-secret-0042" not in " ".join(argv)
    assert argv[argv.index("--pod") + 1] == "EU2" and env["HOME"].startswith(scanner.work_root)


def test_gateway_url_in_secret_replaces_pod(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    gov = json.loads(CLIENT_SECRET) | {"qualys_gateway_url": "https://gateway.qg1.apps.qualysgov.com"}
    boto3.client("secretsmanager").put_secret_value(SecretId=resources.secret_arn, SecretString=json.dumps(gov))
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    argv = runner.calls[0]["argv"]
    assert "--pod" not in argv and argv[argv.index("--gateway-url") + 1] == "https://gateway.qg1.apps.qualysgov.com"


def test_rejected_credentials_reread_rotated_secret_and_rescan(
    scanner: Deps, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    envs: list[dict[str, str]] = []

    def runner(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        envs.append(env)
        if len(envs) == 1:
            # Someone rotates the secret while the old copy is still cached: QScanner rejects the old one.
            boto3.client("secretsmanager").put_secret_value(SecretId=resources.secret_arn, SecretString=CLIENT_SECRET)
            return subprocess.CompletedProcess(
                argv, 1, "", f"error: authentication failed: 401 {env['QUALYS_ACCESS_TOKEN']}"
            )
        return FakeRunner()(argv, env, timeout)

    scanner.runner = runner
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome["status"] == "success" and len(envs) == 2
    assert envs[1]["QUALYS_CLIENT_ID"] == "client-id-0042" and "QUALYS_ACCESS_TOKEN" not in envs[1]
    assert scanner.secrets.reads == 2
    assert "401 [REDACTED]" in logged(caplog) and TOKEN not in logged(caplog)


def test_generic_failure_without_authentication_words_does_not_reread(scanner: Deps, resources: Resources) -> None:
    scanner.runner = FakeRunner(exit_code=1, stderr="error: disk full")
    create_function()
    with pytest.raises(Exception, match="generic error"):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert scanner.secrets.reads == 1
