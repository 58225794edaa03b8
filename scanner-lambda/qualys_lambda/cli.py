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
from qualys_lambda.aws import AwsAccess
from qualys_lambda.cache import ScanCache
from qualys_lambda.config import Settings
from qualys_lambda.coverage import CoverageRow, totals
from qualys_lambda.inventory import collect, run_all

SEVERITY_COLUMNS = ("critical", "high", "medium", "low")


def deployed_settings(function_name: str) -> tuple[Settings, AwsAccess, str]:
    """The scanner's settings from its function's environment, AWS access as the caller, the scanner's ARN."""
    configuration = aws.client("lambda").get_function_configuration(FunctionName=function_name)
    settings = Settings.from_env(configuration.get("Environment", {}).get("Variables", {}))
    parts = configuration["FunctionArn"].split(":")
    access = AwsAccess(
        own_account=parts[4],
        role_name=settings.cross_account_role_name,
        external_id=settings.cross_account_external_id,
        partition=parts[1],
        home_region=parts[3],
    )
    return settings, access, configuration["FunctionArn"]


def cache_of(settings: Settings) -> ScanCache | None:
    """The scanner's cache table, when it has one."""
    if not settings.cache_table:
        return None
    return ScanCache(aws.client("dynamodb"), settings.cache_table, settings.cache_ttl_days)


def render_table(rows: list[CoverageRow], out: TextIO) -> None:
    """The report as an aligned text table with totals."""
    header = ("FUNCTION", "ACCOUNT", "REGION", "REASON", "STATUS", "LAST SCAN", "CRIT", "HIGH", "MED", "LOW", "SECRETS")
    lines: list[tuple[str, ...]] = [header]
    for row in sorted(rows, key=lambda r: (r.account, r.region, r.function_name)):
        cells = [str(row.vulnerabilities.get(s, "")) for s in SEVERITY_COLUMNS]
        secrets = "" if row.secrets is None else str(row.secrets)
        lines.append(
            (row.function_name, row.account, row.region, row.reason, row.status, row.last_scan, *cells, secrets)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out)
    counts = totals(rows)
    print(
        f"\n{len(rows)} functions: {counts['covered']} covered, {counts['uncovered']} uncovered, "
        f"{counts['EXCLUDED_BY_TAG']} excluded "
        f"(PENDING {counts['PENDING']}, STALE {counts['STALE']}, FAILED {counts['FAILED']}, "
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
    settings, access, scanner_arn = deployed_settings(args.function_name)
    now = datetime.now(UTC)
    if args.command == "scan-all":
        # Every unit here, with the caller's credentials; metrics are the scheduled inventory's job.
        result = run_all(settings, access, cache_of(settings), now, scanner_arn)
        print(
            json.dumps(result) if args.json else f"enqueued {result['enqueued']} of {result['functions']} functions",
            file=out,
        )
        return 0
    rows = collect(settings, access, cache_of(settings), now, scanner_arn)
    if args.json:
        print(json.dumps({"functions": [r.as_json() for r in rows], "totals": totals(rows)}, indent=2), file=out)
    else:
        render_table(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
