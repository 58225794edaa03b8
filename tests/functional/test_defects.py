"""Issue 21: races, partial results and hostile input, each held through the handler or the inventory."""

from __future__ import annotations

import json
import logging
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.deps import Deps
from qualys_lambda.errors import ScanFailedError
from qualys_lambda.handler import handle
from tests.support import (
    ACCOUNT,
    REGION,
    FakeRunner,
    Resources,
    code_zip,
    create_function,
    lambda_context,
    load_event,
    make_deps,
    run_inventory,
    sarif,
    scan_result,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
SPOKE = "222222222222"
FRAGMENT = 16  # the redaction rule: no run of 16 characters of a credential survives anywhere


def make_scanner(
    resources: Resources, runner: FakeRunner | Any, tmp_path: Path, home_client: Any = aws.client, **overrides: Any
) -> Deps:
    """A scanner on moto with the given settings; the scan and inventory queues exist."""
    sqs = boto3.client("sqs")
    overrides.setdefault("SCAN_QUEUE_URL", sqs.create_queue(QueueName="scan-requests")["QueueUrl"])
    overrides.setdefault("INVENTORY_QUEUE_URL", sqs.create_queue(QueueName="inventory-units")["QueueUrl"])
    settings = settings_for(resources, **overrides)
    access = AwsAccess(
        ACCOUNT,
        settings.cross_account_role_name,
        settings.cross_account_external_id,
        home_region=REGION,
        home_client=home_client,
    )
    return make_deps(settings, runner, tmp_path, access=access)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def s3_bodies(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def hub_findings() -> dict[str, dict[str, Any]]:
    pages = boto3.client("securityhub").get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


def cache_item(table: str, arn: str = FUNCTION_ARN) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        boto3.client("dynamodb")
        .get_item(TableName=table, Key={"function_arn": {"S": arn}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def tags_of(arn: str = FUNCTION_ARN) -> dict[str, str]:
    return runtime.function_tags(boto3.Session(region_name=REGION), arn)


def queued(queue_url: str) -> list[dict[str, Any]]:
    return runtime.bodies(runtime.receive_all(boto3.client("sqs"), queue_url))


def fragments(secret: str) -> set[str]:
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


# ---------------------------------------------------------------- 1. long credentials in stderr


def test_defect1_long_credentials_in_failing_stderr_leave_no_fragment_in_logs(
    resources: Resources, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Qualys JWT and an AWS session token both longer than the stderr excerpt
    jwt = "eyJ" + "".join(uuid.uuid4().hex for _ in range(25))  # 803 characters
    session_token = "IQoJ" + "".join(uuid.uuid4().hex.upper() for _ in range(22))  # 708 characters
    boto3.client("secretsmanager").put_secret_value(
        SecretId=resources.secret_arn, SecretString=json.dumps({"qualys_pod": "US2", "qualys_access_token": jwt})
    )
    for variable in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):  # botocore reads either
        monkeypatch.setenv(variable, session_token)
    aws.clear_clients()
    wrapped = "\n".join(session_token[i : i + 76] for i in range(0, len(session_token), 76))
    stderr = f"request with token {jwt} failed\nsession: {session_token}\nretrying with\n{wrapped}\nexit\n"
    scanner = make_scanner(resources, FakeRunner(exit_code=11, stderr=stderr), tmp_path)
    create_function()
    caplog.set_level(logging.DEBUG, logger="qualys_lambda")

    # When QScanner fails with that stderr
    with pytest.raises(ScanFailedError):
        handle(load_event("create_function"), lambda_context(), scanner)

    # Then the log lines carry the excerpt, but not 16 characters in a row of either credential
    text = logged(caplog)
    excerpt = next(r.stderr_tail for r in caplog.records if r.getMessage() == "qscanner failed")  # type: ignore[attr-defined]
    assert "[REDACTED]" in excerpt and excerpt.endswith("\nexit\n")
    leaked = [f for f in fragments(jwt) | fragments(session_token) if f in text]
    assert leaked == []


# ---------------------------------------------------------------- 2. an old scan finishing last


def test_defect2_scan_of_old_code_finishing_last_is_superseded_not_recorded(
    resources: Resources, tmp_path: Path
) -> None:
    boto3.client("securityhub").enable_security_hub()
    create_function()
    runner = FakeRunner(severities=[5, 3])
    scanner = make_scanner(resources, runner, tmp_path, ENABLE_SECURITY_HUB="true")
    outcomes: dict[str, dict[str, Any]] = {}

    def code_changes_during_scan_a(argv: list[str], env: dict[str, str]) -> None:
        if "b" in outcomes:
            return
        # While scan A (the old code) runs, the code changes and scan B of the new code completes.
        boto3.client("lambda").update_function_code(
            FunctionName="orders-api", ZipFile=code_zip({"app.py": "print('v2')\n"})
        )
        outcomes["b"] = {}
        outcomes["b"] = handle(load_event("update_function_code"), lambda_context(), scanner)
        runner.severities = [5]  # A saw the old code: one QID fewer, which it would archive

    runner.on_call = code_changes_during_scan_a
    outcomes["a"] = handle(load_event("create_function"), lambda_context(), scanner)

    b_id = outcomes["b"]["scan_id"]
    a_id = outcomes["a"]["scan_id"]
    assert outcomes["b"]["outcome"] == "scanned" and outcomes["a"]["outcome"] == "superseded"
    new_sha = boto3.client("lambda").get_function(FunctionName="orders-api")["Configuration"]["CodeSha256"]
    item = cache_item(resources.table)
    assert item is not None
    assert item["scan_id"]["S"] == b_id and item["code_sha256"]["S"] == new_sha and "claim_expires" not in item
    assert tags_of()["QualysScanTag"] == b_id
    states = {fid.rsplit("/", 1)[1]: f["RecordState"] for fid, f in hub_findings().items() if "/qid/" in fid}
    assert states == {"100000": "ACTIVE", "100001": "ACTIVE"}
    assert {f["ProductFields"]["qualys-lambda/ScanId"] for f in hub_findings().values()} == {b_id}
    summaries = [json.loads(b) for k, b in s3_bodies(resources.bucket).items() if k.endswith("summary.json")]
    by_scan = {s["scan"]["scan_id"]: s["scan"] for s in summaries}
    assert by_scan[a_id]["superseded"] is True and by_scan[b_id].get("superseded", False) is False
    assert [json.loads(m["Message"])["scan"]["scan_id"] for m in resources.messages()] == [b_id]


def test_defect2_finished_scan_never_erases_another_scans_live_claim(resources: Resources, tmp_path: Path) -> None:
    create_function()
    scanner = make_scanner(resources, FakeRunner(), tmp_path)
    dynamodb = boto3.client("dynamodb")

    def another_scan_claims(argv: list[str], env: dict[str, str]) -> None:
        # Another scan (of other code) takes the claim while this one runs.
        dynamodb.update_item(
            TableName=resources.table,
            Key={"function_arn": {"S": FUNCTION_ARN}},
            UpdateExpression="SET claim_identity = :i, claim_expires = :e, claim_token = :t",
            ExpressionAttributeValues={":i": {"S": "other-code"}, ":e": {"N": "9999999999"}, ":t": {"S": "other"}},
        )

    scanner.runner = FakeRunner(on_call=another_scan_claims)
    outcome = handle(load_event("create_function"), lambda_context(), scanner)

    item = cache_item(resources.table)
    assert outcome["outcome"] == "superseded"
    assert item is not None and item["claim_token"]["S"] == "other" and item["claim_identity"]["S"] == "other-code"
    assert "QualysScanTag" not in tags_of()


# ---------------------------------------------------------------- 3. partial scans


def test_defect3_partial_scan_is_requeued_by_the_next_inventory(resources: Resources, tmp_path: Path) -> None:
    create_function()
    runner = FakeRunner(exit_code=40)
    scanner = make_scanner(resources, runner, tmp_path)
    assert handle(load_event("create_function"), lambda_context(), scanner)["status"] == "partial"

    result = run_inventory(scanner, scanner.settings.inventory_queue_url)

    requests = queued(scanner.settings.scan_queue_url)
    assert [r["detail"]["functionArn"] for r in requests] == [FUNCTION_ARN]
    assert result["totals"]["covered"] == 0 and result["totals"]["uncovered"] == 1
    # The request is honoured: the partial result does not satisfy the cache.
    runner.exit_code = 0
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scan-requests"
    assert handle(runtime.bodies_batch(requests, queue_arn), lambda_context(), scanner) == {"batchItemFailures": []}
    assert len(runner.calls) == 2 and tags_of()["QualysScanStatus"] == "success"


def test_defect3_partial_scan_imports_what_it_found_into_security_hub(resources: Resources, tmp_path: Path) -> None:
    boto3.client("securityhub").enable_security_hub()
    create_function()
    runner = FakeRunner(severities=[5, 3], failed_scans=("secret",))
    scanner = make_scanner(resources, runner, tmp_path, ENABLE_SECURITY_HUB="true")

    outcome = handle(load_event("create_function"), lambda_context(), scanner)

    assert outcome["status"] == "partial"
    imported = hub_findings()
    assert sorted(fid.rsplit("/", 1)[1] for fid in imported if "/qid/" in fid) == ["100000", "100001"]
    assert {f["RecordState"] for f in imported.values()} == {"ACTIVE"}
    # A later partial scan that sees fewer QIDs imports them and archives nothing.
    runner.severities = [5]
    handle(load_event("manual_scan"), lambda_context(), scanner)
    assert {f["RecordState"] for f in hub_findings().values()} == {"ACTIVE"}


# ---------------------------------------------------------------- 4. accounts in scope


def test_defect4_inventory_never_enqueues_the_hub_account_outside_allowed_accounts(
    resources: Resources, tmp_path: Path
) -> None:
    create_function()  # in the hub's own account, which ALLOWED_ACCOUNT_IDS does not list
    scanner = make_scanner(
        resources, FakeRunner(), tmp_path, CROSS_ACCOUNT_ROLE_NAME="QualysSpoke", ALLOWED_ACCOUNT_IDS=SPOKE
    )

    result = run_inventory(scanner, scanner.settings.inventory_queue_url)

    assert {u["account"] for u in result["units"]} == {SPOKE}
    assert result["planned"]["accounts"] == 1
    assert queued(scanner.settings.scan_queue_url) == []


def test_defect4_inventory_unit_for_an_account_out_of_scope_is_rejected(resources: Resources, tmp_path: Path) -> None:
    scanner = make_scanner(
        resources, FakeRunner(), tmp_path, CROSS_ACCOUNT_ROLE_NAME="QualysSpoke", ALLOWED_ACCOUNT_IDS=SPOKE
    )
    unit = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "qualys-lambda.inventory",
        "detail-type": "Inventory Unit",
        "account": "999999999999",
        "region": REGION,
        "detail": {"marker": "", "inventoryId": "", "part": 0},
    }

    outcome = handle(unit, lambda_context(), scanner)

    assert outcome["outcome"] == "rejected" and "ALLOWED_ACCOUNT_IDS" in outcome["reason"]
    assert queued(scanner.settings.scan_queue_url) == []


# ---------------------------------------------------------------- 5. a malformed timestamp tag


def test_defect5_malformed_scan_timestamp_tag_makes_one_function_pending(resources: Resources, tmp_path: Path) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    create_function("tampered", tags={"QualysScanTimestamp": "2025-01-01 10:00", "QualysScanStatus": "success"})
    create_function("fine", tags={"QualysScanTimestamp": now, "QualysScanStatus": "success"})
    scanner = make_scanner(resources, FakeRunner(), tmp_path, SCAN_CACHE_TABLE="")

    result = run_inventory(scanner, scanner.settings.inventory_queue_url)

    assert result["totals"]["PENDING"] == 1 and result["totals"]["SCANNED"] == 1
    requests = queued(scanner.settings.scan_queue_url)
    assert [r["detail"]["functionArn"].rsplit(":", 1)[1] for r in requests] == ["tampered"]


# ---------------------------------------------------------------- 8. escaped secret text in files

# A found secret with characters JSON escapes: `"` and `\`, and `<`, `>`, `&` (Go writes \u003c ...).
ESCAPED_SECRET = 'pw="s3<cr>t&\\x"-7Q'


def go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: HTML characters escaped."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def secret_writing_runner(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """QScanner finding ESCAPED_SECRET and echoing it in every file it writes."""
    output = Path(argv[argv.index("--output-dir") + 1])
    result = scan_result(1)
    result["SecretResults"][0]["Secrets"][0]["Match"] = ESCAPED_SECRET
    report = sarif([4])
    report["runs"][0]["results"][0]["message"] = {"text": f"found near {ESCAPED_SECRET}"}
    bom = {"bomFormat": "CycloneDX", "components": [{"name": "app", "description": ESCAPED_SECRET}]}
    (output / "abc-ScanResult.json").write_text(go_json(result))
    (output / "abc-Report.sarif.json").write_text(go_json(report))
    (output / "abc-bom.json").write_text(go_json(bom))
    return subprocess.CompletedProcess(argv, 0, stdout="", stderr="")


def decoded_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *decoded_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in decoded_strings(item)]
    return [value] if isinstance(value, str) else []


def test_defect8_found_secret_escaped_in_json_files_is_redacted_everywhere(
    resources: Resources, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("securityhub").enable_security_hub()
    create_function()
    caplog.set_level(logging.DEBUG, logger="qualys_lambda")
    scanner = make_scanner(resources, secret_writing_runner, tmp_path, ENABLE_SECURITY_HUB="true")

    outcome = handle(load_event("create_function"), lambda_context(), scanner)

    assert outcome["secrets"] == 1
    encodings = {ESCAPED_SECRET, json.dumps(ESCAPED_SECRET)[1:-1], go_json(ESCAPED_SECRET)[1:-1]}
    bodies = s3_bodies(resources.bucket)
    assert len(bodies) == 4  # summary, ScanResult, SARIF, CycloneDX
    for body in bodies.values():
        assert not any(e.encode() in body for e in encodings)
        assert not any(ESCAPED_SECRET in s for s in decoded_strings(json.loads(body)))
    messages = resources.messages()
    assert messages and not any(e in json.dumps(m) or e in m["Message"] for m in messages for e in encodings)
    assert not any(ESCAPED_SECRET in s for s in decoded_strings(hub_findings()))
    assert not any(e in logged(caplog) for e in encodings)


# ---------------------------------------------------------------- 9. deleted and excluded functions


def delete_event() -> dict[str, Any]:
    return load_event(
        "create_function",
        eventName="DeleteFunction20150331",
        responseElements=None,
        requestParameters={"functionName": "orders-api"},
    )


@pytest.fixture
def scanned_with_findings(resources: Resources, tmp_path: Path) -> Deps:
    """orders-api scanned once: ACTIVE findings in Security Hub and a cache item."""
    boto3.client("securityhub").enable_security_hub()
    create_function()
    scanner = make_scanner(resources, FakeRunner(severities=[5, 3]), tmp_path, ENABLE_SECURITY_HUB="true")
    handle(load_event("create_function"), lambda_context(), scanner)
    assert len(hub_findings()) == 3 and {f["RecordState"] for f in hub_findings().values()} == {"ACTIVE"}
    assert cache_item(resources.table) is not None
    return scanner


def test_defect9_delete_function_event_archives_findings_and_drops_cache_item(
    resources: Resources, scanned_with_findings: Deps
) -> None:
    boto3.client("lambda").delete_function(FunctionName="orders-api")

    outcome = handle(delete_event(), lambda_context(), scanned_with_findings)

    assert outcome["outcome"] == "retired" and outcome["archived"] == 3
    assert {f["RecordState"] for f in hub_findings().values()} == {"ARCHIVED"}
    assert cache_item(resources.table) is None


def test_defect9_event_for_excluded_function_archives_findings_and_drops_cache_item(
    resources: Resources, scanned_with_findings: Deps
) -> None:
    boto3.client("lambda").tag_resource(Resource=FUNCTION_ARN, Tags={"QualysScanExclude": "true"})

    outcome = handle(load_event("update_function_configuration"), lambda_context(), scanned_with_findings)

    assert outcome["outcome"] == "excluded" and len(scanned_with_findings.runner.calls) == 1  # type: ignore[attr-defined]
    assert {f["RecordState"] for f in hub_findings().values()} == {"ARCHIVED"}
    assert cache_item(resources.table) is None


def test_defect9_inventory_retires_a_function_excluded_after_its_scan(
    resources: Resources, scanned_with_findings: Deps
) -> None:
    scanner = scanned_with_findings
    boto3.client("lambda").tag_resource(Resource=FUNCTION_ARN, Tags={"QualysScanExclude": "true"})

    run_inventory(scanner, scanner.settings.inventory_queue_url)
    requests = queued(scanner.settings.scan_queue_url)
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scan-requests"
    handle(runtime.bodies_batch(requests, queue_arn), lambda_context(), scanner)

    assert [r["detail"]["functionArn"] for r in requests] == [FUNCTION_ARN]
    assert {f["RecordState"] for f in hub_findings().values()} == {"ARCHIVED"}
    assert cache_item(resources.table) is None
    # Nothing is left to retire: the next inventory enqueues nothing.
    run_inventory(scanner, scanner.settings.inventory_queue_url)
    assert queued(scanner.settings.scan_queue_url) == []


# ---------------------------------------------------------------- hardening: tags GetFunction could not read


class TagsDenied:
    """moto's Lambda client whose GetFunction answers as it does without lambda:ListTags: TagsError, no Tags."""

    def __init__(self, client: Any, list_tags_denied: bool = False) -> None:
        self.client = client
        self.list_tags_denied = list_tags_denied

    def get_function(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.client.get_function(**kwargs)
        response.pop("Tags", None)
        response["TagsError"] = {"ErrorCode": "AccessDeniedException", "Message": "not authorized: lambda:ListTags"}
        return response

    def list_tags(self, **kwargs: Any) -> dict[str, Any]:
        if self.list_tags_denied:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "ListTags")
        result: dict[str, Any] = self.client.list_tags(**kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.mark.parametrize("list_tags_denied", [False, True], ids=["list-tags-readable", "list-tags-denied"])
def test_hardening_tags_error_never_scans_a_function_as_if_not_excluded(
    resources: Resources, tmp_path: Path, list_tags_denied: bool
) -> None:
    create_function(tags={"QualysScanExclude": "true"})
    wrapped = TagsDenied(boto3.client("lambda"), list_tags_denied)

    def home_client(service: str, region: str | None = None) -> Any:
        return wrapped if service == "lambda" else aws.client(service, region)

    runner = FakeRunner()
    scanner = make_scanner(resources, runner, tmp_path, home_client=home_client)

    outcome = handle(load_event("create_function"), lambda_context(), scanner)

    assert outcome["outcome"] == ("unknown" if list_tags_denied else "excluded")
    assert runner.calls == [] and "QualysScanStatus" not in tags_of()
