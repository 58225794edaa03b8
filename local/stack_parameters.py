"""The `--parameter-overrides` file of `aws cloudformation deploy`: a JSON list of `Key=Value` strings.

Values come from the Makefile's arguments or an existing file (so a secret such as the hub's
ExternalId never needs to be an argument). On an emulator (moto) the Makefile also passes the
template's parameters and the stack's current ones, and every parameter becomes explicit. Why:
`cloudformation deploy` sends each parameter it is not given as UsePreviousValue; moto 5.2.1 resolves
that to the stack's value but compares it with the parameters given at creation, which do not hold
the defaults, so every default-valued parameter looks changed. moto then updates every resource that
references one, including resources whose condition is false and which were never created, and
fails (HTTP 500, AttributeError in moto's S3 bucket update for the never-created TrailBucket).
Explicit values at creation and on every update are what CloudFormation itself would use:
the value given, else the stack's current value (UsePreviousValue), else the template's default.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# describe-stacks shows NoEcho parameters as this mask (CloudFormation "Parameters" reference).
NO_ECHO_MASK = "****"


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`Key=Value` strings to a dict (the value may be empty or contain `=`)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"not Key=Value: {pair.split('=', 1)[0]!r}")
        parsed[key] = value
    return parsed


def explicit(
    given: dict[str, str], template: list[dict[str, Any]], stack: list[dict[str, Any]] | None
) -> dict[str, str]:
    """Every template parameter with a value: given, else the stack's, else the default.

    A NoEcho parameter that is not given is left out (the stack only shows its mask), and so is
    a parameter with no value anywhere (CloudFormation reports it).
    """
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in stack or []}
    values = dict(given)
    for parameter in template:
        key = parameter["ParameterKey"]
        if key in values:
            continue
        previous = current.get(key)
        if previous is not None and not (parameter.get("NoEcho") and previous == NO_ECHO_MASK):
            values[key] = previous
        elif key not in current and parameter.get("DefaultValue") is not None:
            values[key] = parameter["DefaultValue"]
    return values


def read_json(path: Path | None) -> Any:
    return json.loads(path.read_text()) if path else None


def main(argv: Sequence[str]) -> int:
    """Print the JSON list; `--template-parameters` turns on the explicit (emulator) form."""
    parser = argparse.ArgumentParser(prog="python3 -m local.stack_parameters", description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", help="Key=Value")
    parser.add_argument("--overrides-file", type=Path, help="a JSON list of Key=Value strings, read first")
    parser.add_argument("--template-parameters", type=Path, help="get-template-summary's Parameters (JSON)")
    parser.add_argument("--stack-parameters", type=Path, help="describe-stacks' Parameters (JSON, or null)")
    args = parser.parse_args(argv)
    try:
        given = parse_pairs([*(read_json(args.overrides_file) or []), *args.pairs])
        if args.template_parameters:
            given = explicit(given, read_json(args.template_parameters) or [], read_json(args.stack_parameters))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([f"{key}={value}" for key, value in given.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
