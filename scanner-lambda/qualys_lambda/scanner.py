"""One scan, end to end: resolve, skip or claim, run QScanner, deliver the results."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda import inventory, publish, securityhub, sizing
from qualys_lambda.aws import AwsAccess, Target, error_code, is_transient
from qualys_lambda.cache import Claim, ScanCache, ScanIdentity
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.errors import (
    ConfigurationError,
    DeliveryError,
    DestinationError,
    InvalidEventError,
    ScanFailedError,
    ScannerError,
    TransientError,
)
from qualys_lambda.events import InventoryUnit, ScanRequest
from qualys_lambda.metrics import MetricsSink, emit
from qualys_lambda.qscanner import Runner, ScanJob, ScanRun, run_scan
from qualys_lambda.qscanner_output import QScannerReport, StoredFile
from qualys_lambda.report import SCHEMA_VERSION, FunctionInfo, ScanInfo, Summary, findings_from, iso, s3_prefix
from qualys_lambda.sizing import TOO_LARGE

logger = logging.getLogger(__name__)

# Seconds kept back from the invocation's remaining time for S3, SNS, tags and the cache.
DELIVERY_MARGIN_S = 30
# A claim outlives the longest possible scan, so a crashed scanner's claim expires by itself.
CLAIM_LEASE_S = 960
EXCLUDE_VALUES = frozenset({"true", "yes", "1"})


@dataclass
class Scanner:
    """What a scan touches, supplied by the handler (defaults) or by tests (moto, fakes)."""

    settings: Settings
    aws: AwsAccess
    secrets: SecretReader
    runner: Runner
    own_function_arn: str = ""
    work_root: str = "/tmp"  # noqa: S108 - Lambda's only writable directory
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    metrics: MetricsSink = emit

    @property
    def cache(self) -> ScanCache | None:
        """The cache table, when one is configured."""
        if not self.settings.cache_table:
            return None
        return ScanCache(self.aws.home_client("dynamodb"), self.settings.cache_table, self.settings.cache_ttl_days)

    def scan(self, request: ScanRequest, remaining_s: float) -> dict[str, Any]:
        """Scan `request`'s function unless it is excluded or cached; returns a small outcome dict."""
        log = {"function_arn": request.function_arn, "event_id": request.event_id, "trigger": request.event_name}
        if request.function_arn == self.own_function_arn:
            raise InvalidEventError("the scanner does not scan itself")
        allowed = self.settings.allowed_account_ids
        if allowed and request.account not in allowed:
            raise InvalidEventError("event account is not in ALLOWED_ACCOUNT_IDS")
        target = self.aws.target(request.account, request.region)
        function = get_function(target, request.function_arn)
        configuration = function.get("Configuration", {})
        tags = function.get("Tags") or {}
        if str(tags.get(self.settings.exclude_tag, "")).lower() in EXCLUDE_VALUES:
            logger.info("scan skipped", extra={**log, "outcome": "excluded"})
            self.metrics({"ScansExcluded": 1})
            return {"outcome": "excluded", "function_arn": request.function_arn}
        identity = ScanIdentity.of(configuration)
        cache = self.cache
        failures: list[str] = []
        if cache is not None:
            try:
                claim = cache.claim(request.function_arn, identity, self.clock(), CLAIM_LEASE_S, request.force)
            except TransientError as exc:
                # Fail open: without the cache a duplicate scan is possible, a missed one is not.
                logger.error("cache unavailable", extra={**log, "error": str(exc)})
                failures.append("cache")
                claim = Claim.CLAIMED
            if claim is not Claim.CLAIMED:
                logger.info("scan skipped", extra={**log, "outcome": claim.value})
                self.metrics({"CacheHits" if claim is Claim.CACHED else "DuplicatesSkipped": 1})
                return {"outcome": claim.value, "function_arn": request.function_arn}

        started = self.clock()
        misfit = self._misfit(target, configuration, function.get("Code", {}))
        run = (
            ScanRun("failed", None, QScannerReport(), 0.0, misfit)
            if misfit
            else self._run(request, target, remaining_s)
        )
        finished = self.clock()
        summary = build_summary(request, configuration, function.get("Code", {}), run, started, finished)
        failures += self._deliver(request, target, summary, run, identity, started, cache, bool(failures))
        outcome = {
            "outcome": "scanned",
            "status": run.status,
            "scan_id": run.scan_id,
            "function_arn": request.function_arn,
            "vulnerabilities": summary["findings"]["vulnerabilities"]["total"],
            "secrets": summary["findings"]["secrets"],
            "delivery_failures": failures,
            **({"reason": TOO_LARGE} if misfit else {}),
        }
        logger.info("scan finished", extra={**log, **outcome, "outcome": "scanned"})
        if run.unrecognised:
            logger.warning("qscanner output unrecognised", extra={**log, "signs": list(run.unrecognised)})
        self.metrics(
            {
                "ScansRun": int(not misfit),
                # Too large for this scanner: a permanent outcome, recorded and alarmed, never retried.
                "ScansTooLarge": int(bool(misfit)),
                "ScanFailures": int(run.status == "failed" and not misfit),
                "DeliveryFailures": len(failures),
                "ScanDurationMilliseconds": int(run.duration_s * 1000),
                # QScanner changed its output: the templates alarm on this within a day.
                "QScannerOutputUnrecognised": int(bool(run.unrecognised)),
            }
        )
        if run.status == "failed" and not misfit:
            raise ScanFailedError(run.error)
        if failures:
            raise DeliveryError("results not delivered to: " + ", ".join(failures))
        return outcome

    def plan_inventory(self, inventory_id: str = "") -> dict[str, Any]:
        """The schedule: enqueue one inventory unit per inventoried (account, region)."""
        return inventory.plan(self.settings, self.aws, self.metrics, inventory_id)

    def run_unit(self, unit: InventoryUnit, remaining_s: Callable[[], float]) -> dict[str, Any]:
        """One unit of the inventory: list, assess and enqueue one account and region."""
        return inventory.run_unit(
            unit, self.settings, self.aws, self.cache, self.clock(), self.metrics, remaining_s, self.own_function_arn
        )

    def _misfit(self, target: Target, configuration: dict[str, Any], code: dict[str, Any]) -> str:
        """Why the function's code cannot fit in this scanner ("" when it fits or its size is unknown)."""
        size = sizing.artifact_size(target, configuration, code)
        if size is None:
            return ""
        room = sizing.room_in(self.work_root, self.settings.ephemeral_storage_mb, self.settings.memory_mb)
        return sizing.too_large(sizing.need_of(str(configuration.get("PackageType", "Zip")), size), room)

    def _run(self, request: ScanRequest, target: Target, remaining_s: float) -> ScanRun:
        deadline = remaining_s - DELIVERY_MARGIN_S
        if self.settings.scan_timeout:
            deadline = min(deadline, self.settings.scan_timeout)
        started = time.monotonic()
        run = self._run_once(request, target, deadline)
        if run.auth_failed:
            # QScanner rejected the credentials: the secret may have been rotated since it was read.
            used = self.secrets.loaded_secrets()
            self.secrets.invalidate()
            logger.warning(
                "qualys credentials rejected, re-reading the secret", extra={"function_arn": request.function_arn}
            )
            try:
                changed = self.secrets.get().secrets() != used
            except ConfigurationError:
                changed = False
            if changed:
                run = self._run_once(request, target, deadline - (time.monotonic() - started))
        return run

    def _run_once(self, request: ScanRequest, target: Target, timeout: float) -> ScanRun:
        try:
            qualys = self.secrets.get()
        except ConfigurationError as exc:
            logger.error("qualys secret unusable", extra={"function_arn": request.function_arn, "error": str(exc)})
            return ScanRun("failed", None, QScannerReport(), 0.0, str(exc))
        job = ScanJob(
            qscanner_path=self.settings.qscanner_path,
            pod=qualys.pod,
            gateway_url=qualys.gateway_url,
            qualys_env=qualys.as_env(),
            function_arn=request.function_arn,
            region=request.region,
            scan_types=self.settings.scan_types,
            formats=self.settings.sbom_formats,
            policy_tags=self.settings.policy_tags,
            aws_env=target.credentials.as_env(),
            inherited_env=dict(self.settings.qscanner_env),
            secrets=target.credentials.secrets(),
        )
        return run_scan(job, timeout, self.runner, self.work_root)

    def _deliver(
        self,
        request: ScanRequest,
        target: Target,
        summary: Summary,
        run: ScanRun,
        identity: ScanIdentity,
        started: datetime,
        cache: ScanCache | None,
        cache_failed: bool,
    ) -> list[str]:
        """Write every destination independently; returns the names of those that failed."""
        failures: list[str] = []
        settings = self.settings
        prefix = s3_prefix(request.account, request.region, request.function_name, started, run.scan_id)
        steps: list[tuple[str, Callable[[], object]]] = []
        if settings.results_bucket:
            summary["s3"] = {
                "bucket": settings.results_bucket,
                "prefix": prefix,
                "summary_key": prefix + "summary.json",
            }
            summary["sbom"] = {fmt: prefix + name for fmt, name in run.report.sboms.items()}
            steps.append(
                (
                    "s3",
                    lambda: publish.store_results(
                        self.aws.home_client("s3"), settings.results_bucket, prefix, summary, stored_files(run)
                    ),
                )
            )
        if settings.sns_topic_arn:
            steps.append(("sns", lambda: publish.notify(self.aws.home_client("sns"), settings.sns_topic_arn, summary)))
        if settings.tag_functions:
            steps.append(
                (
                    "tags",
                    lambda: publish.tag_function(
                        target.client("lambda"), request.function_arn, iso(started), run.status, run.scan_id, run.policy
                    ),
                )
            )
        # Only a complete scan says which vulnerabilities are gone; a partial or failed one must not archive.
        if settings.security_hub and run.status == "success":
            # Findings are imported in the function's own account (the hub uses the spoke role):
            # BatchImportFindings through an account's default product accepts only that account's
            # findings, and Security Hub's administrator account aggregates its members' findings.
            product = securityhub.product_arn(self.aws.partition, target.region, target.account)
            steps.append(
                (
                    "securityhub",
                    lambda: securityhub.import_findings(
                        target.client("securityhub"),
                        summary,
                        run.report,
                        product,
                        iso(self.clock()),
                    ),
                )
            )
        if settings.scan_event_bus:
            steps.append(
                (
                    "events",
                    lambda: publish.put_scan_event(self.aws.home_client("events"), settings.scan_event_bus, summary),
                )
            )
        for name, step in steps:
            try:
                step()
            except DestinationError as exc:
                logger.error("delivery failed", extra={"function_arn": request.function_arn, "error": str(exc)})
                failures.append(name)
        if cache is not None and not cache_failed:
            # A scan whose results were not all delivered must not satisfy the cache, so a retry rescans.
            status = "incomplete" if failures else run.status
            fields = {
                "status": status,
                "scan_timestamp": iso(started),
                "scan_id": run.scan_id,
                "s3_prefix": prefix if settings.results_bucket else "",
                "function_name": request.function_name,
                "account": request.account,
                "region": request.region,
                "findings": {**summary["findings"]["vulnerabilities"], "secrets": summary["findings"]["secrets"]},
            }
            if run.status == "failed" and sizing.is_too_large(run.error):
                # The coverage report shows TOO_LARGE, not FAILED, for this code.
                fields.update(failure_reason=TOO_LARGE, error=run.error)
            try:
                cache.record(request.function_arn, identity, started, fields)
            except TransientError as exc:
                logger.error("delivery failed", extra={"function_arn": request.function_arn, "error": str(exc)})
                failures.append("cache")
        return failures


