"""Findings in AWS Security Hub (ASFF): one per QID and one per secret, updated in place, archived when gone."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code
from qualys_lambda.errors import DestinationError
from qualys_lambda.priority import vulnerability_priority
from qualys_lambda.qscanner_output import Package, QScannerReport, Secret, Vulnerability
from qualys_lambda.summary import Summary

logger = logging.getLogger(__name__)

BATCH_LIMIT = 100  # BatchImportFindings accepts at most 100 findings per call
SEVERITY_LABELS = {5: "CRITICAL", 4: "HIGH", 3: "MEDIUM", 2: "LOW", 1: "INFORMATIONAL"}
SECRET_SEVERITIES = frozenset({"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"})
GENERATOR = "qualys-lambda/qscanner"
PRODUCT_NAME = "QScanner"
COMPANY_NAME = "Qualys"
# ASFF Criticality (0-100) of each priority: our scale, documented in docs/findings.md. A finding provider
# sets it through FindingProviderFields (Security Hub API Reference, BatchImportFindings).
CRITICALITY = {"P1": 90, "P2": 70, "P3": 40, "P4": 10}
# The ASFF severity of the runtime finding, by its priority.
PRIORITY_SEVERITY = {"P1": "CRITICAL", "P2": "HIGH", "P3": "MEDIUM", "P4": "LOW"}
# Who changed a finding's Workflow and Note: only findings it suppressed are returned to NEW by it.
UPDATED_BY = "qualys-lambda"
NOTE_MAX = 512  # ASFF Note.Text


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own default product, through which custom integrations import findings."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def finding_id(function_arn: str, kind: str, key: str) -> str:
    """Stable per function and vulnerability (or secret location), so a rescan updates the same finding."""
    return f"{function_arn}/qualys-lambda/{kind}/{key}"


def _resource(summary: Summary) -> dict[str, Any]:
    function = summary["function"]
    details: dict[str, Any] = {"FunctionName": function["name"], "CodeSha256": function["code_sha256"]}
    if function["runtime"]:
        details["Runtime"] = function["runtime"]
    if function["layers"]:
        details["Layers"] = [{"Arn": arn} for arn in function["layers"]]
    # ASFF "Other" object: attributes the type-specific details object has no field for.
    exposure = function.get("exposure") or {}
    other = {
        "Exposure": str(exposure.get("status", "unknown")),
        "RuntimeStatus": str((function.get("runtime_status") or {}).get("status", "unknown")),
    }
    if exposure.get("reasons"):
        other["ExposureReasons"] = "; ".join(exposure["reasons"])[:1023]
    return {
        "Type": "AwsLambdaFunction",
        "Id": function["arn"],
        "Partition": function["arn"].split(":")[1],
        "Region": function["region"],
        "Details": {"AwsLambdaFunction": details, "Other": other},
    }


def _base(summary: Summary, product: str, now: str, fid: str, created: dict[str, str]) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": product,
        "GeneratorId": GENERATOR,
        "AwsAccountId": summary["function"]["account"],
        "CreatedAt": created.get(fid, now),
        "UpdatedAt": now,
        "CompanyName": COMPANY_NAME,
        "ProductName": PRODUCT_NAME,
        "Resources": [_resource(summary)],
        "RecordState": "ACTIVE",
        "ProductFields": {
            "qualys-lambda/ScanId": summary["scan"]["scan_id"],
            "qualys-lambda/Scanner": "QScanner (simulated)" if summary["scan"]["simulated"] else "QScanner",
        },
    }


def vulnerability_finding(
    summary: Summary, vuln: Vulnerability, product: str, now: str, created: dict[str, str]
) -> dict[str, Any]:
    """The ASFF document of one QID in one function."""
    fid = finding_id(summary["function"]["arn"], "qid", vuln.qid)
    finding = _base(summary, product, now, fid, created)
    packages = ", ".join(f"{p.name} {p.version}" for p in vuln.packages) or "the function's code"
    cve = {"Id": vuln.cves[0]} if vuln.cves else {"Id": f"QID-{vuln.qid}"}
    vulnerability: dict[str, Any] = {
        **cve,
        "VulnerablePackages": [_package(p) for p in vuln.packages],
        "FixAvailable": "YES" if any(p.fixed_version for p in vuln.packages) else "NO",
    }
    if len(vuln.cves) > 1:
        vulnerability["RelatedVulnerabilities"] = list(vuln.cves[1:])
    if vuln.cvss is not None:
        vulnerability["Cvss"] = [{"Version": "3.1", "BaseScore": vuln.cvss}]
    exposure = str((summary["function"].get("exposure") or {}).get("status", "unknown"))
    finding["FindingProviderFields"] = {"Criticality": CRITICALITY[vulnerability_priority(vuln, exposure)]}
    finding.update(
        {
            "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
            "Severity": {"Label": SEVERITY_LABELS[vuln.severity], "Original": str(vuln.severity)},
            "Title": vuln.title[:256],
            "Description": f"QID {vuln.qid} affects {packages} in Lambda function {summary['function']['name']}."[
                :1024
            ],
            "Vulnerabilities": [vulnerability],
        }
    )
    finding["ProductFields"]["qualys-lambda/Qid"] = vuln.qid
    if vuln.qds is not None:
        finding["ProductFields"]["qualys-lambda/Qds"] = str(vuln.qds)
    return finding


def runtime_finding(summary: Summary, product: str, now: str, created: dict[str, str]) -> dict[str, Any] | None:
    """The ASFF document of a deprecated (or soon deprecated) runtime; None when the runtime is supported."""
    runtime = summary["findings"].get("runtime")
    if not runtime:
        return None
    name, status, level = str(runtime["runtime"]), str(runtime["status"]), str(runtime["priority"])
    fid = finding_id(summary["function"]["arn"], "runtime", name)
    finding = _base(summary, product, now, fid, created)
    when = "since" if status == "deprecated" else "on"
    finding.update(
        {
            "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
            "Severity": {"Label": PRIORITY_SEVERITY[level], "Original": status},
            "FindingProviderFields": {"Criticality": CRITICALITY[level]},
            "Title": f"Lambda runtime {name} deprecated {when} {runtime['deprecation_date']}"[:256],
            "Description": (
                f"Lambda function {summary['function']['name']} runs on {name}, deprecated {when} "
                f"{runtime['deprecation_date']}: a deprecated runtime receives no more security patches "
                f"({runtime['source']})."
            )[:1024],
            "Remediation": {"Recommendation": {"Text": "Move the function to a supported Lambda runtime."}},
        }
    )
    return finding


def _package(package: Package) -> dict[str, str]:
    entry = {"Name": package.name, "Version": package.version}
    if package.fixed_version:
        entry["FixedInVersion"] = package.fixed_version
    if package.path:
        entry["FilePath"] = package.path
    return entry


def secret_finding(summary: Summary, secret: Secret, product: str, now: str, created: dict[str, str]) -> dict[str, Any]:
    """The ASFF document of one secret location (never the secret itself)."""
    location = f"{secret.rule}:{secret.target}:{secret.line}"
    fid = finding_id(summary["function"]["arn"], "secret", hashlib.sha256(location.encode()).hexdigest()[:24])
    finding = _base(summary, product, now, fid, created)
    label = secret.severity if secret.severity in SECRET_SEVERITIES else "HIGH"
    finding.update(
        {
            "Types": ["Sensitive Data Identifications/Passwords"],
            "Severity": {"Label": label, "Original": secret.severity},
            "Title": f"Secret in Lambda code: {secret.title}"[:256],
            "Description": f"Rule {secret.rule} matched {secret.target} line {secret.line}. Rotate the credential."[
                :1024
            ],
        }
    )
    return finding


def batches(items: list[dict[str, Any]], size: int = BATCH_LIMIT) -> Iterator[list[dict[str, Any]]]:
    """`items` in chunks the API accepts."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def active_findings(securityhub: Any, product: str, function_arn: str) -> dict[str, dict[str, Any]]:
    """This product's ACTIVE findings for the function, by id."""
    filters = {
        "ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
        "ResourceId": [{"Value": function_arn, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    found: dict[str, dict[str, Any]] = {}
    for page in securityhub.get_paginator("get_findings").paginate(Filters=filters):
        for finding in page["Findings"]:
            # Re-checked here: the filter is the API's contract, the check keeps this correct regardless.
            resource_ids = {r.get("Id") for r in finding.get("Resources", [])}
            if (
                finding.get("RecordState", "ACTIVE") == "ACTIVE"
                and function_arn in resource_ids
                and finding["Id"].startswith(f"{function_arn}/qualys-lambda/")
            ):
                found[finding["Id"]] = finding
    return found


def import_findings(
    securityhub: Any,
    summary: Summary,
    report: QScannerReport,
    product: str,
    now: str,
    archive: bool = True,
) -> dict[str, int]:
    """Import the scan's findings; with `archive`, archive the function's findings the scan no longer reports.

    Only a complete scan says which findings are gone: a partial one imports what it found, archiving nothing.
    """
    previous = _active(securityhub, product, summary["function"]["arn"])
    created = {fid: str(f.get("CreatedAt", now)) for fid, f in previous.items()}
    current = [vulnerability_finding(summary, v, product, now, created) for v in report.vulnerabilities]
    current += [secret_finding(summary, s, product, now, created) for s in report.secrets]
    runtime = runtime_finding(summary, product, now, created)
    current += [runtime] if runtime else []
    suppressed = {item["qid"]: item for item in summary["findings"].get("suppressed", [])}
    for finding in current:
        rule = suppressed.get(finding["ProductFields"].get("qualys-lambda/Qid", ""))
        if rule and finding["Id"] not in previous:
            # A new finding takes its workflow from the import; an existing one only from BatchUpdateFindings.
            finding["Workflow"] = {"Status": "SUPPRESSED"}
            finding["Note"] = {"Text": suppression_note(rule), "UpdatedBy": UPDATED_BY, "UpdatedAt": now}
    current_ids = {f["Id"] for f in current}
    gone = [finding for fid, finding in previous.items() if fid not in current_ids] if archive else []
    counts = _send(securityhub, current, gone, now)
    counts["workflow_updates"] = _update_workflows(securityhub, product, previous, current, suppressed)
    return counts


def suppression_note(rule: dict[str, str]) -> str:
    """The note on a suppressed finding: the rule, its expiry and the team's reason."""
    return f"Suppressed by rule {rule['rule']} until {rule['expires']}: {rule['reason']}"[:NOTE_MAX]


def _workflow_changes(
    previous: dict[str, dict[str, Any]], current: list[dict[str, Any]], suppressed: dict[str, dict[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """Existing findings whose workflow must change, grouped by (status, note): newly suppressed ones, and
    those this scanner suppressed whose rule no longer applies (expired or removed), back to NEW."""
    groups: dict[tuple[str, str], list[str]] = {}
    for finding in current:
        old = previous.get(finding["Id"])
        if old is None:
            continue
        status = str((old.get("Workflow") or {}).get("Status", "NEW"))
        rule = suppressed.get(finding["ProductFields"].get("qualys-lambda/Qid", ""))
        note = old.get("Note") or {}
        if rule and (status != "SUPPRESSED" or note.get("Text") != suppression_note(rule)):
            groups.setdefault(("SUPPRESSED", suppression_note(rule)), []).append(finding["Id"])
        elif not rule and status == "SUPPRESSED" and note.get("UpdatedBy") == UPDATED_BY:
            groups.setdefault(("NEW", "No suppression rule applies any more."), []).append(finding["Id"])
    return groups


def _update_workflows(
    securityhub: Any,
    product: str,
    previous: dict[str, dict[str, Any]],
    current: list[dict[str, Any]],
    suppressed: dict[str, dict[str, str]],
) -> int:
    """BatchUpdateFindings of the workflow changes, at most 100 findings a call; returns the findings updated."""
    updated = 0
    for (status, note), ids in _workflow_changes(previous, current, suppressed).items():
        for start in range(0, len(ids), BATCH_LIMIT):
            identifiers = [{"Id": fid, "ProductArn": product} for fid in ids[start : start + BATCH_LIMIT]]
            try:
                response = securityhub.batch_update_findings(
                    FindingIdentifiers=identifiers,
                    Workflow={"Status": status},
                    Note={"Text": note, "UpdatedBy": UPDATED_BY},
                )
            except ClientError as exc:
                raise DestinationError(f"securityhub: {error_code(exc)}") from exc
            if response.get("UnprocessedFindings"):
                raise DestinationError(f"securityhub: {len(response['UnprocessedFindings'])} workflow updates failed")
            updated += len(identifiers)
    return updated


def archive_findings(securityhub: Any, product: str, function_arn: str, now: str) -> dict[str, int]:
    """Archive every ACTIVE finding of a function that no longer exists or is excluded from scanning."""
    return _send(securityhub, [], list(_active(securityhub, product, function_arn).values()), now)


def _active(securityhub: Any, product: str, function_arn: str) -> dict[str, dict[str, Any]]:
    try:
        return active_findings(securityhub, product, function_arn)
    except ClientError as exc:
        raise DestinationError(f"securityhub: {error_code(exc)}") from exc


def _send(securityhub: Any, current: list[dict[str, Any]], gone: list[dict[str, Any]], now: str) -> dict[str, int]:
    """BatchImportFindings of `current` and of `gone` set to ARCHIVED, in batches the API accepts."""
    archived = [{**finding, "RecordState": "ARCHIVED", "UpdatedAt": now} for finding in gone]
    counts = {"findings": len(current), "archived": len(archived), "failed": 0, "batches": 0}
    for batch in batches(current + archived):
        counts["batches"] += 1
        try:
            response = securityhub.batch_import_findings(Findings=batch)
        except ClientError as exc:
            raise DestinationError(f"securityhub: {error_code(exc)}") from exc
        counts["failed"] += int(response.get("FailedCount", 0))
        for failure in response.get("FailedFindings", [])[:5]:
            logger.warning(
                "finding rejected", extra={"finding_id": failure.get("Id"), "error": failure.get("ErrorCode")}
            )
    if counts["failed"]:
        raise DestinationError(f"securityhub: {counts['failed']} findings rejected")
    return counts
