"""QScanner's output files, read once after the run into one typed report; secret text stripped on the way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# File names and layouts below are from the Qualys QScanner README v4.8.0 (get-report mode).
SARIF_SUFFIX = "-Report.sarif.json"
SCAN_RESULT_SUFFIX = "-ScanResult.json"
SPDX_SUFFIX = "-ScanResult.spdx.json"
# Written next to the JSON files (LZMA, binary): the SPDX copy and QScanner's changelist database.
# Not stored: the SPDX copy duplicates the .spdx.json file and the changelist is QScanner's own cache.
BINARY_SUFFIXES = (".xz",)
# The CycloneDX file's name is not documented, so it is recognised by its content.
CYCLONEDX_FORMAT = "CycloneDX"
# Rule `properties.severity` runs 1 (minimal) to 5 (urgent) in QScanner's SARIF.
SEVERITY_NAMES = {5: "critical", 4: "high", 3: "medium", 2: "low", 1: "info"}
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# Rule `properties.qds`: the Qualys Detection Score, 1 (lowest risk) to 100 (highest). Qualys QScanner
# README v4.8.0 (SARIF layout) lists it among a rule's properties; Qualys documentation, "Detections - QDS
# Details", gives its range. A value outside it is not a QDS and is dropped.
QDS_RANGE = range(1, 101)
# Fallback when neither the rule nor the result carries a number: SARIF's `level` (our mapping).
LEVEL_SEVERITIES = {"error": 4, "warning": 3, "note": 2, "none": 1}
# Secret rules carry words; a secret of unknown severity counts as high.
SECRET_SEVERITY_NAMES = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "INFO": "info"}
# The fields of a ScanResult secret entry that say where it is; everything else (`Match`, and any
# field a later QScanner adds, such as code excerpts) may carry the secret's text and is dropped.
SECRET_LOCATION_FIELDS = frozenset(
    {"RuleID", "Category", "Severity", "Title", "StartLine", "StartColumn", "EndLine", "EndColumn", "Layer"}
)
# ScansPerformed[].Status of a scan that completed.
SCAN_SUCCEEDED = "success"
CONTENT_TYPES = {
    "sarif": "application/sarif+json",
    "spdx": "application/spdx+json",
    "cyclonedx": "application/vnd.cyclonedx+json",
}
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
# ScanResult.json's SchemaVersion this parser was written for (Qualys QScanner README v4.8.0): any other
# value means QScanner changed its layout, which the scanner reports (QScannerOutputUnrecognised).
KNOWN_SCHEMA_VERSIONS = frozenset({"5"})
# Where the files the parser could not use are kept in S3 when the output is unrecognised.
RAW_PREFIX = "raw/"
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Package:
    """One vulnerable package: what is installed and where, and the version that fixes it."""

    name: str
    version: str
    fixed_version: str = ""
    path: str = ""


@dataclass(frozen=True)
class Vulnerability:
    """One QID found in a function, with every package it affects."""

    qid: str
    severity: int
    title: str
    cves: tuple[str, ...] = ()
    cvss: float | None = None
    packages: tuple[Package, ...] = ()
    qds: int | None = None

    @property
    def severity_name(self) -> str:
        """critical, high, medium, low or info."""
        return SEVERITY_NAMES[self.severity]


@dataclass(frozen=True)
class Secret:
    """Where a secret was found; never its content."""

    rule: str
    target: str
    line: int
    severity: str
    title: str

    @property
    def severity_name(self) -> str:
        """critical, high, medium, low or info."""
        return SECRET_SEVERITY_NAMES.get(self.severity, "high")


@dataclass(frozen=True)
class ScanPerformed:
    """One entry of ScanResult's ScansPerformed."""

    scan_type: str
    status: str


@dataclass(frozen=True)
class StoredFile:
    """A file kept in S3: its body is already stripped of secret text."""

    name: str
    body: bytes = field(repr=False)
    content_type: str


