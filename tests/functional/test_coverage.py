"""Coverage: the inventory backfill, stale rescans, exclusions, the coverage report and its metrics."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from local import runtime
from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.cli import main as cli_main
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from qualys_lambda.inventory import collect
from qualys_lambda.metrics import NAMESPACE
from tests.support import (
    ACCOUNT,
    PAGE_SIZE,
    REGION,
    FakeRunner,
    PagedLambda,
    Resources,
    create_function,
    event_for,
    lambda_context,
    make_deps,
    run_inventory,
    settings_for,
)


@pytest.fixture
def queue(resources: Resources) -> str:
    return boto3.client("sqs").create_queue(QueueName="scan-requests")["QueueUrl"]


def make_scanner(
    resources: Resources, queue: str, tmp_path: Path, runner: FakeRunner | None = None, **overrides: Any
) -> tuple[Deps, list[dict[str, int]], PagedLambda]:
    units = boto3.client("sqs").create_queue(QueueName="inventory-units")["QueueUrl"]
    settings = settings_for(resources, SCAN_QUEUE_URL=queue, INVENTORY_QUEUE_URL=units, **overrides)
    paged = PagedLambda(boto3.client("lambda"))

    def home_client(service: str, region: str | None = None) -> Any:
        return paged if service == "lambda" else aws.client(service, region)

    emitted: list[dict[str, int]] = []
    access = AwsAccess(ACCOUNT, settings.cross_account_role_name, home_region=REGION, home_client=home_client)
    scanner = make_deps(
        settings, runner or FakeRunner(), tmp_path, access=access, metrics=lambda values: emitted.append(dict(values))
    )
    return scanner, emitted, paged


def scanner_denied_one_spoke(
    resources: Resources, queue: str, tmp_path: Path
) -> tuple[Deps, list[dict[str, int]], Stubber]:
    """A hub-mode scanner whose AssumeRole into spoke 444444444444 is denied (activate the Stubber)."""
    sts = boto3.client("sts")
    stubber = Stubber(sts)
    stubber.add_client_error("assume_role", "AccessDenied", "not authorized", 403)

    def home_client(service: str, region: str | None = None) -> Any:
        return sts if service == "sts" else aws.client(service, region)

    scanner, emitted, _paged = make_scanner(
        resources, queue, tmp_path, CROSS_ACCOUNT_ROLE_NAME="QualysSpoke", ALLOWED_ACCOUNT_IDS=f"{ACCOUNT},444444444444"
    )
    scanner.aws.home_client = home_client
    return scanner, emitted, stubber


def queued(queue_url: str) -> list[dict[str, Any]]:
    return runtime.bodies(runtime.receive_all(boto3.client("sqs"), queue_url))


def inventory(scanner: Deps) -> dict[str, Any]:
    """The schedule, then each unit it put on the inventory queue."""
    return run_inventory(scanner, scanner.settings.inventory_queue_url)


def scan_from_queue(scanner: Deps, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:qualys-scan-queue"
    return handle(runtime.bodies_batch(bodies, queue_arn), lambda_context(), scanner)


@pytest.mark.slow
def test_inventory_enqueues_1200_functions_across_pages_once(resources: Resources, queue: str, tmp_path: Path) -> None:
    lambda_client = boto3.client("lambda")
    for index in range(1200):
        create_function(name=f"fn-{index:04d}", files={"app.py": "x = 1\n"}, client=lambda_client)
    scanner, emitted, paged = make_scanner(resources, queue, tmp_path)
    # Bodies are read where they are sent: draining 1,200 messages from moto's SQS is quadratic.
    sent: list[dict[str, Any]] = []
    aws.client("sqs").meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: sent.extend(
            body for e in params["Entries"] if (body := json.loads(e["MessageBody"]))["detail-type"] == "Scan Request"
        ),
    )

    first = inventory(scanner)
    second = inventory(scanner)

    depth = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert len(paged.markers) == 2 * 1200 // PAGE_SIZE
    assert first["enqueued"] == 1200 and second["enqueued"] == 0
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "1200"
    assert len({b["detail"]["functionArn"] for b in sent}) == len(sent) == 1200
    assert {(b["source"], b["detail-type"], b["detail"]["force"]) for b in sent} == {
        ("qualys-lambda.inventory", "Scan Request", False)
    }
    assert emitted[0] == {"InventoryAccounts": 1, "InventoryUnitsPlanned": 1}
    assert {
        k: emitted[1][k]
        for k in (
            "FunctionsCovered",
            "FunctionsUncovered",
            "FunctionsPending",
            "ScansEnqueued",
            "InventoryTargetsUnreachable",
        )
    } == {
        "FunctionsCovered": 0,
        "FunctionsUncovered": 1200,
        "FunctionsPending": 1200,
        "ScansEnqueued": 1200,
        "InventoryTargetsUnreachable": 0,
    }


def test_inventory_requests_are_scanned_and_then_covered(resources: Resources, queue: str, tmp_path: Path) -> None:
    create_function()
    create_function(name="billing")
    runner = FakeRunner()
    scanner, _emitted, _paged = make_scanner(resources, queue, tmp_path, runner)
    inventory(scanner)
    assert scan_from_queue(scanner, queued(queue)) == {"batchItemFailures": []}
    assert len(runner.calls) == 2
    assert inventory(scanner)["enqueued"] == 0


def test_inventory_skips_excluded_and_requeues_stale_forced(resources: Resources, queue: str, tmp_path: Path) -> None:
    create_function()
    create_function(name="legacy", tags={"QualysScanExclude": "true"})
    scanner, _emitted, _paged = make_scanner(resources, queue, tmp_path)
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    scanner.clock = lambda: eight_days_ago
    handle(event_for("orders-api"), lambda_context(), scanner)  # a successful scan, 8 days old
    scanner.clock = lambda: datetime.now(UTC)

    result = inventory(scanner)
    (body,) = queued(queue)

    assert body["detail"] == {"functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api", "force": True}
    assert result["totals"]["STALE"] == 1 and result["totals"]["EXCLUDED_BY_TAG"] == 1
    assert scan_from_queue(scanner, [body]) == {"batchItemFailures": []}
    assert len(scanner.runner.calls) == 2  # type: ignore[attr-defined]  # the forced rescan bypassed the cache


def test_coverage_reason_codes_for_prepared_functions(resources: Resources, queue: str, tmp_path: Path) -> None:
    for name in ("scanned", "never", "stale", "broken"):
        create_function(name=name, files={"app.py": f"name = {name!r}\n"})
    create_function(name="excluded", tags={"QualysScanExclude": "true"})
    scanner, _emitted, stubber = scanner_denied_one_spoke(resources, queue, tmp_path)
    handle(event_for("scanned"), lambda_context(), scanner)
    scanner.clock = lambda: datetime.now(UTC) - timedelta(days=30)
    handle(event_for("stale"), lambda_context(), scanner)
    scanner.clock = lambda: datetime.now(UTC)
    scanner.runner = FakeRunner(exit_code=1)
    with pytest.raises(Exception, match="exited with code 1"):
        handle(event_for("broken"), lambda_context(), scanner)

    with stubber:
        report = collect(scanner, datetime.now(UTC))
    rows = {r.function_name: r.as_json() for r in report}

    assert {name: row["reason"] for name, row in rows.items()} == {
        "scanned": "SCANNED",
        "never": "PENDING",
        "stale": "STALE",
        "broken": "FAILED",
        "excluded": "EXCLUDED_BY_TAG",
        "*": "ACCESS_DENIED",
    }
    assert rows["*"]["account"] == "444444444444"
    assert rows["scanned"]["vulnerabilities"] == {
        "critical": 1,
        "high": 2,
        "medium": 0,
        "low": 1,
        "info": 0,
        "total": 4,
    }
    assert rows["scanned"]["secrets"] == 1 and rows["scanned"]["last_scan"].endswith("Z")


def deploy_scanner(resources: Resources, env: dict[str, str]) -> None:
    """The scanner function the CLI reads its configuration from (its code never runs here)."""
    boto3.client("lambda").create_function(
        FunctionName="qscanner-scanner",
        Runtime="python3.12",
        Role=resources.role_arn,
        Handler="lambda_function.h",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
        Environment={"Variables": env},
    )


def test_coverage_cli_json_reads_deployed_configuration(resources: Resources, queue: str, tmp_path: Path) -> None:
    settings_env = {
        "QUALYS_SECRET_ARN": resources.secret_arn,
        "SCAN_CACHE_TABLE": resources.table,
        "SCAN_QUEUE_URL": queue,
        "RESULTS_S3_BUCKET": resources.bucket,
    }
    deploy_scanner(resources, settings_env)
    create_function()
    scanner, _emitted, _paged = make_scanner(resources, queue, tmp_path)
    handle(event_for("orders-api"), lambda_context(), scanner)
    out = io.StringIO()

    assert cli_main(["coverage", "--function-name", "qscanner-scanner", "--json"], out) == 0
    report = json.loads(out.getvalue())
    reasons = {r["function_name"]: r["reason"] for r in report["functions"]}
    assert reasons == {"orders-api": "SCANNED"}  # the scanner itself is never listed
    assert report["totals"]["covered"] == 1 and report["totals"]["uncovered"] == 0

    table = io.StringIO()
    cli_main(["coverage", "--function-name", "qscanner-scanner"], table)
    assert "orders-api" in table.getvalue() and "1 covered, 0 uncovered" in table.getvalue()


def test_scan_all_cli_runs_every_unit_in_process_and_enqueues(resources: Resources, queue: str) -> None:
    deploy_scanner(resources, {"QUALYS_SECRET_ARN": resources.secret_arn, "SCAN_QUEUE_URL": queue})
    create_function()
    create_function(name="billing")
    out = io.StringIO()

    assert cli_main(["scan-all", "--function-name", "qscanner-scanner"], out) == 0

    assert out.getvalue() == "enqueued 2 of 2 functions\n"
    arns = {b["detail"]["functionArn"].rsplit(":", 1)[1] for b in queued(queue)}
    assert arns == {"orders-api", "billing"}  # scan requests only: the units ran here, none were queued


def test_scan_metrics_are_emf_totals_without_function_dimension(
    resources: Resources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function()
    scanner = make_deps(settings_for(resources), FakeRunner(), tmp_path)
    handle(event_for("orders-api"), lambda_context(), scanner)
    handle(event_for("orders-api", "update_function_configuration"), lambda_context(), scanner)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    assert [d.get("ScansRun", 0) for d in documents] == [1, 0] and documents[1]["CacheHits"] == 1
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["Service"]]
        assert "function_arn" not in document and "FunctionName" not in json.dumps(directive)


def test_inventory_counts_unreachable_account_in_a_metric(resources: Resources, queue: str, tmp_path: Path) -> None:
    create_function()
    scanner, emitted, stubber = scanner_denied_one_spoke(resources, queue, tmp_path)
    with stubber:
        result = inventory(scanner)

    assert result["totals"]["ACCESS_DENIED"] == 1
    # One document per unit: the unreachable spoke's counts the denial, this account's the scan it enqueued.
    assert sum(d.get("InventoryTargetsUnreachable", 0) for d in emitted) == 1
    assert sum(d.get("ScansEnqueued", 0) for d in emitted) == 1
