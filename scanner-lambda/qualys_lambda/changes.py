"""What changed since the previous complete scan: new, fixed and unchanged findings, and the record kept for it.

A function's finding keys are its vulnerabilities' QIDs and its secrets' locations (rule, file, line).
The cache item keeps them as a compact record (`to_record` / `from_record`); the next scan compares its
own keys with that record (`compare`), and the item then keeps the baseline `baseline_after` chooses.

Rules (docs/findings.md, "findings.changes"):
- no previous record (a first scan, or an unreadable record): everything found is new;
- only a complete scan marks anything fixed; a partial or failed scan reports what it newly found and
  leaves everything else unchanged;
- the record is bounded (`MAX_RECORD_BYTES`); past the bound it keeps a deterministic prefix and says
  so, and keys it dropped may be reported new again at the next scan (the error falls on the side of
  alerting, never of silence).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from qualys_lambda.qscanner_output import SEVERITY_ORDER, QScannerReport

# The cache item attribute holding the record.
RECORD_FIELD = "finding_keys"
RECORD_VERSION = 1
# Amazon DynamoDB Developer Guide, "Quotas in Amazon DynamoDB" (Items): an item is at most 400 KB,
# attribute names and values included. The record takes at most a quarter of that, half for QIDs and
# half for secret locations, so the item's other attributes never approach the quota. Its JSON length
# bounds its DynamoDB size from above (DynamoDB counts one byte of overhead per list element, JSON two
# quotes and a comma), so a record within the bound in JSON is within it in DynamoDB.
DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024
MAX_RECORD_BYTES = DYNAMODB_ITEM_LIMIT_BYTES // 4
# Room for the record's own keys ("version", "qids", ...) around its two lists.
RECORD_OVERHEAD_BYTES = 256
MAX_PART_BYTES = (MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES) // 2

SecretKey = tuple[str, str, int]


class SecretLocation(TypedDict):
    rule: str
    file: str
    line: int


class SecretChanges(TypedDict):
    new: list[SecretLocation]
    fixed: list[SecretLocation]
    unchanged: int


class Changes(TypedDict):
    """`findings.changes` of the summary (schema v3)."""

    new: list[str]
    fixed: list[str]
    unchanged: int
    secrets: SecretChanges
    # "first_scan" (no baseline: everything is new), "complete" or "incomplete" (nothing marked fixed).
    baseline: str


@dataclass(frozen=True)
class FindingKeys:
    """The QIDs and secret locations of one scan."""

    qids: frozenset[str] = frozenset()
    secrets: frozenset[SecretKey] = frozenset()
    # The record this came from held more keys than its bound: some were not kept.
    truncated: bool = False

    @classmethod
    def of(cls, report: QScannerReport) -> FindingKeys:
        """The keys of a run's typed report."""
        return cls(
            qids=frozenset(v.qid for v in report.vulnerabilities),
            secrets=frozenset((s.rule, s.target, s.line) for s in report.secrets),
        )

    def union(self, other: FindingKeys) -> FindingKeys:
        """Every key of both."""
        return FindingKeys(self.qids | other.qids, self.secrets | other.secrets, self.truncated or other.truncated)


def _qid_order(qid: str) -> tuple[int, str]:
    # Numeric QIDs in numeric order, anything else after them.
    return (int(qid), "") if qid.isdigit() else (1 << 62, qid)


def _secret_order(key: SecretKey) -> tuple[str, int, str]:
    return (key[1], key[2], key[0])


def _bounded(items: Sequence[Any], budget: int) -> tuple[list[Any], bool]:
    """The longest prefix of `items` whose JSON fits `budget` bytes, and whether anything was left out."""
    kept: list[Any] = []
    used = 2  # the list's brackets
    for item in items:
        size = len(json.dumps(item).encode()) + 2  # and the separating ", "
        if used + size > budget:
            return kept, True
        kept.append(item)
        used += size
    return kept, False


