"""Suppressions as code: a team's assessed findings, with a reason and an expiry, read from S3.

The document (`SUPPRESSIONS_URI`, s3://bucket/key; docs/findings.md, "Suppressions"):

    {"suppressions": [{"id": "pyyaml-build-only", "cve": "CVE-2020-14343",
                       "functions": ["orders-*"], "accounts": ["111111111111"],
                       "reason": "PyYAML is only used by the build", "expires": "2027-03-31",
                       "vex_justification": "vulnerable_code_not_in_execute_path"}]}

Each rule names exactly one of `qid`, `cve`, `package`; `reason` and `expires` (an ISO date at most 365
days ahead) are required; `functions` (names or ARNs, `*` wildcards) and `accounts` narrow it. A rule
applies through its expiry date (UTC) and not from the day after. One bad rule makes the whole document
invalid: the scanner then applies no suppression (findings alert as without it), logs one error line and
emits the `SuppressionsUnreadable` metric; the scan goes on.

    python -m qualys_lambda.suppressions validate FILE   # one error line per bad rule, exit 1 if any
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from qualys_lambda.aws import error_code
from qualys_lambda.metrics import MetricsSink, emit
from qualys_lambda.qscanner_output import Vulnerability

logger = logging.getLogger(__name__)

MAX_AHEAD_DAYS = 365
EXPIRING_WITHIN_DAYS = 14
# "At most every few minutes": a changed document takes effect within this many seconds.
REFRESH_SECONDS = 300
# The object `make suppressions` uploads to (in the results bucket unless another is given).
DEFAULT_KEY = "suppressions/suppressions.json"
# OpenVEX specification, "Status Justifications": the labels a `not_affected` statement may carry.
VEX_JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
OPENVEX_AUTHOR = "qualys-lambda"
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
QID = re.compile(r"^\d{1,10}$")
ACCOUNT = re.compile(r"^\d{12}$")
MATCHERS = ("qid", "cve", "package")
FIELDS = frozenset({"id", *MATCHERS, "functions", "accounts", "reason", "expires", "vex_justification"})
MAX_TEXT = 1024


@dataclass(frozen=True)
class Rule:
    """One suppression rule, validated."""

    id: str
    reason: str
    expires: date
    qid: str = ""
    cve: str = ""
    package: str = ""
    functions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    vex_justification: str = ""

    def applies_on(self, today: date) -> bool:
        """Through the expiry date, not after it."""
        return today <= self.expires

    def matches(self, vulnerability: Vulnerability, function_arn: str, account: str, today: date) -> bool:
        """Whether this rule suppresses `vulnerability` in the function `function_arn` of `account` on `today`."""
        if not self.applies_on(today):
            return False
        if self.accounts and account not in self.accounts:
            return False
        if self.functions and not any(_function_matches(p, function_arn) for p in self.functions):
            return False
        if self.qid:
            return vulnerability.qid == self.qid
        if self.cve:
            return self.cve in vulnerability.cves
        return any(p.name.lower() == self.package.lower() for p in vulnerability.packages)

    def as_json(self) -> dict[str, str]:
        """How the summary names the rule beside a suppressed finding."""
        return {"rule": self.id, "reason": self.reason, "expires": self.expires.isoformat()}


def parse_s3_uri(uri: str) -> tuple[str, str] | None:
    """(bucket, key) of s3://bucket/key, or None when `uri` is not one."""
    match = S3_URI.match(uri)
    return (match.group(1), match.group(2)) if match else None


def _wildcard(pattern: str, value: str) -> bool:
    # Only `*` is special (any run of characters); everything else matches itself.
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


def _function_matches(pattern: str, function_arn: str) -> bool:
    # A pattern starting with arn: is compared with the ARN, any other with the function's name.
    name = function_arn.split(":")[6] if function_arn.count(":") >= 6 else function_arn
    return _wildcard(pattern, function_arn if pattern.startswith("arn:") else name)


def _strings(value: Any, what: str, pattern: re.Pattern[str] | None = None) -> tuple[tuple[str, ...], str]:
    """(the list's strings, "") or ((), the problem)."""
    if not isinstance(value, list) or not value:
        return (), f"{what} must be a non-empty list"
    if not all(isinstance(v, str) and v.strip() for v in value):
        return (), f"{what} must list non-empty strings"
    if pattern and not all(pattern.match(v) for v in value):
        return (), f"{what} has an invalid entry"
    return tuple(value), ""


