"""One scan, end to end: resolve, skip or claim, run QScanner, deliver the results."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda import changes, publish, reuse, securityhub, sizing, targets
from qualys_lambda.aws import Target, error_code, is_transient
from qualys_lambda.cache import Claim, ScanCache, ScanIdentity
from qualys_lambda.deps import Deps
from qualys_lambda.errors import (
    ConfigurationError,
    DeliveryError,
    DestinationError,
    FunctionGoneError,
    InvalidEventError,
    ScanFailedError,
    ScannerError,
    TransientError,
)
from qualys_lambda.events import DELETE_EVENT_NAME, ScanRequest
from qualys_lambda.exposure import read_exposure
from qualys_lambda.qscanner import ScanJob, ScanRun, run_scan
from qualys_lambda.qscanner_output import JSON_CONTENT_TYPE, QScannerReport, StoredFile
from qualys_lambda.retries import failure_reason, is_permanent
from qualys_lambda.summary import SCHEMA_VERSION, FunctionInfo, ScanInfo, Summary, findings_from, iso, s3_prefix
from qualys_lambda.suppressions import Suppressions
from qualys_lambda.triage import Triage, assess

logger = logging.getLogger(__name__)

# Seconds kept back from the invocation's remaining time for S3, SNS, tags and the cache.
DELIVERY_MARGIN_S = 30
# A claim outlives the longest possible scan, so a crashed scanner's claim expires by itself.
CLAIM_LEASE_S = 960


@dataclass
class Scanner:
    """One scan of one function, with what the handler (or a test) built once."""

    deps: Deps

    def scan(self, request: ScanRequest, remaining_s: float) -> dict[str, Any]:
        """Scan `request`'s function unless it is excluded or cached; returns a small outcome dict."""
        log = {"function_arn": request.function_arn, "event_id": request.event_id, "trigger": request.event_name}
        if request.unqualified_arn == self.deps.own_function_arn:
            raise InvalidEventError("the scanner does not scan itself")
        if not self.deps.settings.in_scope(request.account):
            raise InvalidEventError("event account is not in ALLOWED_ACCOUNT_IDS")
        target = self.deps.aws.target(request.account, request.region)
        try:
            function = get_function(target, request.function_arn)
        except FunctionGoneError:
            archived = self._retire(request, target)
            logger.info("findings retired", extra={**log, "outcome": "retired", "archived": archived})
            if request.event_name != DELETE_EVENT_NAME:
                raise
            return {"outcome": "retired", "function_arn": request.function_arn, "archived": archived}
        if request.event_name == DELETE_EVENT_NAME:
            # Deleted, then created again under the same name: the new function's own events scan it.
            raise InvalidEventError("the deleted function exists again")
        configuration = function.get("Configuration", {})
        tags = function_tags(target, request.unqualified_arn, function)  # a version's tags are its function's
        if tags is None:
            logger.warning("scan skipped", extra={**log, "outcome": "unknown", "reason": "tags unreadable"})
            return {"outcome": "unknown", "function_arn": request.function_arn, "reason": "tags unreadable"}
        if self.deps.settings.excludes(tags):
            archived = self._retire(request, target)
            logger.info("scan skipped", extra={**log, "outcome": "excluded", "archived": archived})
            self.deps.metrics({"ScansExcluded": 1})
            return {"outcome": "excluded", "function_arn": request.function_arn}
        if request.qualifier and (not_target := targets.check_version(self, request, target)) is not None:
            return not_target  # a published version is a target only while an alias points to it
        # Read before the claim: a throttled read fails (and is retried) before QScanner runs. The
        # unqualified function's URL and policy, for a version too (exposure.py).
        exposure = read_exposure(target.client("lambda"), request.unqualified_arn)
        identity = ScanIdentity.of(configuration)
        cache = self.deps.cache
        failures: list[str] = []
        # The claim's token: only the scan that still holds it records its result (see `_is_current`).
        token = ""
        if cache is not None:
            try:
                token = uuid.uuid4().hex
                claim = cache.claim(
                    request.function_arn, identity, self.deps.clock(), CLAIM_LEASE_S, request.force, token
                )
            except TransientError as exc:
                # Fail open: without the cache a duplicate scan is possible, a missed one is not.
                logger.error("cache unavailable", extra={**log, "error": str(exc)})
                failures.append("cache")
                claim, token = Claim.CLAIMED, ""
            if claim is not Claim.CLAIMED:
                logger.info("scan skipped", extra={**log, "outcome": claim.value})
                self.deps.metrics({"CacheHits" if claim is Claim.CACHED else "DuplicatesSkipped": 1})
                return {"outcome": claim.value, "function_arn": request.function_arn}
        prior = self._prior_item(request.function_arn, cache, token)
        previous = changes.from_record(prior.get(changes.RECORD_FIELD))
        # This code already failed on an earlier request: the inventory's back-off retries it, not SQS, so
        # a function that always fails transiently costs one run per back-off step (section 14).
        failed_before = (
            prior.get("scan_identity") == identity.key
            and prior.get("status") == "failed"
            and prior.get("request_id") != request.event_id
        )

        started = self.deps.clock()
        # A published version, or any function with ScanIdenticalCodeOnce: another target's complete run of
        # this code stands for a run (reuse.py).
        reused = self._reused(request, identity, cache, token, log)
        misfit = "" if reused else self._misfit(target, configuration, function.get("Code", {}))
        run = (
            reused[1]
            if reused
            else ScanRun("failed", None, QScannerReport(), 0.0, misfit)
            if misfit
            else self._run(request, target, remaining_s)
        )
        finished = self.deps.clock()
        # Permanent for this code (retries.py: too large, invalid parameter, artifact), or failed again:
        # recorded, not retried by SQS.
        permanent = failure_reason(run) if is_permanent(run) or (run.status == "failed" and failed_before) else ""
        superseded = not self._is_current(request, target, identity, cache, token)
        prefix = s3_prefix(request.account, request.region, targets.path_name(request), started, run.scan_id)
        if superseded:
            # Its own prefix: a newer scan that started in the same second keeps its objects.
            prefix = prefix.rstrip("/") + "-superseded/"
        bucket = self.deps.settings.results_bucket
        triage = assess(
            run.report,
            run.status,
            previous,
            exposure,
            str(configuration.get("Runtime", "")),
            self.deps.suppressions.get() if self.deps.suppressions else Suppressions(),
            request.function_arn,
            request.account,
            finished,
        )
        summary = build_summary(
            request,
            configuration,
            function.get("Code", {}),
            run,
            started,
            finished,
            bucket,
            prefix,
            triage,
            superseded,
            reused[0].reused_from() if reused else None,
        )
        if superseded:
            return self._superseded(request, summary, run, prefix, cache, token, log)
        # A reused result is as old as the run it reuses: its tags and cache item carry that run's time.
        scanned_at = (reused[0].scanned_at if reused else None) or started
        failures += self._deliver(request, target, summary, run, triage, identity, scanned_at, prefix, cache, token)
        if not failures and not reused:
            self._remember(request, identity, run, started, prefix, cache)
        outcome = {
            "outcome": "scanned",
            "status": run.status,
            "scan_id": run.scan_id,
            "function_arn": request.function_arn,
            "vulnerabilities": summary["findings"]["vulnerabilities"]["total"],
            "secrets": summary["findings"]["secrets"],
            "new_findings": triage.new_findings,
            "priority": triage.priority.level,
            "delivery_failures": failures,
            **({"reason": permanent} if permanent else {}),
        }
        logger.info("scan finished", extra={**log, **outcome, "outcome": "scanned"})
        if run.unrecognised:
            logger.warning("qscanner output unrecognised", extra={**log, "signs": list(run.unrecognised)})
        self.deps.metrics(
            {
                "ScansRun": int(not misfit and not reused),
                # ScanIdenticalCodeOnce: a scan delivered from another function's run, no QScanner run.
                "ScansReused": int(bool(reused)),
                # Too large for this scanner: a permanent outcome, recorded and alarmed, never retried.
                "ScansTooLarge": int(bool(misfit)),
                "ScanFailures": int(run.status == "failed" and not misfit),
                "DeliveryFailures": len(failures),
                "ScanDurationMilliseconds": int(run.duration_s * 1000),
                # QScanner changed its output: the templates alarm on this within a day.
                "QScannerOutputUnrecognised": int(bool(run.unrecognised)),
            }
        )
        if run.status == "failed" and not permanent:
            raise ScanFailedError(run.error)
        if failures:
            raise DeliveryError("results not delivered to: " + ", ".join(failures))
        return outcome

    def _prior_item(self, function_arn: str, cache: ScanCache | None, token: str) -> dict[str, Any]:
        """The function's cache item as this scan claimed it (its last result, finding keys, failures); {}
        without one."""
        if cache is None or not token:
            return {}
        try:
            return cache.lookup(function_arn) or {}
        except TransientError as exc:
            # As the claim: fail open, so a finding may be announced twice but never missed.
            logger.error("cache unavailable", extra={"function_arn": function_arn, "error": str(exc)})
            return {}

    def _may_reuse(self, request: ScanRequest) -> bool:
        """Whether this request may take another target's result for its code identity (reuse.py): always
        for a published version (its code was typically scanned as $LATEST when it was published), and for
        any function with ScanIdenticalCodeOnce."""
        return bool(request.qualifier) or self.deps.settings.scan_identical_code_once

    def _reused(
        self, request: ScanRequest, identity: ScanIdentity, cache: ScanCache | None, token: str, log: dict[str, str]
    ) -> tuple[reuse.IdentityResult, ScanRun] | None:
        """The identity's recorded result, read back, when reuse is allowed and a usable one exists."""
        settings = self.deps.settings
        if cache is None or not token or not settings.results_bucket or not self._may_reuse(request):
            return None
        now = self.deps.clock()
        try:
            record = reuse.recorded(cache, identity, now)
        except TransientError as exc:
            logger.warning("code identity record unreadable, running QScanner", extra={**log, "error": str(exc)})
            return None
        # A function's own record is not reused: a request that passed the claim for unchanged code was forced.
        if record is None or record.function_arn == request.function_arn or not reuse.usable(record, settings, now):
            return None
        try:
            return record, reuse.read_back(self.deps.aws.home_client("s3"), record, settings)
        except reuse.StoredResultUnreadable as exc:
            logger.warning(
                "stored result unreadable, running QScanner",
                extra={**log, "error": str(exc), "reused_function_arn": record.function_arn},
            )
            return None

    def _remember(
        self,
        request: ScanRequest,
        identity: ScanIdentity,
        run: ScanRun,
        started: datetime,
        prefix: str,
        cache: ScanCache | None,
    ) -> None:
        """Record a complete, delivered own run as its identity's result, for the identity's other functions."""
        record = reuse.result_of(identity, request.function_arn, run, started, self.deps.settings, prefix)
        if cache is None or record is None:
            return
        try:
            reuse.remember(cache, identity, record, self.deps.clock())
        except TransientError as exc:
            # Only costs a later QScanner run of this code: not a delivery failure.
            logger.warning(
                "code identity not recorded", extra={"function_arn": request.function_arn, "error": str(exc)}
            )

    def _misfit(self, target: Target, configuration: dict[str, Any], code: dict[str, Any]) -> str:
        """Why the function's code cannot fit in this scanner ("" when it fits or its size is unknown)."""
        size = sizing.artifact_size(target, configuration, code)
        if size is None:
            return ""
        room = sizing.room_in(
            self.deps.work_root, self.deps.settings.ephemeral_storage_mb, self.deps.settings.memory_mb
        )
        return sizing.too_large(sizing.need_of(str(configuration.get("PackageType", "Zip")), size), room)

    def _run(self, request: ScanRequest, target: Target, remaining_s: float) -> ScanRun:
        deadline = remaining_s - DELIVERY_MARGIN_S
        if self.deps.settings.scan_timeout:
            deadline = min(deadline, self.deps.settings.scan_timeout)
        started = time.monotonic()
        run = self._run_once(request, target, deadline)
        if run.auth_failed:
            # QScanner rejected the credentials: the secret may have been rotated since it was read.
            used = self.deps.secrets.loaded_secrets()
            self.deps.secrets.invalidate()
            logger.warning(
                "qualys credentials rejected, re-reading the secret", extra={"function_arn": request.function_arn}
            )
            try:
                changed = self.deps.secrets.get().secrets() != used
            except ConfigurationError:
                changed = False
            if changed:
                run = self._run_once(request, target, deadline - (time.monotonic() - started))
        return run

    def _run_once(self, request: ScanRequest, target: Target, timeout: float) -> ScanRun:
        try:
            qualys = self.deps.secrets.get()
        except ConfigurationError as exc:
            logger.error("qualys secret unusable", extra={"function_arn": request.function_arn, "error": str(exc)})
            return ScanRun("failed", None, QScannerReport(), 0.0, str(exc))
        job = ScanJob(
            qscanner_path=self.deps.settings.qscanner_path,
            pod=qualys.pod,
            gateway_url=qualys.gateway_url,
            qualys_env=qualys.as_env(),
            function_arn=request.function_arn,
            region=request.region,
            scan_types=self.deps.settings.scan_types,
            formats=self.deps.settings.sbom_formats,
            policy_tags=self.deps.settings.policy_tags,
            aws_env=target.credentials.as_env(),
            inherited_env=dict(self.deps.settings.qscanner_env),
            secrets=target.credentials.secrets(),
        )
        return run_scan(job, timeout, self.deps.runner, self.deps.work_root)

    def _is_current(
        self, request: ScanRequest, target: Target, identity: ScanIdentity, cache: ScanCache | None, token: str
    ) -> bool:
        """Whether the run's result is the function's current one, and may be delivered and recorded as such.

        Two checks: the function's code and layers, read again after the run, are still those scanned
        (this alone holds without a cache); and the scan still holds its claim, which a scan of newer code
        takes over. The cache's conditional record (`ScanCache.record`) repeats the second atomically.
        """
        try:
            configuration = get_function(target, request.function_arn).get("Configuration", {})
        except FunctionGoneError:
            return False
        if ScanIdentity.of(configuration) != identity:
            return False
        return cache is None or not token or cache.holds(request.function_arn, token)

    def _superseded(
        self,
        request: ScanRequest,
        summary: Summary,
        run: ScanRun,
        prefix: str,
        cache: ScanCache | None,
        token: str,
        log: dict[str, str],
    ) -> dict[str, Any]:
        """A result for code the function no longer runs: its summary is kept in S3, marked, and nothing else."""
        failures: list[str] = []
        if self.deps.settings.results_bucket:
            try:
                self._store(summary, run, prefix)
            except DestinationError as exc:
                logger.error("delivery failed", extra={**log, "error": str(exc)})
                failures.append("s3")
        if cache is not None and token:
            cache.release(request.function_arn, token)
        outcome = {
            "outcome": "superseded",
            "status": run.status,
            "scan_id": run.scan_id,
            "function_arn": request.function_arn,
            "delivery_failures": failures,
        }
        logger.warning("scan superseded", extra={**log, **outcome})
        self.deps.metrics({"ScansRun": 1, "ScanDurationMilliseconds": int(run.duration_s * 1000)})
        return outcome

    def _retire(self, request: ScanRequest, target: Target) -> int:
        """Archive the findings of a function that is gone or excluded and forget its cache item."""
        archived = 0
        if self.deps.settings.security_hub:
            product = securityhub.product_arn(request.partition, target.region, target.account)
            try:
                counts = securityhub.archive_findings(
                    target.client("securityhub"), product, request.function_arn, iso(self.deps.clock())
                )
            except DestinationError as exc:
                raise DeliveryError(f"findings not archived: {exc}") from exc
            archived = counts["archived"]
        cache = self.deps.cache
        if cache is not None:
            cache.forget(request.function_arn)
        return archived + targets.retired(self, request, target)

    def _store(self, summary: Summary, run: ScanRun, prefix: str, vex: dict[str, Any] | None = None) -> None:
        """The S3 destination: the summary, QScanner's files and the OpenVEX document under `prefix`."""
        bucket = self.deps.settings.results_bucket
        files = stored_files(run)
        if vex is not None:
            files += (StoredFile(publish.OPENVEX_FILE, json.dumps(vex, indent=2).encode(), JSON_CONTENT_TYPE),)
        publish.store_results(self.deps.aws.home_client("s3"), bucket, prefix, summary, files)

    def _deliver(
        self,
        request: ScanRequest,
        target: Target,
        summary: Summary,
        run: ScanRun,
        triage: Triage,
        identity: ScanIdentity,
        started: datetime,
        prefix: str,
        cache: ScanCache | None,
        token: str,
    ) -> list[str]:
        """Write every destination independently; returns the names of those that failed."""
        failures: list[str] = []
        settings = self.deps.settings
        steps: list[tuple[str, Callable[[], object]]] = []
        if settings.results_bucket:
            steps.append(("s3", lambda: self._store(summary, run, prefix, triage.openvex)))
        if settings.sns_topic_arn:
            steps.append(
                ("sns", lambda: publish.notify(self.deps.aws.home_client("sns"), settings.sns_topic_arn, summary))
            )
        if settings.tag_functions:
            steps.append(
                (
                    "tags",
                    # The function's tags, combined over its targets (targets.py: tags belong to the function).
                    lambda: targets.tag_targets(
                        self.deps, target, request, iso(started), run.status, run.scan_id, run.policy
                    ),
                )
            )
        # A partial scan imports what it found; only a complete one says which findings are gone (archives).
        if settings.security_hub and run.status in ("success", "partial"):
            # Findings are imported in the function's own account (the hub uses the spoke role):
            # BatchImportFindings through an account's default product accepts only that account's
            # findings, and Security Hub's administrator account aggregates its members' findings.
            product = securityhub.product_arn(request.partition, target.region, target.account)
            steps.append(
                (
                    "securityhub",
                    lambda: securityhub.import_findings(
                        target.client("securityhub"),
                        summary,
                        run.report,
                        product,
                        iso(self.deps.clock()),
                        archive=run.status == "success",
                    ),
                )
            )
        if settings.scan_event_bus:
            steps.append(
                (
                    "events",
                    lambda: publish.put_scan_event(
                        self.deps.aws.home_client("events"), settings.scan_event_bus, summary
                    ),
                )
            )
        for name, step in steps:
            try:
                step()
            except DestinationError as exc:
                logger.error("delivery failed", extra={"function_arn": request.function_arn, "error": str(exc)})
                failures.append(name)
        if cache is not None and token:
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
                # The next scan's baseline: a retry after a failed delivery announces the same new findings.
                changes.RECORD_FIELD: triage.record(delivered=not failures),
            }
            if run.status == "failed":
                # Why, and whether a retry can help (retries.py), for the coverage report and the inventory's
                # back-off; the request id makes SQS redeliveries of one request one attempt (cache.record).
                fields.update(failure_reason=failure_reason(run), error=run.error, request_id=request.event_id)
            try:
                if not cache.record(request.function_arn, identity, started, fields, token):
                    # A scan of newer code claimed the function during this delivery; its result stands.
                    logger.warning("scan superseded", extra={"function_arn": request.function_arn})
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
            raise FunctionGoneError("function no longer exists") from exc
        if is_transient(exc):
            raise TransientError("GetFunction was throttled") from exc
        raise ScannerError(f"GetFunction failed: {code}") from exc
    return response


