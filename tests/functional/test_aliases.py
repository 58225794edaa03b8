"""Issue 22: published versions behind aliases are scan targets, through the handler and the inventory."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from qualys_lambda.aws import INVENTORY_CONTROL_PLANE_RPS, AwsAccess, Pacer
from qualys_lambda.cache import ScanCache
from qualys_lambda.cli import render_table
from qualys_lambda.deps import Deps
from qualys_lambda.events import InventoryUnit, parse_event
from qualys_lambda.handler import handle
from qualys_lambda.inventory import collect, run_unit
from qualys_lambda.targets import tracked
from tests.support import (
    ACCOUNT,
    REGION,
    VULNERABLE_CODE,
    FakeRunner,
    Resources,
    code_zip,
    create_function,
    drain_scans,
    lambda_context,
    load_event,
    make_deps,
    run_inventory,
    scan_queues,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
FIXED_CODE = {"app.py": "import requests\n", "requirements.txt": "requests==2.31.0\n"}


@dataclass
class CodeRunner(FakeRunner):
    """The QScanner stand-in deciding findings from the scanned code, as the simulated QScanner does: the
    target's CodeSha256 (read back from Lambda, as QScanner reads the code) is vulnerable or clean."""

    vulnerable: set[str] = field(default_factory=set)

    def __call__(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        sha = boto3.client("lambda").get_function(FunctionName=argv[-1])["Configuration"]["CodeSha256"]
        self.severities, self.secrets = ([5, 4], 1) if sha in self.vulnerable else ([], 0)
        return super().__call__(argv, env, timeout)

    def targets(self) -> list[str]:
        """The ARNs QScanner was asked to scan, in order."""
        return [call["argv"][-1] for call in self.calls]


def hub_findings() -> dict[str, dict[str, Any]]:
    pages = boto3.client("securityhub").get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


def states(resource_arn: str) -> set[str]:
    """The record states of the findings whose resource is `resource_arn`."""
    return {f["RecordState"] for f in hub_findings().values() if f["Resources"][0]["Id"] == resource_arn}


def tags() -> dict[str, str]:
    return dict(boto3.client("lambda").list_tags(Resource=FUNCTION_ARN)["Tags"])


def cache(resources: Resources) -> ScanCache:
    return ScanCache(boto3.client("dynamodb", region_name=REGION), resources.table, 30)


def alias_event(name: str, version: str, weights: dict[str, float] | None = None) -> dict[str, Any]:
    """CloudTrail's CreateAlias/UpdateAlias record of alias `live` pointing at `version`."""
    routing = {"additionalVersionWeights": weights or {}}
    return load_event(
        name,
        requestParameters={"functionName": "orders-api", "name": "live", "functionVersion": version},
        responseElements={
            "aliasArn": f"{FUNCTION_ARN}:live",
            "name": "live",
            "functionVersion": version,
            "routingConfig": routing,
        },
    )


def publish(code: dict[str, str]) -> tuple[str, str]:
    """$LATEST's code replaced by `code`, then published: (version, CodeSha256)."""
    client = boto3.client("lambda")
    client.update_function_code(FunctionName="orders-api", ZipFile=code_zip(code))
    published = client.publish_version(FunctionName="orders-api")
    return published["Version"], published["CodeSha256"]


@pytest.fixture
def runner() -> CodeRunner:
    return CodeRunner()


@pytest.fixture
def scanner(resources: Resources, runner: CodeRunner, tmp_path: Path) -> Deps:
    """The scanner with every destination on: S3, SNS, tags, Security Hub, the cache."""
    boto3.client("securityhub").enable_security_hub()
    settings = settings_for(resources, ENABLE_SECURITY_HUB="true")
    return make_deps(settings, runner, tmp_path, access=AwsAccess(ACCOUNT, home_region=REGION))


@pytest.fixture
def live_on_vulnerable_v1(scanner: Deps, runner: CodeRunner) -> str:
    """The issue's scenario: version 1 published with a vulnerable package, `live` -> 1, $LATEST fixed."""
    create_function(files=VULNERABLE_CODE)
    version, sha = boto3.client("lambda").publish_version(FunctionName="orders-api")["Version"], ""
    sha = boto3.client("lambda").get_function(FunctionName=f"{FUNCTION_ARN}:1")["Configuration"]["CodeSha256"]
    runner.vulnerable.add(sha)
    boto3.client("lambda").create_alias(FunctionName="orders-api", Name="live", FunctionVersion=version)
    boto3.client("lambda").update_function_code(FunctionName="orders-api", ZipFile=code_zip(FIXED_CODE))
    return version


def test_alias_events_parse_to_the_alias_and_a_publish_to_its_version() -> None:
    created = parse_event(alias_event("create_alias", "1"))
    deleted = parse_event(load_event("delete_alias"))
    published = parse_event(load_event("publish_version"))
    code = parse_event(load_event("update_function_code", responseElements={"functionArn": f"{FUNCTION_ARN}:3"}))

    assert (created.alias, created.qualifier, created.function_arn) == ("live", "", FUNCTION_ARN)
    assert (deleted.alias, deleted.unqualified_arn) == ("live", FUNCTION_ARN)
    assert (published.qualifier, published.function_arn) == ("1", f"{FUNCTION_ARN}:1")
    # UpdateFunctionCode with publish=true answers with the new version: the event is about $LATEST.
    assert (code.qualifier, code.function_arn) == ("", FUNCTION_ARN)


def test_vulnerable_version_behind_alias_is_scanned_then_archived_when_the_alias_moves(
    resources: Resources, scanner: Deps, runner: CodeRunner, live_on_vulnerable_v1: str
) -> None:
    context = lambda_context()
    # $LATEST is fixed: its scan is clean, and before issue 22 that was the whole report.
    handle(load_event("update_function_code"), context, scanner)
    assert states(FUNCTION_ARN) == set()

    outcome = handle(alias_event("create_alias", "1"), context, scanner)

    v1 = f"{FUNCTION_ARN}:1"
    assert outcome["outcome"] == "alias" and outcome["versions"] == ["1"] and outcome["scans"] == ["scanned"]
    assert runner.targets() == [FUNCTION_ARN, v1]  # QScanner was given the qualified ARN
    assert states(v1) == {"ACTIVE"} and len([f for f in hub_findings().values() if f["Id"].startswith(v1)]) == 3
    session = boto3.Session(region_name=REGION)
    keys = runtime.s3_keys(session, resources.bucket)
    (summary_key,) = [
        k for k in keys if k.startswith(f"scans/{ACCOUNT}/{REGION}/orders-api:1/") and k.endswith("/summary.json")
    ]
    summary = runtime.s3_json(session, resources.bucket, summary_key)
    assert summary["function"]["arn"] == v1 and summary["findings"]["vulnerabilities"]["total"] == 2
    assert [m for m in resources.messages() if json.loads(m["Message"])["function"]["arn"] == v1]
    assert cache(resources).lookup(v1) is not None

    # live moves to a fixed version 2: version 2 is scanned, version 1 retired.
    version, _sha = publish(FIXED_CODE)
    boto3.client("lambda").update_alias(FunctionName="orders-api", Name="live", FunctionVersion=version)
    moved = handle(alias_event("update_alias", version), context, scanner)

    assert moved["versions"] == ["2"] and moved["archived"] == 3
    # Version 2 holds $LATEST's code, scanned above: its result is reused, no QScanner run (issue 22 item 2).
    assert runner.targets() == [FUNCTION_ARN, v1]
    assert states(v1) == {"ARCHIVED"} and states(f"{FUNCTION_ARN}:2") == set()
    assert cache(resources).lookup(v1) is None and cache(resources).lookup(f"{FUNCTION_ARN}:2") is not None
    assert tracked(cache(resources), FUNCTION_ARN) == {"2"}


def test_both_versions_of_a_weighted_alias_are_scanned(
    scanner: Deps, runner: CodeRunner, live_on_vulnerable_v1: str
) -> None:
    version, _sha = publish(FIXED_CODE)
    boto3.client("lambda").update_alias(
        FunctionName="orders-api",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )

    outcome = handle(alias_event("update_alias", "1", {version: 0.1}), lambda_context(), scanner)

    assert outcome["versions"] == ["1", "2"] and outcome["archived"] == 0
    assert runner.targets() == [f"{FUNCTION_ARN}:1", f"{FUNCTION_ARN}:2"]


def test_deleting_the_last_alias_archives_its_version(scanner: Deps, live_on_vulnerable_v1: str) -> None:
    handle(alias_event("create_alias", "1"), lambda_context(), scanner)
    boto3.client("lambda").delete_alias(FunctionName="orders-api", Name="live")

    outcome = handle(load_event("delete_alias"), lambda_context(), scanner)

    assert outcome["versions"] == [] and outcome["archived"] == 3
    assert states(f"{FUNCTION_ARN}:1") == {"ARCHIVED"}


def test_publishing_unchanged_code_behind_an_alias_runs_qscanner_zero_times(
    resources: Resources, scanner: Deps, runner: CodeRunner
) -> None:
    create_function(files=FIXED_CODE)
    handle(load_event("create_function"), lambda_context(), scanner)  # $LATEST scanned at deploy time
    version = boto3.client("lambda").publish_version(FunctionName="orders-api")["Version"]
    boto3.client("lambda").create_alias(FunctionName="orders-api", Name="live", FunctionVersion=version)
    runs_before = len(runner.calls)

    published = handle(load_event("publish_version"), lambda_context(), scanner)
    aliased = handle(alias_event("create_alias", version), lambda_context(), scanner)

    assert len(runner.calls) == runs_before == 1
    assert published["outcome"] == "scanned" and aliased["scans"] == ["cache_hit"]
    (message,) = [
        json.loads(m["Message"])
        for m in resources.messages()
        if json.loads(m["Message"])["function"]["arn"] == f"{FUNCTION_ARN}:{version}"
    ]
    assert message["scan"]["reused_from"]["function_arn"] == FUNCTION_ARN
    assert message["scan"]["scan_id"] == message["scan"]["reused_from"]["scan_id"]


def test_a_version_no_alias_points_to_is_not_scanned(scanner: Deps, runner: CodeRunner) -> None:
    create_function(files=VULNERABLE_CODE)
    boto3.client("lambda").publish_version(FunctionName="orders-api")

    outcome = handle(load_event("publish_version"), lambda_context(), scanner)

    assert outcome["outcome"] == "not_alias_target" and runner.calls == []


def test_function_tags_report_the_worst_status_and_newest_scan_across_targets(
    resources: Resources, scanner: Deps, runner: CodeRunner, live_on_vulnerable_v1: str
) -> None:
    context = lambda_context()
    scanner.clock = lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    handle(load_event("update_function_code"), context, scanner)
    assert tags()["QualysScanStatus"] == "success"
    runner.exit_code = 1  # version 1's scan fails
    scanner.clock = lambda: datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(Exception, match=r"."):
        handle(alias_event("create_alias", "1"), context, scanner)
    assert tags()["QualysScanStatus"] == "failed"

    # A later, successful scan of $LATEST: the newest time, but version 1's failure still stands.
    runner.exit_code = 0
    scanner.clock = lambda: datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    handle(load_event("manual_scan"), context, scanner)

    assert tags()["QualysScanStatus"] == "failed" and tags()["QualysScanTimestamp"] == "2026-12-01T10:00:00Z"
    assert cache(resources).lookup(f"{FUNCTION_ARN}:1")["status"] == "failed"  # type: ignore[index]

    # live moves to a fixed version 2: version 1 is retired and no longer counts in the function's tags.
    version, _sha = publish(FIXED_CODE)
    boto3.client("lambda").update_alias(FunctionName="orders-api", Name="live", FunctionVersion=version)
    scanner.clock = lambda: datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    moved = handle(alias_event("update_alias", version), context, scanner)

    assert moved["retired"] == ["1"] and tags()["QualysScanStatus"] == "success"
    # Version 2's code is $LATEST's, scanned at 10:00: its result is reused, and is as old as that run.
    assert tags()["QualysScanTimestamp"] == "2026-12-01T10:00:00Z"


def test_inventory_covers_alias_targets_and_coverage_names_the_aliases(
    resources: Resources, runner: CodeRunner, tmp_path: Path, live_on_vulnerable_v1: str
) -> None:
    urls = scan_queues()
    settings = settings_for(
        resources, SCAN_QUEUE_URL=urls["SCAN_QUEUE_URL"], INVENTORY_QUEUE_URL=urls["INVENTORY_QUEUE_URL"]
    )
    scanner = make_deps(settings, runner, tmp_path)
    version, _sha = publish(FIXED_CODE)
    boto3.client("lambda").create_alias(
        FunctionName="orders-api",
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {version: 0.2}},
    )

    inventory = run_inventory(scanner, urls["INVENTORY_QUEUE_URL"])
    drain_scans(scanner, urls["SCAN_QUEUE_URL"])

    assert inventory["enqueued"] == 3  # $LATEST, version 1 (live, canary), version 2 (canary)
    # Version 2 holds $LATEST's code, scanned just before it from the queue: its result is reused.
    assert sorted(runner.targets()) == sorted([FUNCTION_ARN, f"{FUNCTION_ARN}:1"])
    rows = {row.target_name: row for row in collect(scanner, datetime.now(UTC))}
    assert set(rows) == {"orders-api", "orders-api:1", "orders-api:2"}
    assert {name: row.reason for name, row in rows.items()} == dict.fromkeys(rows, "SCANNED")
    assert rows["orders-api:1"].aliases == ("canary", "live") and rows["orders-api:2"].aliases == ("canary",)
    assert rows["orders-api:1"].vulnerabilities["total"] == 2 and rows["orders-api"].vulnerabilities["total"] == 0
    assert rows["orders-api:1"].as_json()["aliases"] == ["canary", "live"]
    table = io.StringIO()
    render_table(list(rows.values()), table)
    assert "orders-api:1  canary,live" in table.getvalue()
    # A second inventory finds every target covered: nothing is enqueued again.
    assert run_inventory(scanner, urls["INVENTORY_QUEUE_URL"])["enqueued"] == 0