def _rule(raw: Any, today: date, for_upload: bool) -> tuple[Rule | None, list[str]]:
    """A rule and no problems, or None and every problem of it."""
    if not isinstance(raw, dict):
        return None, ["must be an object"]
    problems = [f"unknown field {name!r}" for name in sorted(set(raw) - FIELDS)]
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        problems.append("id must be 1-64 letters, digits, '.', '_' or '-'")
    given = [m for m in MATCHERS if m in raw]
    if len(given) != 1:
        problems.append("must name exactly one of qid, cve, package")
    qid = raw.get("qid", "")
    qid = str(qid) if isinstance(qid, int) and not isinstance(qid, bool) else qid
    if "qid" in raw and not (isinstance(qid, str) and QID.match(qid)):
        problems.append("qid must be a number")
    cve = raw.get("cve", "")
    if "cve" in raw and not (isinstance(cve, str) and CVE_ID.match(cve)):
        problems.append("cve must look like CVE-2024-12345")
    package = raw.get("package", "")
    if "package" in raw and not (isinstance(package, str) and package.strip()):
        problems.append("package must be a package name")
    functions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    if "functions" in raw:
        functions, problem = _strings(raw["functions"], "functions")
        problems += [problem] if problem else []
    if "accounts" in raw:
        accounts, problem = _strings(raw["accounts"], "accounts", ACCOUNT)
        problems += (
            [problem.replace("an invalid entry", "an entry that is not a 12-digit account id")] if problem else []
        )
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_TEXT:
        problems.append(f"reason is required (1-{MAX_TEXT} characters)")
    expires = None
    with contextlib.suppress(ValueError):
        expires = date.fromisoformat(raw["expires"]) if isinstance(raw.get("expires"), str) else None
    if expires is None:
        problems.append("expires is required, an ISO date (YYYY-MM-DD)")
    elif expires > today + timedelta(days=MAX_AHEAD_DAYS):
        problems.append(f"expires is more than {MAX_AHEAD_DAYS} days ahead")
    elif for_upload and expires < today:
        problems.append("expires is in the past")
    justification = raw.get("vex_justification", "")
    if "vex_justification" in raw:
        if justification not in VEX_JUSTIFICATIONS:
            problems.append("vex_justification must be one of " + ", ".join(sorted(VEX_JUSTIFICATIONS)))
        elif "cve" not in raw:
            problems.append("vex_justification needs a cve")
    if problems or expires is None:
        return None, problems
    return (
        Rule(
            id=str(rule_id),
            reason=str(reason).strip(),
            expires=expires,
            qid=str(qid) if "qid" in raw else "",
            cve=str(cve) if "cve" in raw else "",
            package=str(package).strip() if "package" in raw else "",
            functions=functions,
            accounts=accounts,
            vex_justification=str(justification),
        ),
        [],
    )


@dataclass(frozen=True)
class Suppressions:
    """The valid rules of a document (none when it was unreadable or invalid)."""

    rules: tuple[Rule, ...] = ()
    problem: str = ""

    def match(self, vulnerability: Vulnerability, function_arn: str, account: str, today: date) -> Rule | None:
        """The first rule, in document order, that suppresses `vulnerability`."""
        return next((r for r in self.rules if r.matches(vulnerability, function_arn, account, today)), None)

    def expiring(self, today: date, within_days: int = EXPIRING_WITHIN_DAYS) -> list[Rule]:
        """Rules still in force that expire within `within_days` days (for the coverage report)."""
        return [r for r in self.rules if today <= r.expires <= today + timedelta(days=within_days)]


def validate(document: Any, today: date, for_upload: bool = False) -> tuple[Suppressions, list[str]]:
    """The document's rules and one error line per bad rule (no rule applies when there is any).

    `for_upload` also refuses rules already expired (a mistake when uploading; at scan time such a
    rule simply no longer applies).
    """
    if not isinstance(document, dict) or not isinstance(document.get("suppressions"), list):
        return Suppressions(problem="not a document"), ['the document must be an object {"suppressions": [...]}']
    extra = sorted(set(document) - {"suppressions"})
    errors = [f"unknown top-level field {name!r}" for name in extra]
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["suppressions"], start=1):
        rule, problems = _rule(raw, today, for_upload)
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        if rule is not None and rule.id in seen:
            problems = [f"id {rule.id!r} is used by an earlier rule"]
            rule = None
        if rule is not None:
            seen.add(rule.id)
            rules.append(rule)
        else:
            where = f"rule {index}" + (f" ({label})" if label else "")
            errors.append(f"{where}: " + "; ".join(problems))
    if errors:
        return Suppressions(problem=f"{len(errors)} invalid rule(s)"), errors
    return Suppressions(tuple(rules)), []


