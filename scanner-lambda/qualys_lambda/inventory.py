"""The inventory: the schedule plans one unit per (account, region); each unit lists, assesses and enqueues.

A unit runs in its own invocation (an SQS message on the inventory queue), so no invocation touches more
than one target account, a failure is retried for that unit alone, and a unit that runs short of time
hands its ListFunctions Marker to a continuation unit instead of starting over.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import INVENTORY_CONTROL_PLANE_RPS, AwsAccess, Pacer, error_code, is_transient
from qualys_lambda.cache import ScanCache
from qualys_lambda.config import Settings
from qualys_lambda.coverage import (
    ACCESS_DENIED,
    STALE,
    UNCOVERED,
    CoverageRow,
    Page,
    access_denied,
    assess_pages,
    totals,
)
from qualys_lambda.deps import Deps
from qualys_lambda.errors import ConfigurationError, InvalidEventError, TargetAccessError, TransientError
from qualys_lambda.events import EVENT_ID, InventoryUnit, inventory_unit_event, scan_request_event

logger = logging.getLogger(__name__)

SEND_BATCH_LIMIT = 10  # SendMessageBatch takes at most 10 messages
# A queued request is not sent again for this long, so a second inventory does not duplicate it.
QUEUED_WINDOW = timedelta(hours=12)
# A failed code identity is re-enqueued from this long before its back-off (`cache.retry_delay`) ends, so a
# daily inventory retries it on its day although the failed scan ran a while after the inventory that queued it.
RETRY_EARLY = timedelta(hours=12)
# A unit stops paging with this much of its invocation left: one more ListFunctions page (50
# functions, a BatchGetItem, ten SendMessageBatch calls) takes well under a second, a throttled
# page with adaptive retries some seconds; its 50 paced ListAliases (coverage.py, alias targets) about
# ten seconds at INVENTORY_CONTROL_PLANE_RPS.
UNIT_TIME_MARGIN_S = 60.0
# AWS Organizations API Reference, Account object: Status/State ACTIVE is a member that can be used;
# SUSPENDED, PENDING_CLOSURE and CLOSED accounts drop out of the inventory.
ACTIVE = "ACTIVE"


def organization_accounts(organizations: Any) -> list[str]:
    """The organization's ACTIVE account ids, every ListAccounts page (management or delegated admin account)."""
    accounts: list[str] = []
    token = ""
    while True:
        try:
            page = organizations.list_accounts(**({"NextToken": token} if token else {}))
        except ClientError as exc:
            if is_transient(exc):
                raise TransientError("ListAccounts was throttled") from exc
            raise ConfigurationError(f"cannot list the organization's accounts: {error_code(exc)}") from exc
        # `State` replaces the deprecated `Status`; either says ACTIVE for a usable member.
        accounts += [a["Id"] for a in page.get("Accounts", []) if a.get("State", a.get("Status")) == ACTIVE]
        token = page.get("NextToken", "")
        if not token:
            return accounts


def inventory_accounts(settings: Settings, aws: AwsAccess) -> list[str]:
    """This account first, then the organization's accounts, INVENTORY_ACCOUNTS, or (hub mode) ALLOWED_ACCOUNT_IDS.

    Only accounts in scope (`Settings.in_scope`): the inventory never enqueues work the scanner refuses.
    """
    if settings.inventory_organization:
        others = organization_accounts(aws.home_client("organizations"))
    elif settings.inventory_accounts:
        others = list(settings.inventory_accounts)
    elif settings.cross_account_role_name:
        others = list(settings.allowed_account_ids)
    else:
        others = []
    accounts = [aws.own_account, *sorted(set(others) - {aws.own_account})]
    out_of_scope = [a for a in accounts if not settings.in_scope(a)]
    if out_of_scope:
        logger.warning("accounts out of scope not inventoried", extra={"accounts": out_of_scope})
    return [a for a in accounts if settings.in_scope(a)]


def inventory_units(settings: Settings, aws: AwsAccess, inventory_id: str = "") -> list[InventoryUnit]:
    """One unit per inventoried (account, region)."""
    regions = settings.inventory_regions or (aws.home_region,)
    accounts = inventory_accounts(settings, aws)
    return [InventoryUnit(account, region, inventory_id=inventory_id) for account in accounts for region in regions]


