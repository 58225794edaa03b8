"""The Qualys Detection Score (`qds`, 1-100) read from each SARIF rule onto its vulnerability."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qualys_lambda.qscanner_output import parse_sarif, read_report
from tests.support import sarif_result, sarif_rule
from tests.unit.test_simulated_qscanner import make_target, qs

FIXTURE = Path(__file__).parent.parent / "fixtures" / "qscanner-Report.sarif.json"


def _one_rule(qds: Any) -> dict[str, Any]:
    rule = sarif_rule(5000200, 4, ["CVE-2024-0001"])
    if qds is None:
        del rule["properties"]["qds"]
    else:
        rule["properties"]["qds"] = qds
    run = {"tool": {"driver": {"name": "QScanner", "rules": [rule]}}, "results": [sarif_result(5000200, [])]}
    return {"version": "2.1.0", "runs": [run]}


def test_read_report_fixture_qds_on_each_vulnerability() -> None:
    report = read_report({"s1-Report.sarif.json": FIXTURE.read_bytes()})

    assert {v.qid: v.qds for v in report.vulnerabilities} == {
        "5000101": 95,
        "5000102": 70,
        "5000103": 70,
        "5000104": 70,
    }


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), (100, 100), ("88", 88), (" 42 ", 42)])
def test_parse_sarif_qds_in_range_kept(raw: Any, expected: int) -> None:
    (vulnerability,), _ = parse_sarif(_one_rule(raw))

    assert vulnerability.qds == expected


@pytest.mark.parametrize("raw", [None, 0, 101, -5, "high", "", 12.5, True, [90], {"score": 90}])
def test_parse_sarif_qds_missing_or_invalid_is_none(raw: Any) -> None:
    (vulnerability,), problems = parse_sarif(_one_rule(raw))

    assert vulnerability.qds is None
    # A missing or odd score is not a broken report: the vulnerability is still counted.
    assert (vulnerability.qid, vulnerability.severity_name, problems) == ("5000200", "high", [])


def test_simulated_qscanner_sarif_carries_qds_the_parser_reads(tmp_path: Path) -> None:
    target = make_target()
    data = qs.scan_target(target, ("pkg",))
    qs.write_outputs(tmp_path, "scan-q", target, "123456789012", "us-east-1", data, ("pkg",), ("json",), 0)
    sarif = json.loads((tmp_path / "scan-q-Report.sarif.json").read_text())

    vulnerabilities, _ = parse_sarif(sarif)

    rules = {r["id"]: r["properties"]["qds"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert vulnerabilities and {v.qid: v.qds for v in vulnerabilities} == rules
    assert all(v.qds is not None and 1 <= v.qds <= 100 for v in vulnerabilities)
