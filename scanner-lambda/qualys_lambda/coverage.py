"""Which functions are covered by a valid scan, and why the others are not."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import Target, is_transient
from qualys_lambda.cache import ScanCache, ScanIdentity, retry_delay
from qualys_lambda.config import excludes
from qualys_lambda.errors import FunctionGoneError, ScannerError, TransientError
from qualys_lambda.publish import TAG_STATUS, TAG_TIMESTAMP
from qualys_lambda.targets import alias_targets

logger = logging.getLogger(__name__)

SCANNED = "SCANNED"
PENDING = "PENDING"
STALE = "STALE"
FAILED = "FAILED"
EXCLUDED_BY_TAG = "EXCLUDED_BY_TAG"
ACCESS_DENIED = "ACCESS_DENIED"
# Too large for the scanner's /tmp or memory (sizing.py): a permanent failure (retries.py), requeued with back-off.
TOO_LARGE = "TOO_LARGE"
UNCOVERED = frozenset({PENDING, STALE, FAILED, TOO_LARGE, ACCESS_DENIED})
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CoverageRow:
    """One function's coverage: its reason code, last scan and findings."""

    function_arn: str
    function_name: str
    account: str
    region: str
    reason: str
    status: str = ""
    last_scan: str = ""
    vulnerabilities: dict[str, int] = field(default_factory=dict)
    secrets: int | None = None
    identity_key: str = ""
    queued: bool = False
    # Why the last scan of a FAILED or TOO_LARGE function failed (for TOO_LARGE: the bytes needed and the
    # setting to raise), its kind (retries.py), the failed requests so far and when the inventory retries it.
    detail: str = ""
    failure: str = ""
    attempts: int = 0
    next_retry: datetime | None = None
    # Excluded, yet its cache item holds a scan: its findings and item are still to be retired.
    retire: bool = False
    # A published version behind aliases (targets.py): its number and the aliases pointing to it.
    version: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def target_name(self) -> str:
        """The function's name, with `:<version>` for a published version."""
        return f"{self.function_name}:{self.version}" if self.version else self.function_name

    def as_json(self) -> dict[str, Any]:
        """The row as the report's JSON (internal fields left out)."""
        return {
            "function_arn": self.function_arn,
            "function_name": self.function_name,
            "account": self.account,
            "region": self.region,
            "reason": self.reason,
            "status": self.status,
            "last_scan": self.last_scan,
            "vulnerabilities": self.vulnerabilities,
            "secrets": self.secrets,
            **({"version": self.version, "aliases": list(self.aliases)} if self.version else {}),
            **({"detail": self.detail} if self.detail else {}),
            **({"failure": self.failure} if self.failure else {}),
            **({"attempts": self.attempts, "next_retry": self.next_retry_text} if self.attempts else {}),
        }

    @property
    def next_retry_text(self) -> str:
        """When the inventory next re-enqueues this failed code, in the report's time format; "" if unknown."""
        return self.next_retry.strftime(TIMESTAMP_FORMAT) if self.next_retry else ""


def excluded_functions(tagging: Any, tag_key: str) -> set[str]:
    """ARNs of functions tagged `tag_key` = true, in one paginated tag query instead of one call per function."""
    excluded: set[str] = set()
    token = ""
    while True:
        page = tagging.get_resources(
            ResourceTypeFilters=["lambda:function"], TagFilters=[{"Key": tag_key}], PaginationToken=token
        )
        for resource in page.get("ResourceTagMappingList", []):
            tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
            if excludes(tags, tag_key):
                excluded.add(resource["ResourceARN"])
        token = page.get("PaginationToken", "")
        if not token:
            return excluded


def reason_for(status: str, scan_timestamp: str, now: datetime, rescan_after: timedelta) -> str:
    """The reason code of the last scan of a function's current code, from its status and time.

    A partial scan (no vulnerability report yet, or a scan type that failed) is STALE at once, so the
    next inventory retries it instead of waiting `rescan_after`. A timestamp that cannot be read (the
    tag is anyone's to write) says nothing about the last scan: that function alone is PENDING.
    """
    if status in ("failed", "incomplete"):
        return FAILED
    if status not in ("success", "partial"):
        return PENDING
    scanned_at = parse_time(scan_timestamp, now)
    if scanned_at is None:
        return PENDING
    return STALE if status == "partial" or now - scanned_at > rescan_after else SCANNED