def to_record(keys: FindingKeys) -> dict[str, Any]:
    """The compact, bounded record of `keys` for the cache item (JSON-native values)."""
    qids, qids_cut = _bounded(sorted(keys.qids, key=_qid_order), MAX_PART_BYTES)
    secrets, secrets_cut = _bounded(
        [[rule, file, line] for rule, file, line in sorted(keys.secrets, key=_secret_order)], MAX_PART_BYTES
    )
    return {
        "version": RECORD_VERSION,
        "qids": qids,
        "secrets": secrets,
        "truncated": keys.truncated or qids_cut or secrets_cut,
    }


def _secret_key(item: Any) -> SecretKey | None:
    if not (isinstance(item, list) and len(item) == 3):
        return None
    rule, file, line = item
    if not (isinstance(rule, str) and isinstance(file, str) and isinstance(line, int) and not isinstance(line, bool)):
        return None
    return (rule, file, line)


def from_record(record: Any) -> FindingKeys | None:
    """The keys a cache item's record holds; None when it has none or it is unreadable (no baseline)."""
    if not isinstance(record, Mapping) or record.get("version") != RECORD_VERSION:
        return None
    qids, secrets = record.get("qids"), record.get("secrets")
    if not isinstance(qids, list) or not isinstance(secrets, list) or not all(isinstance(q, str) for q in qids):
        return None
    keys = [_secret_key(item) for item in secrets]
    if any(key is None for key in keys):
        return None
    return FindingKeys(
        qids=frozenset(qids),
        secrets=frozenset(key for key in keys if key is not None),
        truncated=bool(record.get("truncated")),
    )


def _locations(keys: Iterable[SecretKey]) -> list[SecretLocation]:
    return [SecretLocation(rule=r, file=f, line=n) for r, f, n in sorted(keys, key=_secret_order)]


def compare(previous: FindingKeys | None, current: FindingKeys, complete: bool) -> Changes:
    """New, fixed and unchanged findings of the current scan against the previous baseline.

    `complete`: the current scan succeeded in full (status `success`); only then is anything fixed.
    """
    if previous is None:
        return Changes(
            new=sorted(current.qids, key=_qid_order),
            fixed=[],
            unchanged=0,
            secrets=SecretChanges(new=_locations(current.secrets), fixed=[], unchanged=0),
            baseline="first_scan",
        )
    fixed_qids = previous.qids - current.qids if complete else frozenset()
    fixed_secrets = previous.secrets - current.secrets if complete else frozenset()
    return Changes(
        new=sorted(current.qids - previous.qids, key=_qid_order),
        fixed=sorted(fixed_qids, key=_qid_order),
        unchanged=len(current.qids & previous.qids),
        secrets=SecretChanges(
            new=_locations(current.secrets - previous.secrets),
            fixed=_locations(fixed_secrets),
            unchanged=len(current.secrets & previous.secrets),
        ),
        baseline="complete" if complete else "incomplete",
    )


def baseline_after(previous: FindingKeys | None, current: FindingKeys, complete: bool, delivered: bool) -> FindingKeys:
    """The keys the cache item keeps after this scan, for the next comparison.

    - complete and delivered: this scan's keys (what it no longer found is fixed from now on);
    - delivered but incomplete (partial or failed): the previous keys plus this scan's, so nothing it
      could not see is forgotten and nothing it announced as new is announced again;
    - not delivered (a destination failed, the retry rescans): the previous keys unchanged, so the
      retry announces the same new findings.
    """
    before = previous or FindingKeys()
    if not delivered:
        return before
    return current if complete else before.union(current)


def new_finding_attributes(
    changes: Changes, report: QScannerReport, suppressed_qids: Iterable[str] = ()
) -> dict[str, str]:
    """SNS attributes `new_findings` and `new_max_severity` of a scan.

    `new_findings` counts the new, unsuppressed QIDs; `new_max_severity` is the highest severity among
    them and the new secret locations (as `max_severity` counts secrets beside vulnerabilities), or none.
    """
    new = set(changes["new"]) - set(suppressed_qids)
    new_secrets = {(s["rule"], s["file"], s["line"]) for s in changes["secrets"]["new"]}
    severities = {v.severity_name for v in report.vulnerabilities if v.qid in new}
    severities |= {s.severity_name for s in report.secrets if (s.rule, s.target, s.line) in new_secrets}
    return {
        "new_findings": str(len(new)),
        "new_max_severity": next((name for name in SEVERITY_ORDER if name in severities), "none"),
    }