def stored_files(run: ScanRun) -> tuple[StoredFile, ...]:
    """QScanner's files kept in S3; with an unrecognised output, also those the parser could not use."""
    return run.report.files + (run.report.unparsed if run.unrecognised else ())


def get_function(target: Target, function_arn: str) -> dict[str, Any]:
    """GetFunction in the target account; a vanished function is bad input, throttling is transient."""
    try:
        response: dict[str, Any] = target.client("lambda").get_function(FunctionName=function_arn)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise InvalidEventError("function no longer exists") from exc
        if is_transient(exc):
            raise TransientError("GetFunction was throttled") from exc
        raise ScannerError(f"GetFunction failed: {code}") from exc
    return response


def build_summary(
    request: ScanRequest,
    configuration: dict[str, Any],
    code: dict[str, Any],
    run: ScanRun,
    started: datetime,
    finished: datetime,
) -> Summary:
    """The JSON stored as summary.json and sent to SNS: no raw output, no credentials."""
    function = FunctionInfo(
        arn=request.function_arn,
        name=request.function_name,
        account=request.account,
        region=request.region,
        package_type=str(configuration.get("PackageType", "Zip")),
        runtime=str(configuration.get("Runtime", "")),
        code_sha256=str(configuration.get("CodeSha256", "")),
        image_uri=str(code.get("ImageUri", "")),
        layers=sorted(layer["Arn"] for layer in configuration.get("Layers", [])),
    )
    report = run.report
    scan = ScanInfo(
        status=run.status,
        exit_code=run.exit_code,
        exit_reason=run.exit_reason,
        scan_id=run.scan_id,
        policy=run.policy,
        error=run.error,
        started_at=iso(started),
        finished_at=iso(finished),
        duration_s=run.duration_s,
        trigger={"event_name": request.event_name, "event_id": request.event_id},
        simulated=report.simulated,
        mode=run.mode,
        scans_performed=[{"type": s.scan_type, "status": s.status} for s in report.scans_performed],
        problems=[p for p in run.error.split("; ") if p] if run.status == "partial" else [],
        qscanner_version=report.qscanner_version,
        qscanner_schema_version=report.schema_version,
        output_unrecognised=list(run.unrecognised),
    )
    return Summary(
        schema_version=SCHEMA_VERSION, function=function, scan=scan, findings=findings_from(report), s3=None, sbom={}
    )
