"""The scanner end to end under moto with a fake QScanner runner: what lands in S3, SNS, tags, DynamoDB."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest

from local import runtime
from qualys_lambda import aws as aws_module
from qualys_lambda.deps import Deps
from qualys_lambda.errors import DeliveryError, ScanFailedError
from qualys_lambda.handler import handle
from tests.support import (
    ACCOUNT,
    REGION,
    RESULTS_KEY,
    SCANNER_ARN,
    SUPPORTED_RUNTIME,
    TOKEN,
    FakeRunner,
    Resources,
    atomic_dynamodb_writes,
    create_function,
    event_for,
    lambda_context,
    load_event,
    make_deps,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"


def tags_of(arn: str = FUNCTION_ARN) -> dict[str, str]:
    return runtime.function_tags(boto3.Session(region_name=REGION), arn)


def s3_objects(bucket: str) -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}


def cache_item(table: str, arn: str = FUNCTION_ARN) -> dict[str, Any]:
    return boto3.client("dynamodb", region_name=REGION).get_item(TableName=table, Key={"function_arn": {"S": arn}})[
        "Item"
    ]


def fresh_scanner(scanner: Deps, runner: FakeRunner) -> Deps:
    """A new container: same settings, a new secret cache."""
    return make_deps(scanner.settings, runner, scanner.work_root, access=scanner.aws)


def test_scan_create_event_tags_function(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    tags = tags_of()
    assert outcome["outcome"] == "scanned"
    assert tags["QualysScanStatus"] == "success"
    assert tags["QualysScanTag"] == outcome["scan_id"]
    assert len(tags["QualysScanTimestamp"]) == 20 and tags["QualysScanTimestamp"].endswith("Z")
    assert sorted(k for k in tags if k.startswith("QualysScan")) == [
        "QualysScanStatus",
        "QualysScanTag",
        "QualysScanTimestamp",
    ]


def test_scan_create_event_stores_summary_and_raw_files_under_bucket_default_key(
    scanner: Deps, resources: Resources
) -> None:
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    objects = s3_objects(resources.bucket)
    names = sorted(key.rsplit("/", 1)[1] for key in objects)
    assert names == sorted(
        ["summary.json", f"{outcome['scan_id']}-ScanResult.json", f"{outcome['scan_id']}-Report.sarif.json"]
    )
    assert all(key.startswith(f"scans/{ACCOUNT}/{REGION}/orders-api/") for key in objects)
    assert {(obj["ServerSideEncryption"], obj["SSEKMSKeyId"]) for obj in objects.values()} == {("aws:kms", RESULTS_KEY)}
    summary = resources.summary()
    assert summary["function"]["arn"] == FUNCTION_ARN
    assert summary["function"]["runtime"] == SUPPORTED_RUNTIME
    assert summary["scan"]["trigger"] == {
        "event_name": "CreateFunction20150331",
        "event_id": "6f2c7b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
    }
    assert summary["findings"]["vulnerabilities"] == {
        "critical": 1,
        "high": 2,
        "medium": 0,
        "low": 1,
        "info": 0,
        "total": 4,
    }
    assert summary["findings"]["secrets"] == 1
    assert summary["s3"]["summary_key"].endswith("/summary.json")


def test_scan_create_event_publishes_sns_with_attributes(scanner: Deps, resources: Resources) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    (envelope,) = resources.messages()
    assert envelope["Subject"] == "QScanner Results: orders-api"
    assert json.loads(envelope["Message"]) == resources.summary()
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "status": "success",
        "max_severity": "critical",
        "account": ACCOUNT,
        # Schema 3: a first scan reports everything as new; a critical on a private function is P2.
        "new_findings": "4",
        "new_max_severity": "critical",
        "priority": "P2",
    }


def test_scan_create_event_records_cache_entry(scanner: Deps, resources: Resources) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    item = cache_item(resources.table)
    code_sha = boto3.client("lambda").get_function(FunctionName="orders-api")["Configuration"]["CodeSha256"]
    assert item["code_sha256"]["S"] == code_sha
    assert item["status"]["S"] == "success"
    assert item["layers"] == {"L": []}
    assert item["s3_prefix"]["S"].startswith(f"scans/{ACCOUNT}/{REGION}/orders-api/")
    assert int(item["ttl"]["N"]) > 0 and "claim_expires" not in item
    assert item["scan_timestamp"]["S"] == tags_of()["QualysScanTimestamp"]


def test_qscanner_argv_has_no_token_and_env_has_token_and_target(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    (call,) = runner.calls
    argv, env = call["argv"], call["env"]
    output_dir = argv[argv.index("--output-dir") + 1]
    assert argv == [
        "/opt/bin/qscanner",
        "--pod",
        "US2",
        "--output-dir",
        output_dir,
        "--cache-dir",
        str(Path(scanner.work_root) / "qscanner-cache"),
        "--scan-types",
        "pkg,secret",
        "--scan-timeout",
        "860s",
        "--format",
        "json,spdx,cyclonedx",
        "lambda",
        FUNCTION_ARN,
    ]
    assert TOKEN not in " ".join(argv)
    assert env["QUALYS_ACCESS_TOKEN"] == TOKEN
    own = boto3.Session().get_credentials().get_frozen_credentials()
    assert env["AWS_REGION"] == REGION and env["AWS_ACCESS_KEY_ID"] == own.access_key
    assert env["HOME"].startswith(scanner.work_root)
    assert not Path(output_dir).exists()


def test_scan_deadline_comes_from_remaining_time(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(remaining_ms=300_000), scanner)
    assert runner.calls[0]["timeout"] == pytest.approx(270)
    argv = runner.calls[0]["argv"]
    # QScanner's own limit (300 s by default) is set a little under the process timeout.
    assert argv[argv.index("--scan-timeout") + 1] == "260s"


def test_update_code_event_with_full_arn_scans(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    outcome = handle(load_event("update_function_code"), lambda_context(), scanner)
    assert outcome["outcome"] == "scanned" and len(runner.calls) == 1


def test_configuration_update_after_scan_is_cache_hit_without_secret_read(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    cold = fresh_scanner(scanner, runner)
    outcome = handle(load_event("update_function_configuration"), lambda_context(), cold)
    assert outcome["outcome"] == "cache_hit"
    assert len(runner.calls) == 1
    assert cold.secrets.reads == 0


def test_own_account_events_resolve_credentials_once_per_container(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    sessions: list[Any] = []
    real_session = boto3.Session

    def counting_session(*args: Any, **kwargs: Any) -> Any:
        sessions.append(kwargs)
        return real_session(*args, **kwargs)

    with mock.patch.object(aws_module.boto3, "Session", counting_session):
        outcomes = [handle(load_event("update_function_configuration"), lambda_context(), scanner) for _ in range(5)]

    assert [o["outcome"] for o in outcomes] == ["cache_hit"] * 5
    assert sessions == []  # the container's session, built by the first event, serves every later one


def test_layer_change_rescans(scanner: Deps, runner: FakeRunner) -> None:
    lambda_client = boto3.client("lambda", region_name=REGION)
    layer = lambda_client.publish_layer_version(LayerName="deps", Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
    create_function(layers=[layer["LayerVersionArn"]])
    handle(load_event("create_function"), lambda_context(), scanner)
    newer = lambda_client.publish_layer_version(LayerName="deps", Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
    lambda_client.update_function_configuration(FunctionName="orders-api", Layers=[newer["LayerVersionArn"]])
    outcome = handle(load_event("update_function_configuration"), lambda_context(), scanner)
    assert outcome["outcome"] == "scanned" and len(runner.calls) == 2


def test_code_update_rescans(scanner: Deps, runner: FakeRunner) -> None:
    from tests.support import code_zip

    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    boto3.client("lambda").update_function_code(FunctionName="orders-api", ZipFile=code_zip({"app.py": "x = 2\n"}))
    handle(load_event("update_function_code"), lambda_context(), scanner)
    assert len(runner.calls) == 2


def test_excluded_function_is_not_scanned_or_tagged(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    create_function(tags={"QualysScanExclude": "true"})
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome["outcome"] == "excluded"
    assert runner.calls == [] and "QualysScanStatus" not in tags_of()
    assert s3_objects(resources.bucket) == {}


def test_tagging_switched_off_scans_and_stores_but_writes_no_tag(
    scanner: Deps, resources: Resources, runner: FakeRunner, tmp_path: Any
) -> None:
    create_function()
    untagging = dataclasses.replace(
        scanner, settings=settings_for(resources, TAG_FUNCTIONS="false"), work_root=str(tmp_path)
    )
    outcome = handle(load_event("create_function"), lambda_context(), untagging)
    assert outcome["outcome"] == "scanned" and len(runner.calls) == 1
    assert not [key for key in tags_of() if key.startswith("QualysScan")]
    assert resources.summary()["scan"]["status"] == "success"


@pytest.mark.parametrize(
    ("exit_code", "policy_tags", "status", "policy"),
    [
        (0, "", "success", ""),
        (40, "", "partial", ""),
        (0, "prod", "success", "ALLOW"),
        (42, "prod", "success", "DENY"),
        (43, "prod", "success", "AUDIT"),
    ],
)
def test_finished_exit_codes_map_to_status(
    scanner: Deps,
    resources: Resources,
    runner: FakeRunner,
    exit_code: int,
    policy_tags: str,
    status: str,
    policy: str,
) -> None:
    runner.exit_code = exit_code
    scanner.settings = dataclasses.replace(scanner.settings, policy_tags=policy_tags)
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    summary = resources.summary()
    assert outcome["status"] == status and tags_of()["QualysScanStatus"] == status
    assert summary["scan"]["exit_code"] == exit_code and summary["scan"]["policy"] == policy
    assert tags_of().get("QualysScanPolicy", "") == policy
    (message,) = resources.messages()
    assert message["MessageAttributes"].get("policy", {}).get("Value", "") == policy
    if exit_code == 40:
        assert summary["findings"]["vulnerabilities"]["total"] == 0 and summary["findings"]["secrets"] == 1
        assert summary["scan"]["problems"] == ["vulnerability report not available from Qualys (inventory uploaded)"]


def test_policy_exit_code_without_policy_mode_is_a_failure(scanner: Deps, runner: FakeRunner) -> None:
    runner.exit_code = 42
    create_function()
    with pytest.raises(ScanFailedError):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert "--mode" not in runner.calls[0]["argv"] and tags_of()["QualysScanStatus"] == "failed"


@pytest.mark.parametrize(
    ("runner_kwargs", "error"),
    [
        ({"exit_code": 1}, "QScanner exited with code 1"),
        ({"raises": subprocess.TimeoutExpired(["qscanner"], 10)}, "QScanner timed out"),
        ({"raises": FileNotFoundError("qscanner")}, "QScanner binary not found"),
    ],
    ids=["exit-1", "timeout", "missing-binary"],
)
def test_failed_scan_is_tagged_stored_notified_and_raised(
    scanner: Deps, resources: Resources, runner_kwargs: dict[str, Any], error: str
) -> None:
    scanner.runner = FakeRunner(**runner_kwargs)
    create_function()
    with pytest.raises(ScanFailedError, match=error):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert tags_of()["QualysScanStatus"] == "failed"
    summary = resources.summary()
    assert summary["scan"]["status"] == "failed" and error in summary["scan"]["error"]
    assert json.loads(resources.messages()[0]["Message"])["scan"]["status"] == "failed"
    assert cache_item(resources.table)["status"]["S"] == "failed"


def test_failed_scan_is_retried_on_next_event(scanner: Deps, runner: FakeRunner) -> None:
    runner.exit_code = 1
    create_function()
    with pytest.raises(ScanFailedError):
        handle(load_event("create_function"), lambda_context(), scanner)
    runner.exit_code = 0
    assert handle(load_event("update_function_configuration"), lambda_context(), scanner)["outcome"] == "scanned"


def test_stale_output_files_from_earlier_scan_are_ignored(scanner: Deps, resources: Resources) -> None:
    stale = Path(scanner.work_root) / "qscanner-out-old"
    stale.mkdir()
    (stale / "old-ScanResult.json").write_text(json.dumps({"SecretResults": [{"Secrets": [{}] * 7}]}))
    (Path(scanner.work_root) / "qscanner-cache").mkdir()
    (Path(scanner.work_root) / "qscanner-cache" / "old-Report.sarif.json").write_text("{}")
    scanner.runner = FakeRunner(severities=[], secrets=0)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    summary = resources.summary()
    assert summary["findings"]["secrets"] == 0 and summary["scan"]["scan_id"] != "old"
    assert not any("old-" in key for key in s3_objects(resources.bucket))


def test_s3_down_still_notifies_tags_and_raises(scanner: Deps, resources: Resources) -> None:
    boto3.client("s3").delete_bucket(Bucket=resources.bucket)
    create_function()
    with pytest.raises(DeliveryError, match="s3"):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert tags_of()["QualysScanStatus"] == "success"
    assert len(resources.messages()) == 1
    assert cache_item(resources.table)["status"]["S"] == "incomplete"


def test_s3_down_then_retry_rescans_and_delivers(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    boto3.client("s3").delete_bucket(Bucket=resources.bucket)
    create_function()
    with pytest.raises(DeliveryError):
        handle(load_event("create_function"), lambda_context(), scanner)
    boto3.client("s3").create_bucket(Bucket=resources.bucket)
    assert handle(load_event("create_function"), lambda_context(), scanner)["outcome"] == "scanned"
    assert len(runner.calls) == 2 and resources.summary()["scan"]["status"] == "success"


def test_sns_down_still_stores_and_tags(scanner: Deps, resources: Resources) -> None:
    boto3.client("sns").delete_topic(TopicArn=resources.topic_arn)
    create_function()
    with pytest.raises(DeliveryError, match="sns"):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert resources.summary()["scan"]["status"] == "success"
    assert tags_of()["QualysScanStatus"] == "success"


def test_dynamodb_down_still_scans_stores_notifies_tags(
    scanner: Deps, resources: Resources, runner: FakeRunner, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("dynamodb").delete_table(TableName=resources.table)
    create_function()
    with pytest.raises(DeliveryError, match="cache"):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert len(runner.calls) == 1
    assert resources.summary()["scan"]["status"] == "success"
    assert len(resources.messages()) == 1 and tags_of()["QualysScanStatus"] == "success"
    assert any(r.getMessage() == "cache unavailable" for r in caplog.records)


def test_token_in_qscanner_stderr_never_reaches_logs_s3_or_sns(
    scanner: Deps, resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="qualys_lambda")
    scanner.runner = FakeRunner(exit_code=1, stderr=f"auth failed for token {TOKEN}\n")
    create_function()
    with pytest.raises(ScanFailedError):
        handle(load_event("create_function"), lambda_context(), scanner)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "auth failed for token [REDACTED]" in logged
    assert TOKEN not in logged
    assert all(TOKEN.encode() not in o["Body"].read() for o in s3_objects(resources.bucket).values())
    assert all(TOKEN not in json.dumps(m) for m in resources.messages())


def test_token_written_into_output_files_is_redacted_in_s3(scanner: Deps, resources: Resources) -> None:
    def leak(argv: list[str], env: dict[str, str]) -> None:
        out = Path(argv[argv.index("--output-dir") + 1])
        sbom = {"bomFormat": "CycloneDX", "note": f"token={env['QUALYS_ACCESS_TOKEN']}"}
        (out / "x-sbom.json").write_text(json.dumps(sbom))

    scanner.runner = FakeRunner(on_call=leak)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    bodies = [o["Body"].read() for o in s3_objects(resources.bucket).values()]
    assert b"token=[REDACTED]" in b"".join(bodies) and all(TOKEN.encode() not in b for b in bodies)


def test_two_concurrent_events_for_same_code_scan_once(scanner: Deps, runner: FakeRunner) -> None:
    runner.delay = 0.5
    create_function()
    outcomes: list[dict[str, Any]] = []

    def deliver(name: str) -> None:
        outcomes.append(handle(load_event(name), lambda_context(), scanner))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in ("create_function", "update_function_code")]
    with atomic_dynamodb_writes():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(runner.calls) == 1
    assert sorted(o["outcome"] for o in outcomes) == ["in_progress", "scanned"]


def test_event_arriving_while_the_code_is_being_scanned_does_not_start_a_second_scan(
    scanner: Deps, runner: FakeRunner
) -> None:
    create_function()
    outcomes: list[str] = []

    def second_event(argv: list[str], env: dict[str, str]) -> None:
        if not outcomes:
            outcomes.append(handle(load_event("update_function_code"), lambda_context(), scanner)["outcome"])

    runner.on_call = second_event
    outcomes.append(handle(load_event("create_function"), lambda_context(), scanner)["outcome"])
    assert len(runner.calls) == 1
    assert outcomes == ["in_progress", "scanned"]


def test_container_image_function_is_scanned(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders:1.4"
    boto3.client("lambda").create_function(
        FunctionName="orders-api", Role=resources.role_arn, PackageType="Image", Code={"ImageUri": image}
    )
    handle(load_event("create_function"), lambda_context(), scanner)
    summary = resources.summary()
    assert summary["function"]["package_type"] == "Image"
    assert summary["function"]["image_uri"] == image
    assert runner.calls[0]["argv"][-2:] == ["lambda", FUNCTION_ARN]
    assert tags_of()["QualysScanStatus"] == "success"


def test_manual_scan_bypasses_cache(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    outcome = handle(load_event("manual_scan"), lambda_context(), scanner)
    assert outcome["outcome"] == "scanned" and len(runner.calls) == 2


def test_scanner_never_scans_itself(scanner: Deps, runner: FakeRunner, caplog: pytest.LogCaptureFixture) -> None:
    create_function(name="qualys-scanner")
    outcome = handle(event_for(SCANNER_ARN), lambda_context(), scanner)
    assert outcome["outcome"] == "rejected" and runner.calls == []
    assert "QualysScanStatus" not in tags_of(SCANNER_ARN)


def test_deleted_function_is_rejected(scanner: Deps, runner: FakeRunner) -> None:
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome == {"outcome": "rejected", "reason": "function no longer exists", "function_arn": FUNCTION_ARN}


def test_account_outside_allowed_list_is_rejected(resources: Resources, runner: FakeRunner, tmp_path: Path) -> None:
    scanner = make_deps(settings_for(resources, ALLOWED_ACCOUNT_IDS="111111111111"), runner, tmp_path)
    create_function()
    outcome = handle(load_event("create_function"), lambda_context(), scanner)
    assert outcome["outcome"] == "rejected" and "ALLOWED_ACCOUNT_IDS" in outcome["reason"]


def test_bad_secret_fails_scan_naming_field_not_value(scanner: Deps, resources: Resources, runner: FakeRunner) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=resources.secret_arn, SecretString=json.dumps({"qualys_pod": "MARS1", "qualys_access_token": TOKEN})
    )
    create_function()
    with pytest.raises(ScanFailedError, match="qualys_pod"):
        handle(load_event("create_function"), lambda_context(), scanner)
    assert runner.calls == [] and tags_of()["QualysScanStatus"] == "failed"
    assert "MARS1" not in resources.summary()["scan"]["error"]


def test_disabled_destinations_are_not_written(resources: Resources, runner: FakeRunner, tmp_path: Path) -> None:
    settings = settings_for(resources, RESULTS_S3_BUCKET="", SNS_TOPIC_ARN="", SCAN_CACHE_TABLE="")
    scanner = make_deps(settings, runner, tmp_path)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    handle(load_event("update_function_configuration"), lambda_context(), scanner)
    assert len(runner.calls) == 2 and tags_of()["QualysScanStatus"] == "success"
    assert s3_objects(resources.bucket) == {} and resources.messages() == []


def test_scan_logs_carry_function_event_and_outcome(scanner: Deps, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    create_function()
    handle(load_event("create_function"), lambda_context(), scanner)
    (record,) = [r for r in caplog.records if r.getMessage() == "scan finished"]
    assert record.function_arn == FUNCTION_ARN  # type: ignore[attr-defined]
    assert record.event_id == "6f2c7b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f"  # type: ignore[attr-defined]
    assert record.outcome == "scanned"  # type: ignore[attr-defined]


def test_sqs_batch_reports_only_failing_record_and_logs_each_outcome(scanner: Deps, runner: FakeRunner) -> None:
    create_function()
    create_function(name="billing")
    runner.on_call = lambda argv, env: setattr(runner, "exit_code", 1 if argv[-1].endswith("billing") else 0)
    records = [
        {"messageId": "m-1", "eventSource": "aws:sqs", "body": json.dumps(load_event("create_function"))},
        {"messageId": "m-2", "eventSource": "aws:sqs", "body": json.dumps(event_for("billing"))},
        {"messageId": "m-3", "eventSource": "aws:sqs", "body": "not json"},
    ]
    with runtime.captured_logs() as logs:
        result = handle({"Records": records}, lambda_context(), scanner)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    # One outcome line per message: the line the local runtime reads each message's outcome from.
    lines = {line["message_id"]: line for line in runtime.message_outcomes(logs)}
    assert sorted(lines) == ["m-1", "m-2", "m-3"]
    assert (lines["m-1"]["outcome"], lines["m-1"]["status"], lines["m-1"]["function_arn"]) == (
        "scanned",
        "success",
        FUNCTION_ARN,
    )
    assert lines["m-1"]["scan_id"] == tags_of()["QualysScanTag"]
    assert (lines["m-2"]["outcome"], lines["m-2"]["error_type"]) == ("failed", "ScanFailedError")
    assert lines["m-3"]["outcome"] == "rejected" and lines["m-3"]["reason"]


class NoAws:
    """An AwsAccess that fails the test if the scanner touches AWS at all."""

    def target(self, account: str, region: str) -> Any:
        raise AssertionError("AWS was called for rejected input")

    def home_client(self, service: str, region: str | None = None) -> Any:
        raise AssertionError("AWS was called for rejected input")


@pytest.mark.parametrize(
    "event",
    [
        load_event("create_function", eventName="TagResource20170331v2"),
        load_event("create_function", responseElements=None, requestParameters={"functionName": "x;rm -rf /"}),
        load_event("create_function", responseElements={"functionArn": "arn:aws:s3:::orders-api"}),
        load_event("create_function", errorCode="ResourceConflictException"),
        {"source": "aws.lambda"},
    ],
    ids=["unknown-event", "shell-metacharacters", "other-service-arn", "failed-call", "no-detail"],
)
def test_rejected_input_logs_one_line_and_calls_no_aws(
    scanner: Deps, runner: FakeRunner, caplog: pytest.LogCaptureFixture, event: dict[str, Any]
) -> None:
    scanner.aws = NoAws()  # type: ignore[assignment]
    caplog.set_level(logging.INFO, logger="qualys_lambda")
    outcome = handle(event, lambda_context(), scanner)
    assert outcome["outcome"] == "rejected" and runner.calls == []
    (record,) = caplog.records
    assert record.getMessage() == "event rejected" and record.levelname == "WARNING"
    assert record.reason == outcome["reason"]  # type: ignore[attr-defined]
