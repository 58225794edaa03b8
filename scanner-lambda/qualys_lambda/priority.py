"""A documented priority, P1 (act now) to P4 (routine), from severity, QDS, exposure and the runtime's support.

The rule (docs/DESIGN.md section 13 holds the same table):

1. A finding's **rank** is the higher of its severity (QScanner's 1-5) and the band of its Qualys
   Detection Score: QDS 90-100 critical, 70-89 high, 40-69 medium, 1-39 low (Qualys documentation,
   "Detections - QDS Details"). No QDS (a secret, an older report): the severity alone.
2. The **priority** of a finding comes from its rank and the function's exposure:

   | rank            | public function | private or unknown |
   |-----------------|-----------------|--------------------|
   | critical        | P1              | P2                 |
   | high            | P2              | P3                 |
   | medium          | P3              | P4                 |
   | low, info       | P4              | P4                 |

   Unknown exposure (the scanner could not read it) does not raise the priority: the summary shows
   `unknown`, so a reader sees why.
3. A **deprecated runtime** (no more security patches) is a finding of its own: P2 on a public function,
   P3 otherwise; a runtime approaching deprecation is P4.
4. The **scan's priority** is the highest over its unsuppressed vulnerabilities, its secrets and its
   runtime finding; `none` when there is none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from qualys_lambda.qscanner_output import SEVERITY_ORDER, QScannerReport, Vulnerability

Priority = Literal["P1", "P2", "P3", "P4"]
ScanPriorityLevel = Literal["P1", "P2", "P3", "P4", "none"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
PUBLIC = "public"
# Qualys documentation, "Detections - QDS Details": the QDS range and its four severity levels.
QDS_BANDS: tuple[tuple[int, str], ...] = ((90, "critical"), (70, "high"), (40, "medium"), (1, "low"))
# The table of rule 2: rank -> (public, private or unknown).
PRIORITY_TABLE: dict[str, tuple[Priority, Priority]] = {
    "critical": ("P1", "P2"),
    "high": ("P2", "P3"),
    "medium": ("P3", "P4"),
    "low": ("P4", "P4"),
    "info": ("P4", "P4"),
}
# Rule 3: runtime status -> (public, private or unknown).
RUNTIME_TABLE: dict[str, tuple[Priority, Priority]] = {
    "deprecated": ("P2", "P3"),
    "approaching_deprecation": ("P4", "P4"),
}


def qds_band(qds: int | None) -> str | None:
    """critical, high, medium or low for a QDS of 1-100; None without one."""
    if qds is None:
        return None
    return next((band for floor, band in QDS_BANDS if qds >= floor), None)


def finding_rank(severity: str, qds: int | None = None) -> str:
    """The higher of `severity` (critical ... info) and the QDS band."""
    candidates = [severity] + [band for band in (qds_band(qds),) if band]
    return min(candidates, key=SEVERITY_ORDER.index)


def finding_priority(severity: str, qds: int | None, exposure: str) -> Priority:
    """The priority of one finding on a function with `exposure` (public, private, unknown)."""
    public, private = PRIORITY_TABLE[finding_rank(severity, qds)]
    return public if exposure == PUBLIC else private


def vulnerability_priority(vulnerability: Vulnerability, exposure: str) -> Priority:
    """`top[].priority` of the summary."""
    return finding_priority(vulnerability.severity_name, vulnerability.qds, exposure)


def runtime_priority(runtime_status: str, exposure: str) -> Priority | None:
    """The priority of the runtime finding; None when the runtime is supported or not known."""
    row = RUNTIME_TABLE.get(runtime_status)
    if row is None:
        return None
    return row[0] if exposure == PUBLIC else row[1]


@dataclass(frozen=True)
class ScanPriority:
    """The scan's priority and the finding that sets it, in words a reader can check."""

    level: ScanPriorityLevel
    reason: str

    def as_json(self) -> dict[str, str]:
        """`priority` of the summary (schema v3); `level` is also the SNS attribute `priority`."""
        return {"level": self.level, "reason": self.reason}


def scan_priority(
    report: QScannerReport, exposure: str, runtime_status: str, suppressed_qids: Iterable[str] = ()
) -> ScanPriority:
    """The highest priority over the unsuppressed vulnerabilities, the secrets and the runtime finding."""
    suppressed = set(suppressed_qids)
    where = "a public function" if exposure == PUBLIC else f"a function whose exposure is {exposure}"
    candidates: list[tuple[Priority, str]] = []
    for v in report.vulnerabilities:
        if v.qid not in suppressed:
            qds = f", QDS {v.qds}" if v.qds is not None else ""
            candidates.append((vulnerability_priority(v, exposure), f"QID {v.qid} ({v.severity_name}{qds}) on {where}"))
    for s in report.secrets:
        candidates.append((finding_priority(s.severity_name, None, exposure), f"{s.severity_name} secret on {where}"))
    runtime = runtime_priority(runtime_status, exposure)
    if runtime is not None:
        candidates.append((runtime, f"runtime {runtime_status.replace('_', ' ')} on {where}"))
    if not candidates:
        return ScanPriority("none", "no unsuppressed finding")
    level, reason = min(candidates, key=lambda c: PRIORITIES.index(c[0]))
    return ScanPriority(level, reason)