def parse_time(text: str, now: datetime) -> datetime | None:
    """A scan timestamp (`TIMESTAMP_FORMAT`, UTC) in `now`'s time zone; None when it cannot be read."""
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=now.tzinfo)
    except ValueError:
        return None


def coverage_reason(item: dict[str, Any] | None, identity: ScanIdentity, now: datetime, rescan_after: timedelta) -> str:
    """The reason code of a function whose cache item is `item`."""
    if not item or item.get("scan_identity") != identity.key:
        return PENDING
    if item.get("status") == "failed" and item.get("failure_reason") == TOO_LARGE:
        return TOO_LARGE
    return reason_for(str(item.get("status", "")), str(item.get("scan_timestamp", "")), now, rescan_after)


def _row_from_cache(
    function: dict[str, Any], target: Target, item: dict[str, Any] | None, now: datetime, rescan_after: timedelta
) -> CoverageRow:
    identity = ScanIdentity.of(function)
    reason = coverage_reason(item, identity, now, rescan_after)
    item = item or {}
    findings = item.get("findings") if item.get("scan_identity") == identity.key else None
    findings = findings if isinstance(findings, dict) else {}
    failed = reason in (FAILED, TOO_LARGE)
    # The back-off counts from the last attempt (its scan time); an item from before it (no count) is due now.
    attempts = int(item.get("attempts", 0)) if failed else 0
    last = parse_time(str(item.get("scan_timestamp", "")), now)
    next_retry = last + retry_delay(attempts, rescan_after.days) if attempts and last else None
    return CoverageRow(
        function_arn=function["FunctionArn"],
        function_name=function["FunctionName"],
        account=target.account,
        region=target.region,
        reason=reason,
        status=str(item.get("status", "")) if reason != PENDING else "",
        last_scan=str(item.get("scan_timestamp", "")),
        vulnerabilities={k: int(v) for k, v in findings.items() if k != "secrets"},
        secrets=int(findings["secrets"]) if "secrets" in findings else None,
        identity_key=identity.key,
        queued=item.get("queued_identity") == identity.key and int(item.get("queued_until", 0)) > now.timestamp(),
        detail=str(item.get("error", "")) if failed else "",
        failure=str(item.get("failure_reason", "")) if failed else "",
        attempts=attempts,
        next_retry=next_retry,
    )


def _row_from_tags(
    function: dict[str, Any], target: Target, now: datetime, rescan_after: timedelta, pace: Callable[[], None]
) -> CoverageRow:
    """Without a cache, the function's own tags say when it was last scanned and how that went."""
    pace()
    tags = target.client("lambda").list_tags(Resource=function["FunctionArn"]).get("Tags", {})
    status, last_scan = tags.get(TAG_STATUS, ""), tags.get(TAG_TIMESTAMP, "")
    reason = reason_for(status, last_scan, now, rescan_after)
    return CoverageRow(
        function["FunctionArn"],
        function["FunctionName"],
        target.account,
        target.region,
        reason,
        status,
        last_scan,
        identity_key=ScanIdentity.of(function).key,
    )


@dataclass(frozen=True)
class Page:
    """The rows of one ListFunctions page, and the Marker of the next page ("" after the last)."""

    rows: list[CoverageRow]
    next_marker: str


