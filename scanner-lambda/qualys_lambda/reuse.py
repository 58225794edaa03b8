"""One scan per artifact: functions that share a code identity share the identity's last complete QScanner run.

After a complete own run (status `success`, every destination delivered, not superseded) the scanner records,
in the cache table under `identity#<key>` (cache.py), where that run's QScanner files are in the results
bucket. A later scan of any function with the same identity (CodeSha256 and layer versions) reads those
files back and parses them with the run's own parser (`qscanner.finished_run`), then delivers the result as
its own. Without a results bucket there is nothing to read back, so there is no reuse.

Only `success` is reusable: the cache rescans a `partial` function at its next trigger, and a reused partial
would keep every copy (and the scanned function itself) partial until the record expired. A failed scan is
never recorded.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qualys_lambda.cache import ScanCache, ScanIdentity
from qualys_lambda.config import Settings
from qualys_lambda.coverage import TIMESTAMP_FORMAT
from qualys_lambda.qscanner import MAX_OUTPUT_FILE_BYTES, ScanJob, ScanRun, finished_run
from qualys_lambda.summary import iso

REUSABLE_STATUSES = frozenset({"success"})
# What a recorded file name and prefix may be: names QScanner wrote in its output directory, our own prefixes.
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,250}$")
PREFIX = re.compile(r"^scans/[A-Za-z0-9._/-]{1,900}/$")


class StoredResultUnreadable(Exception):
    """The recorded files could not be read back: the scan runs QScanner instead."""


@dataclass(frozen=True)
class IdentityResult:
    """The last complete result of one code identity, as the cache table holds it."""

    identity: str
    function_arn: str
    scan_id: str
    status: str
    scan_timestamp: str
    bucket: str
    s3_prefix: str
    files: tuple[str, ...]
    exit_code: int
    # The settings that shaped the run: a result is reused only under the same ones.
    scan_types: str
    policy_tags: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> IdentityResult | None:
        """The record in a cache item, or None when the item is not a well-formed one."""
        files = item.get("files")
        exit_code = item.get("exit_code")
        if not isinstance(files, list) or not isinstance(exit_code, int):
            return None
        record = cls(
            identity=str(item.get("scan_identity", "")),
            function_arn=str(item.get("scanned_function_arn", "")),
            scan_id=str(item.get("scan_id", "")),
            status=str(item.get("status", "")),
            scan_timestamp=str(item.get("scan_timestamp", "")),
            bucket=str(item.get("bucket", "")),
            s3_prefix=str(item.get("s3_prefix", "")),
            files=tuple(str(name) for name in files),
            exit_code=exit_code,
            scan_types=str(item.get("scan_types", "")),
            policy_tags=str(item.get("policy_tags", "")),
        )
        well_formed = PREFIX.match(record.s3_prefix) and all(FILE_NAME.match(name) for name in record.files)
        return record if well_formed and record.files else None

    def fields(self) -> dict[str, Any]:
        """The item's attributes besides its key, identity and TTL (cache.py adds those)."""
        values = asdict(self)
        del values["identity"]
        values["scanned_function_arn"] = values.pop("function_arn")
        values["files"] = list(self.files)
        return values

    @property
    def scanned_at(self) -> datetime | None:
        """When the recorded run started (UTC), None when unreadable."""
        try:
            return datetime.strptime(self.scan_timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None

    def reused_from(self) -> dict[str, str]:
        """The summary's `scan.reused_from`: which function's run this result is."""
        return {
            "function_arn": self.function_arn,
            "scan_id": self.scan_id,
            "s3_prefix": self.s3_prefix,
            "identity": self.identity,
            "scan_timestamp": self.scan_timestamp,
        }


def result_of(
    identity: ScanIdentity, function_arn: str, run: ScanRun, started: datetime, settings: Settings, prefix: str
) -> IdentityResult | None:
    """What to record after an own run: None when the run is not reusable or there is no results bucket."""
    if run.status not in REUSABLE_STATUSES or run.exit_code is None or not settings.results_bucket:
        return None
    return IdentityResult(
        identity=identity.key,
        function_arn=function_arn,
        scan_id=run.scan_id,
        status=run.status,
        scan_timestamp=iso(started),
        bucket=settings.results_bucket,
        s3_prefix=prefix,
        files=tuple(stored.name for stored in run.report.files),
        exit_code=run.exit_code,
        scan_types=settings.scan_types,
        policy_tags=settings.policy_tags,
    )


def usable(record: IdentityResult, settings: Settings, now: datetime) -> bool:
    """Whether `record` may stand for a new scan now: reusable, in this bucket, under the same scan settings,
    and fresh: scanned within RescanAfterDays, so a rescan for new vulnerability data reaches QScanner once."""
    scanned_at = record.scanned_at
    return (
        record.status in REUSABLE_STATUSES
        and bool(settings.results_bucket)
        and record.bucket == settings.results_bucket
        and record.scan_types == settings.scan_types
        and record.policy_tags == settings.policy_tags
        and scanned_at is not None
        and now - scanned_at <= timedelta(days=settings.rescan_after_days)
    )


def read_back(s3: Any, record: IdentityResult, settings: Settings) -> ScanRun:
    """The recorded run, its files read from S3 and parsed as a run's are; StoredResultUnreadable otherwise."""
    files: dict[str, bytes] = {}
    for name in record.files:
        try:
            response = s3.get_object(Bucket=record.bucket, Key=record.s3_prefix + name)
            body: bytes = response["Body"].read(MAX_OUTPUT_FILE_BYTES + 1)
        except (ClientError, BotoCoreError) as exc:
            raise StoredResultUnreadable(f"{name}: {type(exc).__name__}") from exc
        if len(body) > MAX_OUTPUT_FILE_BYTES:
            raise StoredResultUnreadable(f"{name}: larger than a QScanner file may be")
        files[name] = body
    job = ScanJob(qscanner_path="", scan_types=settings.scan_types, policy_tags=settings.policy_tags)
    run = finished_run(job, record.exit_code, files, 0.0)
    # The files must still say what was recorded: the same scan, as complete.
    if run.scan_id != record.scan_id or run.status != record.status:
        raise StoredResultUnreadable(f"the stored files no longer give a {record.status} result of {record.scan_id}")
    return run


def recorded(cache: ScanCache, identity: ScanIdentity, now: datetime) -> IdentityResult | None:
    """The identity's recorded result, None when there is none (or it expired, or is not well formed)."""
    item = cache.identity_result(identity, now)
    return IdentityResult.from_item(item) if item else None


def remember(cache: ScanCache, identity: ScanIdentity, record: IdentityResult, now: datetime) -> None:
    """Record `record` as the identity's last complete result (replacing an older one)."""
    cache.remember_identity(identity, now, record.fields())
