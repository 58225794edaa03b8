"""The summary stored in S3 and sent to SNS, built from the run's typed QScanner report."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from qualys_lambda.changes import Changes
from qualys_lambda.priority import vulnerability_priority
from qualys_lambda.qscanner_output import SEVERITY_ORDER, Package, QScannerReport

# 3 added change tracking, suppressions, QDS, exposure, runtime support and priority (docs/findings.md).
SCHEMA_VERSION = 3
# The summary travels in SNS (256 KB message limit): it lists the worst findings, S3 keeps the rest.
TOP_VULNERABILITIES = 20
TOP_SECRETS = 20
# A scan id as an S3 key segment: QScanner's ids are UUIDs; anything else is replaced by a fresh UUID.
SCAN_ID_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class FunctionInfo(TypedDict):
    arn: str
    name: str
    account: str
    region: str
    package_type: str
    runtime: str
    code_sha256: str
    image_uri: str
    layers: list[str]
    # Schema 3: who can invoke it (public, private, unknown) and its runtime's support status.
    exposure: dict[str, Any]
    runtime_status: dict[str, Any]


class ScanInfo(TypedDict):
    status: str
    exit_code: int | None
    exit_reason: str
    scan_id: str
    policy: str
    error: str
    started_at: str
    finished_at: str
    duration_s: float
    trigger: dict[str, str]
    simulated: bool
    mode: str
    scans_performed: list[dict[str, str]]
    problems: list[str]
    # QScanner's version and ScanResult.json's SchemaVersion, and why its output was not recognised.
    qscanner_version: str
    qscanner_schema_version: str
    output_unrecognised: list[str]
    # Only on a result for code the function no longer runs (stored in S3, delivered nowhere else).
    superseded: NotRequired[bool]
    # Only on a result reused from another function's run of the same code identity (reuse.py).
    reused_from: NotRequired[dict[str, str]]


class VulnerabilityInfo(TypedDict):
    qid: str
    severity: str
    title: str
    cves: list[str]
    cvss: float | None
    packages: list[str]
    # Schema 3: Qualys Detection Score (1-100, or None) and the QID's priority on this function.
    qds: int | None
    priority: str


class SecretInfo(TypedDict):
    """Where a secret is; its text never appears in the summary."""

    rule: str
    file: str
    line: int
    severity: str


class Findings(TypedDict):
    vulnerabilities: dict[str, int]
    max_severity: str
    secrets: int
    secret_locations: list[SecretInfo]
    top: list[VulnerabilityInfo]
    max_qds: int | None
    # Schema 3, from triage.Triage: changes since the previous complete scan, new unsuppressed
    # findings, the suppressed ones with their rule, and the runtime as a finding of its own.
    changes: NotRequired[Changes]
    new_findings: NotRequired[int]
    new_max_severity: NotRequired[str]
    suppressed: NotRequired[list[dict[str, str]]]
    runtime: NotRequired[dict[str, Any] | None]


class Summary(TypedDict):
    schema_version: int
    function: FunctionInfo
    scan: ScanInfo
    findings: Findings
    s3: dict[str, Any] | None
    sbom: dict[str, str]
    # Schema 3: {"level": P1-P4 or none, "reason": ...} (priority.scan_priority).
    priority: dict[str, str]


def iso(moment: datetime) -> str:
    """UTC timestamp as the tags show it: 2026-11-26T21:07:35Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def vulnerability_counts(report: QScannerReport) -> dict[str, int]:
    """Vulnerabilities (one per QID) counted by severity, with their total."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for vulnerability in report.vulnerabilities:
        counts[vulnerability.severity_name] += 1
    counts["total"] = sum(counts[name] for name in SEVERITY_ORDER)
    return counts


def max_severity(counts: Mapping[str, int]) -> str:
    """The highest severity with a finding, or `none`."""
    return next((name for name in SEVERITY_ORDER if counts.get(name)), "none")


def package_text(package: Package) -> str:
    """`name version (fixed in x)` as people read it."""
    fixed = f" (fixed in {package.fixed_version})" if package.fixed_version else ""
    return f"{package.name} {package.version}{fixed}"


def top_vulnerabilities(
    report: QScannerReport, exposure: str = "unknown", limit: int = TOP_VULNERABILITIES
) -> list[VulnerabilityInfo]:
    """The most severe QIDs with their CVEs and packages, for people reading the summary."""
    return [
        VulnerabilityInfo(
            qid=v.qid,
            severity=v.severity_name,
            title=v.title,
            cves=list(v.cves),
            cvss=v.cvss,
            # One line per package version: the same version found at several paths is listed once.
            packages=list(dict.fromkeys(package_text(p) for p in v.packages)),
            qds=v.qds,
            priority=vulnerability_priority(v, exposure),
        )
        for v in report.vulnerabilities[:limit]
    ]


def findings_from(report: QScannerReport, exposure: str = "unknown") -> Findings:
    """Counts of vulnerabilities and secrets; the highest severity counts a leaked secret too.

    `exposure` (public, private, unknown) sets each listed QID's priority.
    """
    counts = vulnerability_counts(report)
    combined = dict(counts)
    for secret in report.secrets:
        combined[secret.severity_name] += 1
    return Findings(
        vulnerabilities=counts,
        max_severity=max_severity(combined),
        secrets=len(report.secrets),
        secret_locations=[
            SecretInfo(rule=s.rule, file=s.target, line=s.line, severity=s.severity_name)
            for s in report.secrets[:TOP_SECRETS]
        ],
        top=top_vulnerabilities(report, exposure),
        max_qds=max((v.qds for v in report.vulnerabilities if v.qds is not None), default=None),
    )


def s3_prefix(account: str, region: str, function_name: str, started: datetime, scan_id: str = "") -> str:
    """scans/<account>/<region>/<function-name>/<timestamp>-<scan-id>/: sortable, and unique per scan.

    The scan id keeps two scans of one function in the same second apart; a run without one (a failed
    or skipped QScanner run) gets a random UUID instead.
    """
    segment = scan_id if SCAN_ID_SEGMENT.match(scan_id) else str(uuid.uuid4())
    return f"scans/{account}/{region}/{function_name}/{started.strftime('%Y%m%dT%H%M%SZ')}-{segment}/"
