"""Suppressions as code: validation, matching, expiry, OpenVEX, and the cached S3 reader (moto in-process)."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from qualys_lambda.config import Settings
from qualys_lambda.errors import ConfigurationError
from qualys_lambda.qscanner_output import Package, Vulnerability
from qualys_lambda.suppressions import (
    REFRESH_SECONDS,
    Suppressions,
    SuppressionsReader,
    main,
    openvex_document,
    parse_s3_uri,
    suppressed_findings,
    validate,
)
from tests.support import REGION

TODAY = date(2026, 12, 2)
ACCOUNT = "111111111111"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
PYYAML = Vulnerability(
    "5000101", 5, "PyYAML arbitrary code execution", cves=("CVE-2020-14343",), packages=(Package("PyYAML", "5.3"),)
)
REQUESTS = Vulnerability(
    "5000102", 4, "requests leak", cves=("CVE-2018-18074",), packages=(Package("requests", "2.19.1"),)
)


def rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "r1", "cve": "CVE-2020-14343", "reason": "build-time only", "expires": "2027-01-31"}
    return {**base, **fields}


def valid(*rules: dict[str, Any]) -> Suppressions:
    suppressions, errors = validate({"suppressions": list(rules)}, TODAY)
    assert errors == []
    return suppressions


# ---------------------------------------------------------------- validation


def test_validate_good_document_all_rules() -> None:
    suppressions = valid(
        rule(),
        {"id": "r2", "qid": 5000102, "reason": "accepted", "expires": "2026-12-31", "accounts": [ACCOUNT]},
        {
            "id": "r3",
            "package": "urllib3",
            "reason": "vendored, unused",
            "expires": "2027-06-30",
            "functions": ["orders-*"],
        },
    )

    assert [(r.id, r.qid, r.cve, r.package) for r in suppressions.rules] == [
        ("r1", "", "CVE-2020-14343", ""),
        ("r2", "5000102", "", ""),
        ("r3", "", "", "urllib3"),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"cve": None}, "must name exactly one of qid, cve, package"),
        ({"qid": "5000101"}, "must name exactly one of qid, cve, package"),
        ({"cve": "log4shell"}, "cve must look like CVE-2024-12345"),
        ({"reason": "  "}, "reason is required"),
        ({"expires": "31/01/2027"}, "expires is required, an ISO date (YYYY-MM-DD)"),
        ({"expires": (TODAY + timedelta(days=366)).isoformat()}, "expires is more than 365 days ahead"),
        ({"id": "has space"}, "id must be"),
        ({"functions": "orders-api"}, "functions must be a non-empty list"),
        ({"accounts": ["1234"]}, "accounts has an entry that is not a 12-digit account id"),
        ({"vex_justification": "not_used"}, "vex_justification must be one of"),
        ({"expire": "2027-01-01"}, "unknown field 'expire'"),
    ],
)
def test_validate_bad_rule_one_line_naming_it(bad: dict[str, Any], message: str) -> None:
    fields = rule(**bad)
    if bad.get("cve", "") is None:
        del fields["cve"]
    suppressions, errors = validate({"suppressions": [rule(id="ok"), fields]}, TODAY)

    assert suppressions.rules == ()  # one bad rule: nothing applies
    (line,) = errors
    assert line.startswith("rule 2")
    assert message in line


def test_validate_every_bad_rule_listed_once() -> None:
    document = {"suppressions": [rule(id="a", reason=""), rule(id="b"), rule(id="c", expires="soon"), "text"]}

    _, errors = validate(document, TODAY)

    assert [e.split(":")[0] for e in errors] == ["rule 1 (a)", "rule 3 (c)", "rule 4"]


def test_validate_duplicate_id_rejected() -> None:
    _, errors = validate({"suppressions": [rule(), rule()]}, TODAY)

    assert errors == ["rule 2 (r1): id 'r1' is used by an earlier rule"]


def test_validate_vex_justification_needs_a_cve() -> None:
    fields = {
        "id": "q",
        "qid": "1",
        "reason": "x",
        "expires": "2027-01-01",
        "vex_justification": "component_not_present",
    }

    _, errors = validate({"suppressions": [fields]}, TODAY)

    assert errors == ["rule 1 (q): vex_justification needs a cve"]


@pytest.mark.parametrize("document", [[], {"rules": []}, {"suppressions": {}}, "x"])
def test_validate_not_a_document(document: Any) -> None:
    suppressions, errors = validate(document, TODAY)

    assert suppressions.rules == () and errors == ['the document must be an object {"suppressions": [...]}']


def test_validate_expired_rule_refused_for_upload_only() -> None:
    expired = rule(expires="2026-11-30")

    assert validate({"suppressions": [expired]}, TODAY)[1] == []
    assert validate({"suppressions": [expired]}, TODAY, for_upload=True)[1] == ["rule 1 (r1): expires is in the past"]


# ---------------------------------------------------------------- matching


def test_match_by_cve_qid_and_package_name() -> None:
    by_cve = valid(rule())
    by_qid = valid({"id": "q", "qid": "5000102", "reason": "x", "expires": "2027-01-01"})
    by_package = valid({"id": "p", "package": "pyyaml", "reason": "x", "expires": "2027-01-01"})

    assert by_cve.match(PYYAML, ARN, ACCOUNT, TODAY) is not None
    assert by_cve.match(REQUESTS, ARN, ACCOUNT, TODAY) is None
    assert by_qid.match(REQUESTS, ARN, ACCOUNT, TODAY) is not None
    assert by_qid.match(PYYAML, ARN, ACCOUNT, TODAY) is None
    # Package names compare without regard to case (PyYAML / pyyaml).
    assert by_package.match(PYYAML, ARN, ACCOUNT, TODAY) is not None


@pytest.mark.parametrize(
    ("functions", "expected"),
    [
        (["orders-api"], True),
        (["orders-*"], True),
        (["*-api"], True),
        (["billing-*"], False),
        ([ARN], True),
        ([f"arn:aws:lambda:*:{ACCOUNT}:function:orders-*"], True),
        (["arn:aws:lambda:*:222222222222:function:*"], False),
        (["orders-ap?"], False),  # only * is a wildcard
    ],
)
def test_match_functions_by_name_or_arn_with_wildcards(functions: list[str], expected: bool) -> None:
    suppressions = valid(rule(functions=functions))

    assert (suppressions.match(PYYAML, ARN, ACCOUNT, TODAY) is not None) is expected


def test_match_accounts_narrow_the_rule() -> None:
    suppressions = valid(rule(accounts=["222222222222"]))

    assert suppressions.match(PYYAML, ARN, ACCOUNT, TODAY) is None
    assert suppressions.match(PYYAML, ARN.replace(ACCOUNT, "222222222222"), "222222222222", TODAY) is not None


def test_match_applies_through_expiry_day_not_after() -> None:
    suppressions = valid(rule(expires="2026-12-10"))

    assert suppressions.match(PYYAML, ARN, ACCOUNT, date(2026, 12, 10)) is not None
    assert suppressions.match(PYYAML, ARN, ACCOUNT, date(2026, 12, 11)) is None


def test_suppressed_findings_name_the_rule_reason_and_expiry() -> None:
    suppressions = valid(rule())

    found = suppressed_findings(suppressions, [PYYAML, REQUESTS], ARN, ACCOUNT, TODAY)

    assert [(v.qid, r.as_json()) for v, r in found] == [
        ("5000101", {"rule": "r1", "reason": "build-time only", "expires": "2027-01-31"})
    ]


def test_expiring_within_14_days() -> None:
    suppressions = valid(
        rule(id="soon", expires="2026-12-16"),
        rule(id="later", expires="2026-12-17"),
        rule(id="today", expires="2026-12-02"),
    )

    assert [r.id for r in suppressions.expiring(TODAY)] == ["soon", "today"]


# ---------------------------------------------------------------- OpenVEX


def test_openvex_not_affected_for_cve_rules_with_justification() -> None:
    suppressions = valid(
        rule(vex_justification="vulnerable_code_not_in_execute_path"),
        {"id": "q", "qid": "5000102", "reason": "accepted", "expires": "2027-01-01"},
    )
    found = suppressed_findings(suppressions, [PYYAML, REQUESTS], ARN, ACCOUNT, TODAY)

    document = openvex_document(found, ARN, "2026-12-02T10:00:00Z")

    assert document is not None
    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert (document["author"], document["timestamp"], document["version"]) == (
        "qualys-lambda",
        "2026-12-02T10:00:00Z",
        1,
    )
    assert document["@id"].startswith("urn:qualys-lambda:vex:")
    (statement,) = document["statements"]  # the QID rule has no CVE: no statement
    assert statement == {
        "vulnerability": {"name": "CVE-2020-14343"},
        "products": [{"@id": ARN}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "impact_statement": "build-time only",
        "status_notes": "qualys-lambda suppression rule r1, QID 5000101, expires 2027-01-31",
    }


def test_openvex_none_without_justified_cve_rules() -> None:
    found = suppressed_findings(valid(rule()), [PYYAML], ARN, ACCOUNT, TODAY)

    assert openvex_document(found, ARN, "2026-12-02T10:00:00Z") is None


# ---------------------------------------------------------------- S3 reader


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bucket(mocked_aws: None) -> Any:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="qualys-results")
    return s3


def reader(s3: Any, metrics: list[dict[str, int]], clock: Clock, uri: str = "") -> SuppressionsReader:
    return SuppressionsReader(
        s3,
        uri or "s3://qualys-results/suppressions/suppressions.json",
        metrics=metrics.append,
        clock=clock,
        today=lambda: TODAY,
    )


def put(s3: Any, body: str | bytes) -> None:
    s3.put_object(Bucket="qualys-results", Key="suppressions/suppressions.json", Body=body)


def test_reader_reads_rules_and_caches_them(bucket: Any) -> None:
    metrics: list[dict[str, int]] = []
    clock = Clock()
    put(bucket, json.dumps({"suppressions": [rule()]}))
    suppressions_reader = reader(bucket, metrics, clock)

    first = suppressions_reader.get()
    put(bucket, json.dumps({"suppressions": []}))
    clock.now += REFRESH_SECONDS - 1
    cached = suppressions_reader.get()
    clock.now += 1
    refreshed = suppressions_reader.get()

    assert [r.id for r in first.rules] == ["r1"]
    assert cached is first  # no read within the refresh period
    assert refreshed.rules == ()
    assert metrics == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "the document is not JSON"),
        (json.dumps({"suppressions": [rule(reason="")]}), "1 invalid rule(s), first: rule 1 (r1): reason is required"),
        (None, "GetObject failed: NoSuchKey"),
    ],
    ids=["not-json", "bad-rule", "missing-object"],
)
def test_reader_unreadable_applies_nothing_logs_once_and_counts(
    bucket: Any, body: str | None, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics: list[dict[str, int]] = []
    clock = Clock()
    if body is not None:
        put(bucket, body)
    suppressions_reader = reader(bucket, metrics, clock)

    with caplog.at_level(logging.ERROR, logger="qualys_lambda.suppressions"):
        first = suppressions_reader.get()
        second = suppressions_reader.get()

    assert first.rules == () and second is first
    assert first.problem.startswith(why)
    assert metrics == [{"SuppressionsUnreadable": 1}]
    (record,) = caplog.records
    assert record.getMessage() == "suppressions unreadable, none applied"
    assert record.error.startswith(why)  # type: ignore[attr-defined]


def test_reader_bad_uri_applies_nothing(bucket: Any) -> None:
    metrics: list[dict[str, int]] = []

    result = reader(bucket, metrics, Clock(), uri="https://example.com/suppressions.json").get()

    assert result.rules == () and metrics == [{"SuppressionsUnreadable": 1}]


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("s3://qualys-results/suppressions/suppressions.json", ("qualys-results", "suppressions/suppressions.json")),
        ("s3://qualys-results/", None),
        ("s3://Bad_Bucket/key", None),
        ("qualys-results/key", None),
    ],
)
def test_parse_s3_uri(uri: str, parsed: tuple[str, str] | None) -> None:
    assert parse_s3_uri(uri) == parsed


# ---------------------------------------------------------------- command line


def test_main_validate_good_file_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "suppressions.json"
    expires = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    path.write_text(json.dumps({"suppressions": [rule(expires=expires)]}))
    out, err = io.StringIO(), io.StringIO()

    code = main(["validate", str(path)], out, err)

    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue() == f"{path}: 1 rule(s) valid, 1 expiring within 14 days\n"


def test_main_validate_bad_file_one_line_per_bad_rule_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "suppressions.json"
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    path.write_text(
        json.dumps({"suppressions": [rule(id="a", reason=""), rule(id="b", expires=expires), rule(id="c", cve="x")]})
    )
    out, err = io.StringIO(), io.StringIO()

    code = main(["validate", str(path)], out, err)

    assert code == 1 and out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["rule 1 (a)", "rule 3 (c)"]


def test_main_validate_unreadable_file_exit_1(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()

    assert main(["validate", str(tmp_path / "missing.json")], out, err) == 1
    assert "not a readable JSON file" in err.getvalue()


# ---------------------------------------------------------------- settings


def test_settings_suppressions_uri_off_by_default_and_read() -> None:
    assert Settings.from_env({"QUALYS_SECRET_ARN": "arn"}).suppressions_uri == ""
    uri = "s3://qualys-results/suppressions/suppressions.json"
    assert Settings.from_env({"QUALYS_SECRET_ARN": "arn", "SUPPRESSIONS_URI": uri}).suppressions_uri == uri


@pytest.mark.parametrize("uri", ["https://example.com/s.json", "s3://qualys-results", "qualys-results/key"])
def test_settings_suppressions_uri_must_be_s3_object(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="SUPPRESSIONS_URI must be s3://bucket/key"):
        Settings.from_env({"QUALYS_SECRET_ARN": "arn", "SUPPRESSIONS_URI": uri})
