"""Where findings go besides S3 and SNS: Security Hub (ASFF), scan events, filtered alerts, SBOM references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.deps import Deps
from qualys_lambda.errors import DeliveryError
from qualys_lambda.handler import handle
from tests.support import (
    ACCOUNT,
    REGION,
    SUPPORTED_RUNTIME,
    FakeRunner,
    Resources,
    create_function,
    event_for,
    lambda_context,
    load_event,
    make_deps,
    settings_for,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
# Fields BatchImportFindings rejects a finding without (AWS Security Finding Format).
ASFF_REQUIRED = {
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
}


def hub_scanner(resources: Resources, runner: FakeRunner, tmp_path: Path, home_client: Any = aws.client) -> Deps:
    settings = settings_for(resources, ENABLE_SECURITY_HUB="true")
    return make_deps(settings, runner, tmp_path, access=AwsAccess(ACCOUNT, home_region=REGION, home_client=home_client))


def findings() -> dict[str, dict[str, Any]]:
    pages = boto3.client("securityhub").get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


@pytest.fixture
def hub(resources: Resources) -> Resources:
    boto3.client("securityhub").enable_security_hub()
    create_function()
    return resources


def test_security_hub_findings_have_required_asff_fields(hub: Resources, tmp_path: Path) -> None:
    handle(load_event("create_function"), lambda_context(), hub_scanner(hub, FakeRunner(severities=[5, 3]), tmp_path))
    imported = findings()
    assert len(imported) == 3  # two QIDs and one secret
    for finding in imported.values():
        assert set(finding) >= ASFF_REQUIRED
        assert finding["ProductArn"] == PRODUCT_ARN and finding["AwsAccountId"] == ACCOUNT
        assert finding["Resources"][0]["Type"] == "AwsLambdaFunction"
        assert finding["Resources"][0]["Id"] == FUNCTION_ARN
        assert finding["Resources"][0]["Details"]["AwsLambdaFunction"]["Runtime"] == SUPPORTED_RUNTIME
        assert finding["Id"].startswith(f"{FUNCTION_ARN}/qualys-lambda/")
    vulns = [f for f in imported.values() if "Vulnerabilities" in f]
    assert sorted(f["Severity"]["Label"] for f in vulns) == ["CRITICAL", "MEDIUM"]
    assert {f["Vulnerabilities"][0]["Id"] for f in vulns} == {"CVE-2020-0000", "CVE-2020-0001"}
    (secret,) = [f for f in imported.values() if "Vulnerabilities" not in f]
    assert "AKIA" not in json.dumps(secret) and secret["Types"] == ["Sensitive Data Identifications/Passwords"]


def test_security_hub_rescan_updates_same_ids(hub: Resources, tmp_path: Path) -> None:
    scanner = hub_scanner(hub, FakeRunner(severities=[5, 3]), tmp_path)
    handle(load_event("create_function"), lambda_context(), scanner)
    first = findings()
    handle(load_event("manual_scan"), lambda_context(), scanner)
    second = findings()
    assert set(first) == set(second)
    assert all(f["RecordState"] == "ACTIVE" for f in second.values())
    assert all(second[i]["CreatedAt"] == first[i]["CreatedAt"] for i in first)


def test_security_hub_removed_vulnerability_is_archived(hub: Resources, tmp_path: Path) -> None:
    runner = FakeRunner(severities=[5, 3])
    scanner = hub_scanner(hub, runner, tmp_path)
    handle(load_event("create_function"), lambda_context(), scanner)
    runner.severities = [5]  # the medium QID (second result) is gone after a code change
    handle(load_event("manual_scan"), lambda_context(), scanner)
    states = {fid.rsplit("/", 1)[1]: f["RecordState"] for fid, f in findings().items() if "/qid/" in fid}
    assert states == {"100000": "ACTIVE", "100001": "ARCHIVED"}


def test_security_hub_250_findings_sent_in_3_batches(hub: Resources, tmp_path: Path) -> None:
    batches: list[int] = []
    securityhub = boto3.client("securityhub")
    securityhub.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: batches.append(len(params["Findings"])),
    )

    def home_client(service: str, region: str | None = None) -> Any:
        return securityhub if service == "securityhub" else aws.client(service, region)

    runner = FakeRunner(severities=[3] * 250, secrets=0)
    handle(load_event("create_function"), lambda_context(), hub_scanner(hub, runner, tmp_path, home_client))
    assert batches == [100, 100, 50] and len(findings()) == 250


def test_security_hub_down_does_not_stop_s3_sns_tags(hub: Resources, tmp_path: Path) -> None:
    securityhub = boto3.client("securityhub")
    stubber = Stubber(securityhub)
    stubber.add_client_error("get_findings", "InvalidAccessException", "Security Hub is not enabled", 401)

    def home_client(service: str, region: str | None = None) -> Any:
        return securityhub if service == "securityhub" else aws.client(service, region)

    with stubber, pytest.raises(DeliveryError, match="securityhub"):
        handle(load_event("create_function"), lambda_context(), hub_scanner(hub, FakeRunner(), tmp_path, home_client))
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=hub.bucket)["Contents"]]
    assert any(k.endswith("summary.json") for k in keys) and len(hub.messages()) == 1
    assert boto3.client("lambda").list_tags(Resource=FUNCTION_ARN)["Tags"]["QualysScanStatus"] == "success"


def test_partial_scan_does_not_archive_findings(hub: Resources, tmp_path: Path) -> None:
    runner = FakeRunner(severities=[5])
    scanner = hub_scanner(hub, runner, tmp_path)
    handle(load_event("create_function"), lambda_context(), scanner)
    runner.exit_code = 40  # inventory only: no vulnerability report to compare against
    handle(load_event("manual_scan"), lambda_context(), scanner)
    assert {f["RecordState"] for f in findings().values()} == {"ACTIVE"}


def queue_with_arn(name: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(url: str) -> list[dict[str, Any]]:
    sqs, received = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(m["Body"]) for m in batch]
    return received


def test_scan_event_reaches_rule_matching_critical_findings(scanner: Deps, resources: Resources) -> None:
    events = boto3.client("events")
    url, arn = queue_with_arn("critical-scans")
    pattern = {
        "source": ["qualys-lambda"],
        "detail-type": ["Lambda Scan Completed"],
        "detail": {"findings": {"max_severity": ["critical"]}},
    }
    events.put_rule(Name="critical-scans", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="critical-scans", Targets=[{"Id": "queue", "Arn": arn}])
    create_function()
    create_function(name="billing")
    handle(load_event("create_function"), lambda_context(), scanner)
    scanner.runner = FakeRunner(severities=[2], secrets=0)
    handle(event_for("billing"), lambda_context(), scanner)
    (event,) = drain(url)
    assert event["detail"]["function"]["arn"] == FUNCTION_ARN
    assert event["detail-type"] == "Lambda Scan Completed" and event["resources"] == [FUNCTION_ARN]


def test_sns_filter_policy_delivers_only_high_and_critical(scanner: Deps, resources: Resources) -> None:
    url, arn = queue_with_arn("urgent-alerts")
    boto3.client("sns").subscribe(
        TopicArn=resources.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"max_severity": ["critical", "high"]})},
    )
    create_function()
    create_function(name="billing")
    handle(load_event("create_function"), lambda_context(), scanner)  # critical
    scanner.runner = FakeRunner(severities=[2], secrets=0)
    handle(event_for("billing"), lambda_context(), scanner)  # low
    received = [json.loads(m["Message"]) for m in drain(url)]
    assert [m["function"]["name"] for m in received] == ["orders-api"]
    assert len(resources.messages()) == 2  # the unfiltered subscription gets both
