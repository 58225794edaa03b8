"""What a team acts on, for one scan: what changed, what is accepted, how exposed, and how urgent.

It joins the pure blocks (changes, suppressions, exposure, runtimes, priority) into one value that the
summary (schema v3), the SNS attributes, Security Hub and the cache record all read: computed once,
after the run, never patched afterwards. docs/findings.md describes every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qualys_lambda import changes
from qualys_lambda.changes import Changes, FindingKeys
from qualys_lambda.exposure import Exposure
from qualys_lambda.priority import ScanPriority, runtime_priority, scan_priority
from qualys_lambda.qscanner_output import QScannerReport, Vulnerability
from qualys_lambda.runtimes import RuntimeSupport, runtime_support
from qualys_lambda.summary import iso
from qualys_lambda.suppressions import Rule, Suppressions, openvex_document, suppressed_findings


@dataclass(frozen=True)
class Triage:
    """One scan's change set, suppressions, exposure, runtime support and priority."""

    exposure: Exposure
    runtime: RuntimeSupport
    previous: FindingKeys | None
    current: FindingKeys
    complete: bool
    changes: Changes
    suppressed: tuple[tuple[Vulnerability, Rule], ...]
    priority: ScanPriority
    new_findings: int
    new_max_severity: str
    # The OpenVEX document of the suppressed CVEs that carry a justification (openvex.json), or None.
    openvex: dict[str, Any] | None

    @property
    def suppressed_qids(self) -> frozenset[str]:
        """The QIDs an active rule suppresses in this function."""
        return frozenset(v.qid for v, _ in self.suppressed)

    def suppressed_json(self) -> list[dict[str, str]]:
        """`findings.suppressed` of the summary."""
        return [{"qid": v.qid, **rule.as_json()} for v, rule in self.suppressed]

    def runtime_finding(self) -> dict[str, Any] | None:
        """`findings.runtime` of the summary: the runtime as a finding of its own, or None when supported."""
        level = runtime_priority(self.runtime.status, self.exposure.status)
        if level is None:
            return None
        return {**self.runtime.as_json(), "runtime": self.runtime.runtime, "priority": level}

    def record(self, delivered: bool) -> dict[str, Any]:
        """The finding keys the cache item keeps for the next scan's comparison."""
        return changes.to_record(changes.baseline_after(self.previous, self.current, self.complete, delivered))


def assess(
    report: QScannerReport,
    status: str,
    previous: FindingKeys | None,
    exposure: Exposure,
    runtime: str,
    suppressions: Suppressions,
    function_arn: str,
    account: str,
    finished: datetime,
) -> Triage:
    """The triage of a run's `report` (status `status`, finished at `finished`) against the function's
    previous finding keys."""
    today = finished.date()
    current = FindingKeys.of(report)
    complete = status == "success"
    change = changes.compare(previous, current, complete)
    suppressed = tuple(suppressed_findings(suppressions, report.vulnerabilities, function_arn, account, today))
    suppressed_qids = {v.qid for v, _ in suppressed}
    support = runtime_support(runtime, today)
    new = changes.new_finding_attributes(change, report, suppressed_qids)
    return Triage(
        exposure=exposure,
        runtime=support,
        previous=previous,
        current=current,
        complete=complete,
        changes=change,
        suppressed=suppressed,
        priority=scan_priority(report, exposure.status, support.status, suppressed_qids),
        new_findings=int(new["new_findings"]),
        new_max_severity=new["new_max_severity"],
        openvex=openvex_document(suppressed, function_arn, iso(finished)),
    )