def suppressed_findings(
    suppressions: Suppressions,
    vulnerabilities: Iterable[Vulnerability],
    function_arn: str,
    account: str,
    today: date,
) -> list[tuple[Vulnerability, Rule]]:
    """Each suppressed vulnerability with the rule that suppresses it (`findings.suppressed` of the summary)."""
    found = []
    for vulnerability in vulnerabilities:
        rule = suppressions.match(vulnerability, function_arn, account, today)
        if rule is not None:
            found.append((vulnerability, rule))
    return found


def openvex_document(
    suppressed: Iterable[tuple[Vulnerability, Rule]], function_arn: str, timestamp: str
) -> dict[str, Any] | None:
    """An OpenVEX document of the suppressed CVEs whose rule names a CVE and a justification; None if none.

    One `not_affected` statement per CVE, product the function's ARN, `justification` the rule's label
    and `impact_statement` its reason (OpenVEX specification: a not_affected statement needs a
    justification or an impact statement; this gives both).
    """
    statements = []
    for vulnerability, rule in suppressed:
        if not (rule.cve and rule.vex_justification and rule.cve in vulnerability.cves):
            continue
        statements.append(
            {
                "vulnerability": {"name": rule.cve},
                "products": [{"@id": function_arn}],
                "status": "not_affected",
                "justification": rule.vex_justification,
                "impact_statement": rule.reason,
                "status_notes": f"qualys-lambda suppression rule {rule.id}, QID {vulnerability.qid}, "
                f"expires {rule.expires.isoformat()}",
            }
        )
    if not statements:
        return None
    digest = hashlib.sha256(f"{function_arn}\n{timestamp}".encode()).hexdigest()[:32]
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"urn:qualys-lambda:vex:{digest}",
        "author": OPENVEX_AUTHOR,
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }


@dataclass
class SuppressionsReader:
    """Reads the document from S3 at most every `refresh_seconds`; a bad read applies no suppression."""

    s3: Any
    uri: str
    metrics: MetricsSink = emit
    clock: Callable[[], float] = time.monotonic
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    refresh_seconds: float = REFRESH_SECONDS
    _cached: Suppressions | None = field(default=None, init=False, repr=False)
    _read_at: float = field(default=0.0, init=False, repr=False)

    def get(self) -> Suppressions:
        """The rules in force, read again once the cached copy is older than `refresh_seconds`."""
        now = self.clock()
        if self._cached is None or now - self._read_at >= self.refresh_seconds:
            self._cached, self._read_at = self._read(), now
        return self._cached

    def _read(self) -> Suppressions:
        location = parse_s3_uri(self.uri)
        if location is None:
            return self._unreadable("SUPPRESSIONS_URI is not s3://bucket/key")
        bucket, key = location
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            return self._unreadable(f"GetObject failed: {error_code(exc) or type(exc).__name__}")
        except BotoCoreError as exc:
            return self._unreadable(f"GetObject failed: {type(exc).__name__}")
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._unreadable("the document is not JSON")
        suppressions, errors = validate(document, self.today())
        if errors:
            # The first line says what is wrong; `make suppressions` lists every one.
            return self._unreadable(f"{len(errors)} invalid rule(s), first: {errors[0]}")
        return suppressions

    def _unreadable(self, why: str) -> Suppressions:
        # One line per read (at most one per refresh period), never the document's content.
        logger.error("suppressions unreadable, none applied", extra={"uri": self.uri, "error": why[:300]})
        self.metrics({"SuppressionsUnreadable": 1})
        return Suppressions(problem=why)


def validate_file(path: Path, today: date, out: TextIO, err: TextIO) -> int:
    """`validate FILE`: one line per bad rule on `err` and exit 1, or a summary line on `out` and 0."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{path}: not a readable JSON file: {type(exc).__name__}", file=err)
        return 1
    suppressions, errors = validate(document, today, for_upload=True)
    for line in errors:
        print(f"{path}: {line}", file=err)
    if errors:
        return 1
    expiring = suppressions.expiring(today)
    print(
        f"{path}: {len(suppressions.rules)} rule(s) valid, {len(expiring)} expiring within {EXPIRING_WITHIN_DAYS} days",
        file=out,
    )
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Command line: `validate FILE`."""
    parser = argparse.ArgumentParser(prog="python -m qualys_lambda.suppressions", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("validate",))
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    return validate_file(args.file, datetime.now(UTC).date(), out, err)


if __name__ == "__main__":
    sys.exit(main())
