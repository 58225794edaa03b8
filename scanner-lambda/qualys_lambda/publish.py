"""The scan's destinations: S3 objects, the SNS message and the function's tags."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code
from qualys_lambda.errors import DestinationError
from qualys_lambda.qscanner_output import JSON_CONTENT_TYPE, StoredFile
from qualys_lambda.summary import Summary

SUBJECT_PREFIX = "QScanner Results: "
SUBJECT_MAX = 100
SUMMARY_FILE = "summary.json"
# Beside the summary when a suppression rule carries a VEX justification (docs/findings.md).
OPENVEX_FILE = "openvex.json"
TAG_TIMESTAMP = "QualysScanTimestamp"
TAG_STATUS = "QualysScanStatus"
# The tag holding QScanner's scan id (the S3 prefix and the summary carry it too). Its key says "Tag",
# not "Id", for history: deployed users filter on QualysScanTag, so the key stays.
TAG_SCAN_ID = "QualysScanTag"
# Written only when the policy gate is on (POLICY_TAGS); templates' tag-write conditions list it.
TAG_POLICY = "QualysScanPolicy"
# Every tag key the scanner writes: the templates' and the Terraform module's tag-write condition
# (aws:TagKeys) lists exactly these, so a scanner credential cannot set QualysScanExclude. A new key
# goes here, then `make templates` writes it into both.
SCANNER_TAG_KEYS = (TAG_STATUS, TAG_SCAN_ID, TAG_TIMESTAMP, TAG_POLICY)
EVENT_SOURCE = "qualys-lambda"
EVENT_DETAIL_TYPE = "Lambda Scan Completed"


def fail(destination: str, exc: ClientError) -> DestinationError:
    return DestinationError(f"{destination}: {error_code(exc) or type(exc).__name__}")


def store_results(s3: Any, bucket: str, prefix: str, summary: Summary, files: Iterable[StoredFile]) -> list[str]:
    """Put summary.json and the kept QScanner files (secret text already stripped) under `prefix`.

    No ServerSideEncryption argument: the bucket's default encryption (SSE-S3 or the operator's KMS
    key) applies, where forcing AES256 would override a KMS default.
    """
    objects = [StoredFile(SUMMARY_FILE, json.dumps(summary, indent=2).encode(), JSON_CONTENT_TYPE), *files]
    keys: list[str] = []
    try:
        for stored in objects:
            key = prefix + stored.name
            s3.put_object(Bucket=bucket, Key=key, Body=stored.body, ContentType=stored.content_type)
            keys.append(key)
    except ClientError as exc:
        raise fail("s3", exc) from exc
    return keys


def notify(sns: Any, topic_arn: str, summary: Summary) -> str:
    """Publish the summary with attributes that subscription filter policies can match."""
    subject = (SUBJECT_PREFIX + summary["function"]["name"])[:SUBJECT_MAX]
    findings = summary["findings"]
    attributes = {
        "status": summary["scan"]["status"],
        "max_severity": findings["max_severity"],
        "account": summary["function"]["account"],
        # Schema 3: what is new and unsuppressed, and how urgent the scan is (docs/findings.md).
        "new_max_severity": findings.get("new_max_severity", "none"),
        "priority": summary.get("priority", {}).get("level", "none"),
    }
    if summary["scan"]["policy"]:
        attributes["policy"] = summary["scan"]["policy"]
    message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    # A Number, so a filter policy can ask for {"numeric": [">", 0]}.
    message_attributes["new_findings"] = {"DataType": "Number", "StringValue": str(findings.get("new_findings", 0))}
    try:
        response = sns.publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=json.dumps(summary),
            MessageAttributes=message_attributes,
        )
    except ClientError as exc:
        raise fail("sns", exc) from exc
    return str(response.get("MessageId", ""))


def tag_function(
    lambda_client: Any, function_arn: str, timestamp: str, status: str, scan_id: str, policy: str = ""
) -> None:
    """Tag the scanned function with the scan's time, status, id and policy verdict."""
    tags = {TAG_TIMESTAMP: timestamp, TAG_STATUS: status}
    if scan_id:
        tags[TAG_SCAN_ID] = scan_id
    if policy:
        tags[TAG_POLICY] = policy
    try:
        lambda_client.tag_resource(Resource=function_arn, Tags=tags)
    except ClientError as exc:
        raise fail("tags", exc) from exc


def put_scan_event(events: Any, bus: str, summary: Summary) -> None:
    """Put `Lambda Scan Completed` on the bus so users can route scans with their own rules."""
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": json.dumps(summary),
        "Resources": [summary["function"]["arn"]],
        "EventBusName": bus,
    }
    try:
        response = events.put_events(Entries=[entry])
    except ClientError as exc:
        raise fail("events", exc) from exc
    if response.get("FailedEntryCount"):
        code = response["Entries"][0].get("ErrorCode", "failed")
        raise DestinationError(f"events: {code}")