def assess_pages(
    target: Target,
    cache: ScanCache | None,
    exclude_tag: str,
    now: datetime,
    rescan_after_days: int,
    skip: frozenset[str] = frozenset(),
    marker: str = "",
    pace: Callable[[], None] = lambda: None,
) -> Iterator[Page]:
    """Rows of the target's functions (but `skip`) a ListFunctions page at a time, from `marker` on.

    Each Lambda control-plane call first waits on `pace`; a region that cannot be read yields one
    ACCESS_DENIED row; throttling is a TransientError, so the unit is retried, never half-recorded.
    """
    rescan_after = timedelta(days=rescan_after_days)
    lambda_client = target.client("lambda")
    try:
        excluded = excluded_functions(target.client("resourcegroupstaggingapi"), exclude_tag)
    except ClientError as exc:
        yield Page([_unreadable(target, exc)], "")
        return
    while True:
        pace()
        try:
            page = lambda_client.list_functions(**({"Marker": marker} if marker else {}))
        except ClientError as exc:
            yield Page([_unreadable(target, exc)], "")
            return
        functions = [f for f in page.get("Functions", []) if f["FunctionArn"] not in skip]
        versions = _alias_targets(lambda_client, [f for f in functions if f["FunctionArn"] not in excluded], pace)
        items = cache.items([f["FunctionArn"] for f in functions] + list(versions)) if cache else {}
        functions += [_version_function(lambda_client, arn, items.get(arn), pace) for arn in versions]
        rows = []
        for function in functions:
            if function["FunctionArn"] in excluded:
                rows.append(
                    CoverageRow(
                        function["FunctionArn"],
                        function["FunctionName"],
                        target.account,
                        target.region,
                        EXCLUDED_BY_TAG,
                        retire="scan_identity" in items.get(function["FunctionArn"], {}),
                    )
                )
            elif cache:
                rows.append(_row_from_cache(function, target, items.get(function["FunctionArn"]), now, rescan_after))
            else:
                rows.append(_row_from_tags(function, target, now, rescan_after, pace))
            if function["FunctionArn"] in versions:
                rows[-1] = replace(rows[-1], version=function["Version"], aliases=versions[function["FunctionArn"]])
        marker = page.get("NextMarker") or ""
        yield Page(rows, marker)
        if not marker:
            return


def _alias_targets(
    lambda_client: Any, functions: list[dict[str, Any]], pace: Callable[[], None]
) -> dict[str, tuple[str, ...]]:
    """Qualified ARN -> alias names of every published version an alias of `functions` points to: one
    paced ListAliases per function (a page's 50 functions: 50 calls, within the unit's pacing)."""
    versions: dict[str, tuple[str, ...]] = {}
    for function in functions:
        try:
            by_version = alias_targets(lambda_client, function["FunctionName"], pace)
        except FunctionGoneError:
            continue  # deleted since ListFunctions: its own event retires it
        except TransientError:
            raise
        except ScannerError as exc:
            # A deployment without lambda:ListAliases still reports its functions' $LATEST.
            logger.warning("aliases unreadable", extra={"function_arn": function["FunctionArn"], "error": str(exc)})
            continue
        versions.update({f"{function['FunctionArn']}:{v}": names for v, names in sorted(by_version.items())})
    return versions


def _version_function(
    lambda_client: Any, qualified_arn: str, item: dict[str, Any] | None, pace: Callable[[], None]
) -> dict[str, Any]:
    """A published version shaped like a ListFunctions entry. A published version's code and layers never
    change (AWS Lambda Developer Guide, "Lambda function versions": a version is immutable), so a cache item
    that recorded them is read instead of calling GetFunction again."""
    base, version = qualified_arn.rsplit(":", 1)
    entry = {"FunctionArn": qualified_arn, "FunctionName": base.rsplit(":", 1)[1], "Version": version}
    if item and item.get("code_sha256"):
        return {**entry, "CodeSha256": item["code_sha256"], "Layers": [{"Arn": a} for a in item.get("layers", [])]}
    pace()
    try:
        configuration = lambda_client.get_function(FunctionName=qualified_arn).get("Configuration", {})
    except ClientError as exc:
        if is_transient(exc):
            raise TransientError("GetFunction was throttled") from exc
        configuration = {}  # its identity unknown: PENDING, and the scanner reads it when it scans
    return {**entry, "CodeSha256": configuration.get("CodeSha256", ""), "Layers": configuration.get("Layers", [])}


def _unreadable(target: Target, exc: ClientError) -> CoverageRow:
    if is_transient(exc):
        raise TransientError("listing functions was throttled") from exc
    return access_denied(target.account, target.region)


def access_denied(account: str, region: str) -> CoverageRow:
    """The row standing for an account or region the scanner cannot read."""
    return CoverageRow("", "*", account, region, ACCESS_DENIED)


def totals(rows: list[CoverageRow]) -> dict[str, int]:
    """Counts by reason code, plus covered and uncovered."""
    counts = {reason: 0 for reason in (SCANNED, PENDING, STALE, FAILED, TOO_LARGE, EXCLUDED_BY_TAG, ACCESS_DENIED)}
    for row in rows:
        counts[row.reason] += 1
    counts["covered"] = counts[SCANNED]
    counts["uncovered"] = sum(counts[r] for r in UNCOVERED)
    return counts
