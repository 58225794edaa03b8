"""Findings read from QScanner's files, and the summary stored in S3 and sent to SNS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

SEVERITY_NAMES = {5: "critical", 4: "high", 3: "medium", 2: "low", 1: "info"}
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# Secret rules carry words, not numbers; a secret of unknown severity counts as high.
SECRET_SEVERITY_NAMES = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "INFO": "info"}
SARIF_SUFFIX = "-Report.sarif.json"
SCAN_RESULT_SUFFIX = "-ScanResult.json"
SBOM_SUFFIXES = {"spdx": "-ScanResult.spdx.json", "cyclonedx": "-ScanResult.cdx.json"}


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


class ScanInfo(TypedDict):
    status: str
    exit_code: int | None
    scan_id: str
    policy: str
    error: str
    started_at: str
    finished_at: str
    duration_s: float
    trigger: dict[str, str]
    simulated: bool


class Findings(TypedDict):
    vulnerabilities: dict[str, int]
    max_severity: str
    secrets: int


class Summary(TypedDict):
    schema_version: int
    function: FunctionInfo
    scan: ScanInfo
    findings: Findings
    s3: dict[str, Any] | None
    sbom: dict[str, str]


def iso(moment: datetime) -> str:
    """UTC timestamp as the tags show it: 2026-11-26T21:07:35Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(files: Mapping[str, bytes], suffix: str) -> Any:
    for name, content in files.items():
        if name.endswith(suffix):
            try:
                return json.loads(content)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return None
    return None


def vulnerability_counts(sarif: Any) -> dict[str, int]:
    """Results of a SARIF report counted by QScanner severity (5 critical ... 1 info)."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    runs = sarif.get("runs", []) if isinstance(sarif, dict) else []
    for run in runs if isinstance(runs, list) else []:
        for result in run.get("results", []) if isinstance(run, dict) else []:
            properties = result.get("properties", {}) if isinstance(result, dict) else {}
            severity = properties.get("severity") if isinstance(properties, dict) else None
            name = (
                SEVERITY_NAMES.get(int(severity))
                if isinstance(severity, int | float | str) and str(severity).isdigit()
                else None
            )
            counts[name or "info"] += 1
    counts["total"] = sum(counts[name] for name in SEVERITY_ORDER)
    return counts


@dataclass
class Vulnerability:
    """One QID found in a function, with every package it affects."""

    qid: str
    severity: int
    title: str
    cves: list[str] = field(default_factory=list)
    cvss: float | None = None
    packages: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Secret:
    """Where a secret was found; never its content."""

    rule: str
    target: str
    line: int
    severity: str
    title: str


def vulnerabilities(files: Mapping[str, bytes]) -> list[Vulnerability]:
    """SARIF results grouped by QID (one finding per vulnerability per function)."""
    sarif = _load(files, SARIF_SUFFIX)
    by_qid: dict[str, Vulnerability] = {}
    runs = sarif.get("runs", []) if isinstance(sarif, dict) else []
    for run in runs if isinstance(runs, list) else []:
        for result in run.get("results", []) if isinstance(run, dict) else []:
            props = result.get("properties") if isinstance(result, dict) else None
            if not isinstance(props, dict):
                continue
            qid = str(props.get("qid") or result.get("ruleId") or "unknown")
            severity = props.get("severity")
            entry = by_qid.setdefault(
                qid,
                Vulnerability(
                    qid=qid,
                    severity=int(severity) if isinstance(severity, int) and 1 <= severity <= 5 else 1,
                    title=str(result.get("message", {}).get("text", f"QID {qid}"))[:256],
                    cves=[str(c) for c in props.get("cves", []) if isinstance(c, str)],
                    cvss=float(props["cvssV3"]) if isinstance(props.get("cvssV3"), int | float) else None,
                ),
            )
            package = {
                "Name": str(props.get("package", "")),
                "Version": str(props.get("installedVersion", "")),
                "FixedInVersion": str(props.get("fixedVersion", "")),
            }
            if package["Name"] and package not in entry.packages:
                entry.packages.append(package)
    return list(by_qid.values())


def secrets(files: Mapping[str, bytes]) -> list[Secret]:
    """Secret locations from ScanResult.json, without the matched text."""
    scan_result = _load(files, SCAN_RESULT_SUFFIX)
    entries = scan_result.get("SecretResults") if isinstance(scan_result, dict) else None
    found: list[Secret] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        # An entry without a Secrets list is itself one finding.
        listed = entry.get("Secrets")
        items: list[Any] = listed if isinstance(listed, list) else [entry]
        for item in items:
            if isinstance(item, dict):
                found.append(
                    Secret(
                        rule=str(item.get("RuleID", "secret")),
                        target=str(entry.get("Target", "")),
                        line=int(item.get("StartLine") or 0),
                        severity=str(item.get("Severity", "HIGH")).upper(),
                        title=str(item.get("Title", "Secret"))[:256],
                    )
                )
    return found


def max_severity(counts: Mapping[str, int]) -> str:
    """The highest severity with a finding, or `none`."""
    return next((name for name in SEVERITY_ORDER if counts.get(name)), "none")


def findings_from(files: Mapping[str, bytes]) -> Findings:
    """Counts of vulnerabilities and secrets; the highest severity counts a leaked secret too."""
    counts = vulnerability_counts(_load(files, SARIF_SUFFIX))
    found = secrets(files)
    secret_severities = dict.fromkeys(SEVERITY_ORDER, 0)
    for secret in found:
        secret_severities[SECRET_SEVERITY_NAMES.get(secret.severity, "high")] += 1
    combined = {name: counts[name] + secret_severities[name] for name in SEVERITY_ORDER}
    return Findings(vulnerabilities=counts, max_severity=max_severity(combined), secrets=len(found))


def is_simulated(files: Mapping[str, bytes]) -> bool:
    """Whether the output came from the project's simulated QScanner."""
    scan_result = _load(files, SCAN_RESULT_SUFFIX)
    return bool(isinstance(scan_result, dict) and scan_result.get("Simulated"))


def s3_prefix(account: str, region: str, function_name: str, started: datetime) -> str:
    """scans/<account>/<region>/<function-name>/<timestamp>/ (compact UTC timestamp, sortable)."""
    return f"scans/{account}/{region}/{function_name}/{started.strftime('%Y%m%dT%H%M%SZ')}/"


def sbom_files(files: Mapping[str, bytes]) -> dict[str, str]:
    """{format: file name} of the SBOMs QScanner wrote."""
    return {fmt: name for fmt, suffix in SBOM_SUFFIXES.items() for name in files if name.endswith(suffix)}