def test_deleting_the_function_archives_its_alias_targets_findings(
    resources: Resources, scanner: Deps, live_on_vulnerable_v1: str
) -> None:
    handle(alias_event("create_alias", "1"), lambda_context(), scanner)
    boto3.client("lambda").delete_function(FunctionName="orders-api")
    deleted = load_event(
        "create_function",
        eventName="DeleteFunction20150331",
        responseElements=None,
        requestParameters={"functionName": "orders-api"},
    )

    outcome = handle(deleted, lambda_context(), scanner)

    assert outcome["outcome"] == "retired" and outcome["archived"] == 3
    assert states(f"{FUNCTION_ARN}:1") == {"ARCHIVED"}
    assert cache(resources).lookup(f"{FUNCTION_ARN}:1") is None and tracked(cache(resources), FUNCTION_ARN) == set()


@pytest.mark.slow  # a 50-function page inventoried twice, for its figures
def test_inventory_page_cost_is_one_paced_list_aliases_per_function(
    resources: Resources, runner: CodeRunner, tmp_path: Path
) -> None:
    """Figures for the report: the paced Lambda calls of one 50-function page, before and after its alias
    targets were scanned (a scanned version's identity comes from its cache item)."""
    urls = scan_queues()
    settings = settings_for(resources, SCAN_QUEUE_URL=urls["SCAN_QUEUE_URL"])
    scanner = make_deps(settings, runner, tmp_path)
    lambda_client = boto3.client("lambda")
    for index in range(50):
        create_function(f"fn-{index:02}", files=FIXED_CODE)
        if index < 5:
            lambda_client.publish_version(FunctionName=f"fn-{index:02}")
            lambda_client.create_alias(FunctionName=f"fn-{index:02}", Name="live", FunctionVersion="1")
    seconds = [0.0]

    def sleep(delay: float) -> None:
        seconds[0] += delay

    def paced_calls() -> tuple[int, float]:
        pacer = Pacer(INVENTORY_CONTROL_PLANE_RPS, clock=lambda: seconds[0], sleep=sleep)
        calls = [0]
        wait = pacer.wait

        def counted() -> None:
            calls[0] += 1
            wait()

        pacer.wait = counted  # type: ignore[method-assign]
        result = run_unit(scanner, InventoryUnit(ACCOUNT, REGION), pacer=pacer)
        assert result["functions"] == 55  # 50 $LATEST rows and 5 alias targets
        return calls[0], pacer.waited

    first = paced_calls()
    drain_scans(scanner, urls["SCAN_QUEUE_URL"])
    second = paced_calls()

    # ListFunctions, 50 ListAliases and, for the 5 versions not yet scanned, GetFunction; then no GetFunction.
    assert first[0] == 1 + 50 + 5 and second[0] == 1 + 50
    assert len(runner.calls) == 50  # each version holds its $LATEST's code: the 5 reuse those runs
    print(f"paced calls per 50-function page: {first[0]} ({first[1]:.1f}s paced), then {second[0]} ({second[1]:.1f}s)")
