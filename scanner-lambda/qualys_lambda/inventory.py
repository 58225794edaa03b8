"""The backfill: list every function and enqueue a scan for each one without a valid scan."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import AwsAccess, error_code
from qualys_lambda.cache import ScanCache, key_of, to_item
from qualys_lambda.config import Settings
from qualys_lambda.coverage import ACCESS_DENIED, STALE, UNCOVERED, CoverageRow, access_denied, assess, totals
from qualys_lambda.errors import TargetAccessError, TransientError
from qualys_lambda.events import scan_request_event
from qualys_lambda.metrics import MetricsSink

logger = logging.getLogger(__name__)

SEND_BATCH_LIMIT = 10  # SendMessageBatch takes at most 10 messages
# A queued request is not sent again for this long, so a second inventory does not duplicate it.
QUEUED_WINDOW = timedelta(hours=12)


def inventory_targets(settings: Settings, aws: AwsAccess) -> list[tuple[str, str]]:
    """(account, region) pairs to inventory: this account, and in hub mode each allowed spoke."""
    accounts = [aws.own_account]
    if settings.cross_account_role_name:
        accounts += sorted(settings.allowed_account_ids - {aws.own_account})
    regions = settings.inventory_regions or (aws.home_region,)
    return [(account, region) for account in accounts for region in regions]


def collect(
    settings: Settings, aws: AwsAccess, cache: ScanCache | None, now: datetime, scanner_arn: str = ""
) -> list[CoverageRow]:
    """Coverage rows of every inventoried account and region; the scanner itself is never one of them."""
    rows: list[CoverageRow] = []
    for account, region in inventory_targets(settings, aws):
        try:
            target = aws.target(account, region)
        except TargetAccessError as exc:
            logger.error("inventory cannot reach account", extra={"account": account, "error": str(exc)})
            rows.append(access_denied(account, region))
            continue
        rows += assess(target, cache, settings.exclude_tag, now, settings.rescan_after_days, frozenset({scanner_arn}))
    return rows


def enqueue(sqs: Any, queue_url: str, rows: list[CoverageRow]) -> list[CoverageRow]:
    """Send one scan request per row (stale ones forced past the cache); returns the rows sent."""
    sent: list[CoverageRow] = []
    for start in range(0, len(rows), SEND_BATCH_LIMIT):
        batch = rows[start : start + SEND_BATCH_LIMIT]
        entries = [
            {
                "Id": str(index),
                "MessageBody": json.dumps(
                    scan_request_event(
                        row.function_arn, row.account, row.region, row.reason == STALE, str(uuid.uuid4())
                    )
                ),
            }
            for index, row in enumerate(batch)
        ]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as exc:
            raise TransientError(f"SQS failed enqueueing scans: {error_code(exc)}") from exc
        failed = {f["Id"] for f in response.get("Failed", [])}
        sent += [row for index, row in enumerate(batch) if str(index) not in failed]
        if failed:
            logger.error("scan requests not enqueued", extra={"count": len(failed)})
    return sent


def mark_queued(cache: ScanCache, rows: list[CoverageRow], now: datetime) -> None:
    """Remember what was queued, so the next inventory leaves it alone until it is scanned."""
    until = int((now + QUEUED_WINDOW).timestamp())
    for row in rows:
        try:
            cache.dynamodb.update_item(
                TableName=cache.table,
                Key=key_of(row.function_arn),
                UpdateExpression="SET queued_identity = :identity, queued_until = :until, "
                "#ttl = if_not_exists(#ttl, :until)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=to_item({":identity": row.identity_key, ":until": until}),
            )
        except ClientError as exc:
            raise TransientError(f"DynamoDB failed marking queued scans: {error_code(exc)}") from exc


def run_inventory(
    settings: Settings,
    aws: AwsAccess,
    cache: ScanCache | None,
    now: datetime,
    metrics: MetricsSink,
    home_client: Callable[[str], Any],
    scanner_arn: str = "",
) -> dict[str, Any]:
    """List, enqueue what needs a scan, publish coverage totals; returns the totals."""
    if not settings.scan_queue_url:
        raise TransientError("SCAN_QUEUE_URL is not set: the inventory has nowhere to enqueue scans")
    rows = collect(settings, aws, cache, now, scanner_arn)
    wanted = [r for r in rows if r.reason in UNCOVERED and r.function_arn and not r.queued]
    sent = enqueue(home_client("sqs"), settings.scan_queue_url, wanted)
    if cache is not None:
        mark_queued(cache, sent, now)
    counts = totals(rows)
    metrics(
        {
            "FunctionsCovered": counts["covered"],
            "FunctionsUncovered": counts["uncovered"],
            "FunctionsExcluded": counts["EXCLUDED_BY_TAG"],
            "ScansEnqueued": len(sent),
            # An account or region the inventory could not read: the templates alarm on it.
            "InventoryTargetsUnreachable": counts[ACCESS_DENIED],
        }
    )
    result = {"outcome": "inventory", "functions": len(rows), "enqueued": len(sent), "totals": counts}
    logger.info("inventory finished", extra=result)
    return result