def unit_pages(
    unit: InventoryUnit,
    settings: Settings,
    aws: AwsAccess,
    cache: ScanCache | None,
    now: datetime,
    scanner_arn: str = "",
    pace: Callable[[], None] = lambda: None,
) -> Iterator[Page]:
    """The unit's coverage a page at a time; an account the scanner cannot reach is one ACCESS_DENIED row."""
    try:
        target = aws.target(unit.account, unit.region)
    except TargetAccessError as exc:
        logger.error(
            "inventory cannot reach account", extra={"account": unit.account, "region": unit.region, "error": str(exc)}
        )
        yield Page([access_denied(unit.account, unit.region)], "")
        return
    yield from assess_pages(
        target,
        cache,
        settings.exclude_tag,
        now,
        settings.rescan_after_days,
        frozenset({scanner_arn}),
        unit.marker,
        pace,
    )


def collect(deps: Deps, now: datetime) -> list[CoverageRow]:
    """Coverage rows of every inventoried account and region; the scanner itself is never one of them."""
    cache = deps.cache
    return [
        row
        for unit in inventory_units(deps.settings, deps.aws)
        for page in unit_pages(unit, deps.settings, deps.aws, cache, now, deps.own_function_arn)
        for row in page.rows
    ]


def send_messages(sqs: Any, queue_url: str, bodies: list[dict[str, Any]], what: str) -> list[int]:
    """SendMessageBatch in tens; returns the indices of the bodies that were sent."""
    sent: list[int] = []
    for start in range(0, len(bodies), SEND_BATCH_LIMIT):
        batch = bodies[start : start + SEND_BATCH_LIMIT]
        entries = [{"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(batch)]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as exc:
            raise TransientError(f"SQS failed enqueueing {what}: {error_code(exc)}") from exc
        failed = {f["Id"] for f in response.get("Failed", [])}
        sent += [start + index for index in range(len(batch)) if str(index) not in failed]
        if failed:
            logger.error("messages not enqueued", extra={"what": what, "count": len(failed)})
    return sent


def enqueue(sqs: Any, queue_url: str, rows: list[CoverageRow]) -> list[CoverageRow]:
    """Send one scan request per row (stale ones forced past the cache); returns the rows sent."""
    bodies = [
        scan_request_event(row.function_arn, row.account, row.region, row.reason == STALE, str(uuid.uuid4()))
        for row in rows
    ]
    return [rows[index] for index in send_messages(sqs, queue_url, bodies, "scan requests")]


def due(row: CoverageRow, now: datetime) -> bool:
    """Whether an uncovered row is enqueued now: always, unless its code failed and its back-off has not ended."""
    return row.next_retry is None or now >= row.next_retry - RETRY_EARLY


def mark_queued(cache: ScanCache, rows: list[CoverageRow], now: datetime) -> None:
    """Remember what was queued, so the next inventory leaves it alone until it is scanned."""
    for row in rows:
        cache.mark_queued(row.function_arn, row.identity_key, now + QUEUED_WINDOW)


def plan(deps: Deps, inventory_id: str = "") -> dict[str, Any]:
    """The schedule's whole job: enqueue one unit per (account, region), touching no target account."""
    settings, aws = deps.settings, deps.aws
    queue_url = settings.inventory_queue_url or settings.scan_queue_url
    if not settings.scan_queue_url:
        raise TransientError("SCAN_QUEUE_URL is not set: the inventory has nowhere to enqueue scans")
    if not EVENT_ID.match(inventory_id):
        inventory_id = str(uuid.uuid4())
    units = inventory_units(settings, aws, inventory_id)
    bodies = [inventory_unit_event(unit, str(uuid.uuid4())) for unit in units]
    sent = send_messages(aws.home_client("sqs"), queue_url, bodies, "inventory units")
    accounts = len({unit.account for unit in units})
    deps.metrics({"InventoryAccounts": accounts, "InventoryUnitsPlanned": len(sent)})
    result = {"outcome": "inventory planned", "inventory_id": inventory_id, "accounts": accounts, "units": len(sent)}
    logger.info("inventory planned", extra=result)
    if len(sent) < len(units):
        # The schedule's invocation is retried; a unit sent twice only repeats a listing.
        raise TransientError("some inventory units were not enqueued")
    return result


def run_unit(
    deps: Deps, unit: InventoryUnit, remaining_s: Callable[[], float] = lambda: math.inf, pacer: Pacer | None = None
) -> dict[str, Any]:
    """List, assess and enqueue one (account, region) page by page; hand on the Marker when time runs low."""
    settings, aws, cache, now, scanner_arn = deps.settings, deps.aws, deps.cache, deps.clock(), deps.own_function_arn
    if not settings.in_scope(unit.account):
        raise InvalidEventError("inventory unit's account is not in ALLOWED_ACCOUNT_IDS")
    if not settings.scan_queue_url:
        raise TransientError("SCAN_QUEUE_URL is not set: the inventory has nowhere to enqueue scans")
    pacer = pacer or Pacer(INVENTORY_CONTROL_PLANE_RPS, sleep=deps.sleep)
    sqs = aws.home_client("sqs")
    counts = totals([])
    enqueued, continued = 0, ""
    for page in unit_pages(unit, settings, aws, cache, now, scanner_arn, pacer.wait):
        counts = {key: counts[key] + value for key, value in totals(page.rows).items()}
        wanted = [r for r in page.rows if r.reason in UNCOVERED and r.function_arn and not r.queued and due(r, now)]
        sent = enqueue(sqs, settings.scan_queue_url, wanted)
        if cache is not None:
            mark_queued(cache, sent, now)
        # An excluded function with a recorded scan: its request makes the scanner retire its findings
        # and cache item (so it is sent once; nothing marks it queued).
        enqueued += len(sent) + len(enqueue(sqs, settings.scan_queue_url, [r for r in page.rows if r.retire]))
        if page.next_marker and remaining_s() < UNIT_TIME_MARGIN_S:
            continued = page.next_marker
            following = replace(unit, marker=continued, part=unit.part + 1)
            queue_url = settings.inventory_queue_url or settings.scan_queue_url
            if not send_messages(sqs, queue_url, [inventory_unit_event(following, str(uuid.uuid4()))], "a unit"):
                raise TransientError("the inventory unit's continuation was not enqueued")
            break
    deps.metrics(
        {
            "FunctionsCovered": counts["covered"],
            "FunctionsUncovered": counts["uncovered"],
            "FunctionsExcluded": counts["EXCLUDED_BY_TAG"],
            "FunctionsPending": counts["PENDING"],
            "FunctionsStale": counts["STALE"],
            "FunctionsFailed": counts["FAILED"],
            "FunctionsTooLarge": counts["TOO_LARGE"],
            # An account or region the inventory could not read: the templates alarm on it.
            "InventoryTargetsUnreachable": counts[ACCESS_DENIED],
            "ScansEnqueued": enqueued,
            "InventoryUnitsRun": 1,
            "InventoryUnitsContinued": int(bool(continued)),
            "InventoryPacedMilliseconds": int(pacer.waited * 1000),
        }
    )
    result = {
        "outcome": "inventory unit",
        "account": unit.account,
        "region": unit.region,
        "part": unit.part,
        "functions": sum(counts[r] for r in ("covered", "uncovered", "EXCLUDED_BY_TAG")) - counts["ACCESS_DENIED"],
        "enqueued": enqueued,
        "continued": bool(continued),
        "totals": counts,
    }
    logger.info("inventory unit finished", extra={**result, "inventory_id": unit.inventory_id})
    return result


def run_all(deps: Deps, now: datetime) -> dict[str, Any]:
    """Every unit in this process, one after another (the operator's `scan-all`, not the platform's path)."""
    # Metrics are the scheduled inventory's job; every unit sees the same `now`.
    quiet = replace(deps, clock=lambda: now, metrics=lambda values: None)
    results = [run_unit(quiet, unit) for unit in inventory_units(deps.settings, deps.aws)]
    return {
        "outcome": "inventory",
        "functions": sum(r["functions"] for r in results),
        "enqueued": sum(r["enqueued"] for r in results),
        "totals": {key: sum(r["totals"][key] for r in results) for key in totals([])},
    }
