"""Change since the previous complete scan: new / fixed / unchanged, the bounded cache record, SNS attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qualys_lambda.cache import from_item, to_item
from qualys_lambda.changes import (
    DYNAMODB_ITEM_LIMIT_BYTES,
    MAX_RECORD_BYTES,
    FindingKeys,
    baseline_after,
    compare,
    from_record,
    new_finding_attributes,
    to_record,
)
from qualys_lambda.qscanner_output import QScannerReport, Secret, Vulnerability


def keys(qids: str = "", secrets: tuple[tuple[str, str, int], ...] = ()) -> FindingKeys:
    return FindingKeys(frozenset(qids.split()), frozenset(secrets))


AWS_KEY = ("aws-access-key-id", "app.py", 3)
TOKEN = ("github-pat", "config/settings.py", 12)


def test_compare_first_scan_everything_new() -> None:
    changes = compare(None, keys("300 20 1000", (AWS_KEY,)), complete=True)

    assert changes["new"] == ["20", "300", "1000"]  # numeric order
    assert (changes["fixed"], changes["unchanged"], changes["baseline"]) == ([], 0, "first_scan")
    assert changes["secrets"] == {
        "new": [{"rule": "aws-access-key-id", "file": "app.py", "line": 3}],
        "fixed": [],
        "unchanged": 0,
    }


def test_compare_complete_rescan_new_fixed_and_unchanged() -> None:
    previous = keys("100 200 300", (AWS_KEY, TOKEN))

    changes = compare(previous, keys("200 300 400", (TOKEN,)), complete=True)

    assert (changes["new"], changes["fixed"], changes["unchanged"]) == (["400"], ["100"], 2)
    assert changes["secrets"] == {
        "new": [],
        "fixed": [{"rule": "aws-access-key-id", "file": "app.py", "line": 3}],
        "unchanged": 1,
    }
    assert changes["baseline"] == "complete"


def test_compare_rescan_of_unchanged_code_nothing_new() -> None:
    changes = compare(keys("100 200", (TOKEN,)), keys("100 200", (TOKEN,)), complete=True)

    assert (changes["new"], changes["fixed"], changes["unchanged"]) == ([], [], 2)
    assert changes["secrets"] == {"new": [], "fixed": [], "unchanged": 1}


@pytest.mark.parametrize("current", [keys("200 400"), keys()], ids=["partial", "failed"])
def test_compare_incomplete_scan_never_marks_fixed(current: FindingKeys) -> None:
    changes = compare(keys("100 200", (AWS_KEY,)), current, complete=False)

    assert changes["fixed"] == [] and changes["secrets"]["fixed"] == []
    assert changes["new"] == sorted(current.qids - {"100", "200"})
    assert changes["baseline"] == "incomplete"


def test_compare_secret_moved_to_another_line_is_new_and_fixed() -> None:
    moved = ("aws-access-key-id", "app.py", 4)

    changes = compare(keys(secrets=(AWS_KEY,)), keys(secrets=(moved,)), complete=True)

    assert changes["secrets"]["new"] == [{"rule": "aws-access-key-id", "file": "app.py", "line": 4}]
    assert changes["secrets"]["fixed"] == [{"rule": "aws-access-key-id", "file": "app.py", "line": 3}]


def test_baseline_after_complete_delivered_scan_is_its_keys() -> None:
    assert baseline_after(keys("1 2"), keys("2 3"), complete=True, delivered=True) == keys("2 3")


def test_baseline_after_incomplete_scan_keeps_previous_and_adds_new() -> None:
    assert baseline_after(keys("1 2", (TOKEN,)), keys("3"), complete=False, delivered=True) == keys("1 2 3", (TOKEN,))
    assert baseline_after(None, keys("3"), complete=False, delivered=True) == keys("3")


def test_baseline_after_undelivered_scan_keeps_previous_so_retry_alerts_again() -> None:
    previous = keys("1")

    kept = baseline_after(previous, keys("1 2"), complete=True, delivered=False)

    assert kept == previous
    assert compare(kept, keys("1 2"), complete=True)["new"] == ["2"]


def test_baseline_after_two_scans_new_then_fixed() -> None:
    first = keys("100 200")
    second = keys("200 300")
    baseline = baseline_after(None, first, complete=True, delivered=True)

    changes = compare(from_record(to_record(baseline)), second, complete=True)

    assert (changes["new"], changes["fixed"], changes["unchanged"]) == (["300"], ["100"], 1)


def test_record_round_trips_through_dynamodb_item() -> None:
    original = keys("5000101 5000102", (AWS_KEY, TOKEN))

    item = to_item(
        {"function_arn": "arn:aws:lambda:us-east-1:111111111111:function:f", "finding_keys": to_record(original)}
    )
    read_back = from_record(from_item(item)["finding_keys"])

    assert read_back == original
    assert to_record(original)["secrets"] == [list(AWS_KEY), list(TOKEN)]  # sorted by file, then line


@pytest.mark.parametrize(
    "record",
    [
        None,
        "not a record",
        {"qids": ["1"], "secrets": []},  # no version
        {"version": 99, "qids": ["1"], "secrets": []},
        {"version": 1, "qids": "1", "secrets": []},
        {"version": 1, "qids": [1], "secrets": []},
        {"version": 1, "qids": [], "secrets": [["rule", "file"]]},
        {"version": 1, "qids": [], "secrets": [["rule", "file", "3"]]},
    ],
)
def test_from_record_unreadable_is_no_baseline(record: Any) -> None:
    assert from_record(record) is None
    assert compare(from_record(record), keys("7"), complete=True)["baseline"] == "first_scan"


def test_to_record_bounded_past_the_cap_and_marked_truncated() -> None:
    many_qids = frozenset(str(100000 + i) for i in range(20_000))
    long_path = "vendor/" + "x" * 400 + ".py"
    many_secrets = frozenset(("generic-api-key", long_path, line) for line in range(1, 2_000))

    record = to_record(FindingKeys(many_qids, many_secrets))

    size = len(json.dumps(record).encode())
    assert size <= MAX_RECORD_BYTES < DYNAMODB_ITEM_LIMIT_BYTES
    assert record["truncated"] is True
    assert 0 < len(record["qids"]) < len(many_qids) and 0 < len(record["secrets"]) < len(many_secrets)
    # A deterministic prefix: the lowest QIDs are the ones kept.
    assert record["qids"][:2] == ["100000", "100001"]
    # The DynamoDB item stays under the 400 KB quota with the rest of the cache item around it.
    item = to_item({"function_arn": "arn:aws:lambda:us-east-1:111111111111:function:f", "finding_keys": record})
    assert len(json.dumps(item).encode()) < DYNAMODB_ITEM_LIMIT_BYTES


def test_truncated_baseline_dropped_keys_reported_new_never_missed() -> None:
    many = frozenset(str(100000 + i) for i in range(20_000))
    baseline = from_record(to_record(FindingKeys(many)))
    assert baseline is not None and baseline.truncated

    changes = compare(baseline, FindingKeys(many), complete=True)

    # Nothing actually changed; the keys the record could not hold come back as new, none is lost.
    assert changes["fixed"] == []
    assert len(changes["new"]) + changes["unchanged"] == len(many)


def test_small_record_not_truncated() -> None:
    assert to_record(keys("1 2", (AWS_KEY,)))["truncated"] is False


def _report() -> QScannerReport:
    return QScannerReport(
        vulnerabilities=(
            Vulnerability("100", 5, "critical one"),
            Vulnerability("200", 4, "high one"),
            Vulnerability("300", 2, "low one"),
        ),
        secrets=(Secret("github-pat", "config/settings.py", 12, "CRITICAL", "GitHub token"),),
    )


def test_new_finding_attributes_count_and_highest_new_severity() -> None:
    changes = compare(keys("100"), keys("100 200 300"), complete=True)

    assert new_finding_attributes(changes, _report()) == {"new_findings": "2", "new_max_severity": "high"}


def test_new_finding_attributes_nothing_new_is_zero_and_none() -> None:
    changes = compare(keys("100 200 300", (TOKEN,)), keys("100 200 300", (TOKEN,)), complete=True)

    assert new_finding_attributes(changes, _report()) == {"new_findings": "0", "new_max_severity": "none"}


def test_new_finding_attributes_suppressed_critical_left_out() -> None:
    changes = compare(None, keys("100 300"), complete=True)

    attributes = new_finding_attributes(changes, _report(), suppressed_qids={"100"})

    assert attributes == {"new_findings": "1", "new_max_severity": "low"}


def test_new_finding_attributes_new_secret_raises_max_severity_not_count() -> None:
    changes = compare(keys("100 200 300"), keys("100 200 300", (TOKEN,)), complete=True)

    assert new_finding_attributes(changes, _report()) == {"new_findings": "0", "new_max_severity": "critical"}
