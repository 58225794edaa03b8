"""Operator commands against a deployed scanner: `coverage` (the report) and `scan-all` (the backfill now).

Both read the scanner's own configuration from its function's environment, so they see what it sees:
  python -m qualys_lambda.cli coverage --function-name qscanner-scanner [--json]
  python -m qualys_lambda.cli scan-all --function-name qscanner-scanner
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from qualys_lambda import aws
from qualys_lambda.coverage import CoverageRow, totals
from qualys_lambda.deps import Deps
from qualys_lambda.inventory import collect, run_all
from qualys_lambda.suppressions import EXPIRING_WITHIN_DAYS, Rule

SEVERITY_COLUMNS = ("critical", "high", "medium", "low")


def render_table(rows: list[CoverageRow], out: TextIO) -> None:
    """The report as an aligned text table with totals."""
    header = (
        *(
            "FUNCTION",
            "ALIASES",
            "ACCOUNT",
            "REGION",
            "REASON",
            "STATUS",
            "LAST SCAN",
            "CRIT",
            "HIGH",
            "MED",
            "LOW",
            "SECRETS",
        ),
        *("ATTEMPTS", "NEXT RETRY"),
    )
    lines: list[tuple[str, ...]] = [header]
    for row in sorted(rows, key=lambda r: (r.account, r.region, r.function_name, r.version.zfill(20))):
        cells = [str(row.vulnerabilities.get(s, "")) for s in SEVERITY_COLUMNS]
        cells.append("" if row.secrets is None else str(row.secrets))
        cells += [str(row.attempts) if row.attempts else "", row.next_retry_text]
        lines.append(
            (
                row.target_name,
                ",".join(row.aliases),
                row.account,
                row.region,
                row.reason,
                row.status,
                row.last_scan,
                *cells,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out)
    counts = totals(rows)
    print(
        f"\n{len(rows)} targets: {counts['covered']} covered, {counts['uncovered']} uncovered, "
        f"{counts['EXCLUDED_BY_TAG']} excluded "
        f"(PENDING {counts['PENDING']}, STALE {counts['STALE']}, FAILED {counts['FAILED']}, "
        f"TOO_LARGE {counts['TOO_LARGE']}, "
        f"ACCESS_DENIED {counts['ACCESS_DENIED']})",
        file=out,
    )


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run one command; exit code 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m qualys_lambda.cli", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("coverage", "scan-all"))
    parser.add_argument("--function-name", required=True, help="the scanner function (stack output)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    deps = Deps.for_deployed_function(aws.client("lambda").get_function_configuration(FunctionName=args.function_name))
    now = datetime.now(UTC)
    if args.command == "scan-all":
        # Every unit here, with the caller's credentials; metrics are the scheduled inventory's job.
        result = run_all(deps, now)
        print(
            json.dumps(result) if args.json else f"enqueued {result['enqueued']} of {result['functions']} functions",
            file=out,
        )
        return 0
    rows = collect(deps, now)
    # Suppression rules about to lapse: their findings alert again after the expiry date.
    expiring = deps.suppressions.get().expiring(now.date()) if deps.suppressions else []
    if args.json:
        report = {
            "functions": [r.as_json() for r in rows],
            "totals": totals(rows),
            "expiring_suppressions": [rule.as_json() for rule in expiring],
        }
        print(json.dumps(report, indent=2), file=out)
    else:
        render_table(rows, out)
        render_expiring(expiring, out)
    return 0


def render_expiring(rules: list[Rule], out: TextIO) -> None:
    """The suppression rules that expire within EXPIRING_WITHIN_DAYS days, one line each."""
    if not rules:
        return
    print(f"\nsuppression rules expiring within {EXPIRING_WITHIN_DAYS} days:", file=out)
    for rule in sorted(rules, key=lambda r: (r.expires, r.id)):
        print(f"  {rule.id}  expires {rule.expires.isoformat()}  {rule.reason}", file=out)


if __name__ == "__main__":
    sys.exit(main())