@dataclass(frozen=True)
class QScannerReport:
    """Everything the destinations need from one QScanner run."""

    scan_id: str = ""
    vulnerabilities: tuple[Vulnerability, ...] = ()
    secrets: tuple[Secret, ...] = ()
    sboms: Mapping[str, str] = field(default_factory=dict)
    scans_performed: tuple[ScanPerformed, ...] = ()
    simulated: bool = False
    problems: tuple[str, ...] = ()
    files: tuple[StoredFile, ...] = ()
    # QScanner's own version and ScanResult.json's SchemaVersion, as written ("" when absent).
    qscanner_version: str = ""
    schema_version: str = ""
    # Signs of an output layout this parser does not know, and the files it could not use
    # (secret text redacted), which S3 keeps when there is such a sign.
    unrecognised: tuple[str, ...] = ()
    unparsed: tuple[StoredFile, ...] = ()

    @property
    def has_sarif(self) -> bool:
        """Whether a readable SARIF vulnerability report was written."""
        return any(f.name.endswith(SARIF_SUFFIX) for f in self.files)

    @property
    def failed_scans(self) -> tuple[str, ...]:
        """Scan types QScanner reports as not successful."""
        return tuple(s.scan_type for s in self.scans_performed if s.status.lower() != SCAN_SUCCEEDED)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _severity(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number in SEVERITY_NAMES else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _qds(value: Any) -> int | None:
    # An integer (or its text) in 1-100; a fraction or anything else is not a QDS.
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number in QDS_RANGE else None


def _text(value: Any) -> str:
    return str(_dict(value).get("text") or "").strip()


def parse_sarif(sarif: Any) -> tuple[list[Vulnerability], list[str]]:
    """Vulnerabilities (one per QID) and problems of a SARIF report in QScanner's layout."""
    runs = _dict(sarif).get("runs")
    if not isinstance(runs, list) or not runs:
        return [], ["SARIF report has no runs"]
    merged: dict[str, dict[str, Any]] = {}
    for run in _dicts(runs):
        rules = {str(r.get("id")): r for r in _dicts(_dict(_dict(run.get("tool")).get("driver")).get("rules"))}
        for result in _dicts(run.get("results")):
            props = _dict(result.get("properties"))
            rule_id = str(result.get("ruleId") or "")
            rule = rules.get(rule_id, {})
            rule_props = _dict(rule.get("properties"))
            qid = str(props.get("QID") or rule_id or "unknown")
            entry = merged.setdefault(qid, {"packages": {}, "rule": rule, "rule_props": rule_props, "result": result})
            for software in _dicts(props.get("vulnerableSoftware")):
                package = Package(
                    name=str(software.get("name") or ""),
                    version=str(software.get("installedVersion") or ""),
                    fixed_version=str(software.get("fixedVersion") or ""),
                    path=str(software.get("path") or ""),
                )
                if package.name:
                    entry["packages"].setdefault(package, None)
    found = []
    for qid, entry in merged.items():
        rule, rule_props, result = entry["rule"], entry["rule_props"], entry["result"]
        severity = (
            _severity(rule_props.get("severity"))
            or _severity(_dict(result.get("properties")).get("severity"))
            or LEVEL_SEVERITIES.get(str(result.get("level", "")).lower(), 1)
        )
        cves = rule_props.get("cve-ids")
        found.append(
            Vulnerability(
                qid=qid,
                severity=severity,
                title=(_text(result.get("message")) or _text(rule.get("shortDescription")) or f"QID {qid}")[:256],
                cves=tuple(str(c) for c in cves if isinstance(c, str)) if isinstance(cves, list) else (),
                cvss=_float(_dict(rule_props.get("cvss3Info")).get("baseScore")),
                packages=tuple(entry["packages"]),
                qds=_qds(rule_props.get("qds")),
            )
        )
    return found, []


def sarif_drift(sarif: Any) -> tuple[str, list[str]]:
    """(the SARIF tool's version, signs of a layout change): rules whose severity is not QScanner's 1-5."""
    runs = _dicts(_dict(sarif).get("runs"))
    drivers = [_dict(_dict(run.get("tool")).get("driver")) for run in runs]
    version = next((str(d["version"]) for d in drivers if d.get("version")), "")
    rules = [rule for driver in drivers for rule in _dicts(driver.get("rules"))]
    unrated = [r for r in rules if _severity(_dict(r.get("properties")).get("severity")) is None]
    signs = [f"{len(unrated)} SARIF rule(s) without a severity (properties.severity 1-5)"] if unrated else []
    return version, signs


def sanitise_scan_result(scan_result: dict[str, Any]) -> tuple[dict[str, Any], list[Secret], list[str]]:
    """(ScanResult without secret text, secret locations, the stripped texts)."""
    stripped: list[str] = []
    found: list[Secret] = []
    entries = []
    for entry in _dicts(scan_result.get("SecretResults")):
        kept_items = []
        for item in _dicts(entry.get("Secrets")):
            stripped += [
                str(v) for k, v in item.items() if k not in SECRET_LOCATION_FIELDS and isinstance(v, str) and v
            ]
            kept = {k: v for k, v in item.items() if k in SECRET_LOCATION_FIELDS}
            kept_items.append(kept)
            found.append(
                Secret(
                    rule=str(kept.get("RuleID", "secret")),
                    target=str(entry.get("Target", "")),
                    line=int(kept.get("StartLine") or 0),
                    severity=str(kept.get("Severity", "HIGH")).upper(),
                    title=str(kept.get("Title", "Secret"))[:256],
                )
            )
        entries.append({**{k: v for k, v in entry.items() if k != "Secrets"}, "Secrets": kept_items})
    clean = {**scan_result, "SecretResults": entries} if "SecretResults" in scan_result else dict(scan_result)
    return clean, found, stripped


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """`text` with every secret value replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _is_text(content: bytes) -> bool:
    """UTF-8 text, which redaction can clean; binary files (the LZMA .xz ones) cannot be and are never kept."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _redact_bytes(content: bytes, secrets: tuple[str, ...]) -> bytes:
    if not any(secret.encode() in content for secret in secrets if secret):
        return content
    return redact(content.decode("utf-8", "replace"), secrets).encode()


def read_report(files: Mapping[str, bytes], hidden: tuple[str, ...] = ()) -> QScannerReport:
    """The one typed report of a run's files; `hidden` (credentials) is redacted from every stored file."""
    problems: list[str] = []
    vulnerabilities: list[Vulnerability] = []
    secrets: list[Secret] = []
    stripped: list[str] = []
    scans: list[ScanPerformed] = []
    sboms: dict[str, str] = {}
    kept: list[tuple[str, bytes, str]] = []
    scan_id, simulated = "", False
    qscanner_version, schema_version, sarif_tool_version = "", "", ""
    unrecognised: list[str] = []
    scan_result_read = False
    for name, content in sorted(files.items()):
        if name.endswith(BINARY_SUFFIXES):
            continue
        if name.endswith(SCAN_RESULT_SUFFIX):
            scan_id = name[: -len(SCAN_RESULT_SUFFIX)]
            document = _json(content)
            if not isinstance(document, dict):
                problems.append("ScanResult.json is not valid JSON")
                unrecognised.append("ScanResult.json is not valid JSON")
                continue
            scan_result_read = True
            schema_version = str(document.get("SchemaVersion", ""))
            qscanner_version = str(document.get("QScannerVersion") or "")
            if schema_version not in KNOWN_SCHEMA_VERSIONS:
                unrecognised.append(f"ScanResult.json SchemaVersion {schema_version or 'missing'} is not a known one")
            clean, secrets, stripped = sanitise_scan_result(document)
            scans = [
                ScanPerformed(str(s.get("ScanType", "")), str(s.get("Status", "")))
                for s in _dicts(document.get("ScansPerformed"))
            ]
            simulated = bool(document.get("Simulated")) or "simulated" in str(document.get("QScannerVersion", ""))
            kept.append((name, json.dumps(clean, indent=2).encode(), JSON_CONTENT_TYPE))
        elif name.endswith(SARIF_SUFFIX):
            sarif = _json(content)
            if sarif is None:
                problems.append("SARIF report is not valid JSON")
                unrecognised.append("SARIF report is not valid JSON")
                continue
            vulnerabilities, sarif_problems = parse_sarif(sarif)
            problems += sarif_problems
            sarif_tool_version, drift = sarif_drift(sarif)
            unrecognised += sarif_problems + drift
            kept.append((name, content, CONTENT_TYPES["sarif"]))
        elif name.endswith(".json"):
            document = _json(content)
            fmt = (
                "cyclonedx"
                if _dict(document).get("bomFormat") == CYCLONEDX_FORMAT
                else "spdx"
                if name.endswith(SPDX_SUFFIX) and _dict(document).get("spdxVersion")
                else ""
            )
            if fmt:
                sboms[fmt] = name
                kept.append((name, content, CONTENT_TYPES[fmt]))
    redacted = (*hidden, *stripped)
    stored = tuple(StoredFile(name, _redact_bytes(body, redacted), ctype) for name, body, ctype in kept)
    # Without a readable ScanResult.json the secrets' text is unknown, so no unparsed file can be cleaned.
    used = {name for name, _, _ in kept}
    unparsed = tuple(
        StoredFile(RAW_PREFIX + name, _redact_bytes(body, redacted), TEXT_CONTENT_TYPE)
        for name, body in sorted(files.items())
        if scan_result_read and name not in used and not name.endswith(BINARY_SUFFIXES) and _is_text(body)
    )
    return QScannerReport(
        scan_id=scan_id,
        vulnerabilities=tuple(sorted(vulnerabilities, key=lambda v: (-v.severity, v.qid))),
        secrets=tuple(secrets),
        sboms=sboms,
        scans_performed=tuple(scans),
        simulated=simulated,
        problems=tuple(problems),
        files=stored,
        qscanner_version=qscanner_version or sarif_tool_version,
        schema_version=schema_version,
        unrecognised=tuple(unrecognised),
        unparsed=unparsed,
    )