def function_tags(target: Target, function_arn: str, function: dict[str, Any]) -> dict[str, str] | None:
    """The function's tags, or None when they cannot be read (then whether it is excluded is unknown).

    GetFunction returns tags only to a caller allowed lambda:ListTags, and otherwise a `TagsError`
    instead (AWS Lambda API Reference, GetFunction and TagsError): ListTags is then asked directly.
    """
    if "TagsError" not in function:
        return dict(function.get("Tags") or {})
    try:
        tags: dict[str, str] = target.client("lambda").list_tags(Resource=function_arn).get("Tags", {})
    except ClientError as exc:
        if is_transient(exc):
            raise TransientError("ListTags was throttled") from exc
        return None
    return tags


def build_summary(
    request: ScanRequest,
    configuration: dict[str, Any],
    code: dict[str, Any],
    run: ScanRun,
    started: datetime,
    finished: datetime,
    bucket: str,
    prefix: str,
    triage: Triage,
    superseded: bool = False,
    reused_from: dict[str, str] | None = None,
) -> Summary:
    """The JSON stored as summary.json and sent to SNS: no raw output, no credentials.

    With a results bucket it names the objects stored under `prefix` (the summary, the SBOMs and, when a
    suppression carries a VEX justification, the OpenVEX document).
    """
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
        exposure=triage.exposure.as_json(),
        runtime_status=triage.runtime.as_json(),
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
        problems=list(run.problems),
        qscanner_version=report.qscanner_version,
        qscanner_schema_version=report.schema_version,
        output_unrecognised=list(run.unrecognised),
    )
    if superseded:
        scan["superseded"] = True
    if reused_from:
        scan["reused_from"] = reused_from
    s3: dict[str, Any] | None = None
    if bucket:
        s3 = {"bucket": bucket, "prefix": prefix, "summary_key": prefix + publish.SUMMARY_FILE}
        if triage.openvex is not None:
            s3["openvex_key"] = prefix + publish.OPENVEX_FILE
    sbom = {fmt: prefix + name for fmt, name in report.sboms.items()} if bucket else {}
    findings = findings_from(report, triage.exposure.status)
    findings["changes"] = triage.changes
    findings["new_findings"] = triage.new_findings
    findings["new_max_severity"] = triage.new_max_severity
    findings["suppressed"] = triage.suppressed_json()
    findings["runtime"] = triage.runtime_finding()
    return Summary(
        schema_version=SCHEMA_VERSION,
        function=function,
        scan=scan,
        findings=findings,
        s3=s3,
        sbom=sbom,
        priority=triage.priority.as_json(),
    )
