"""Every parameter file of the deploy targets: `Key=Value` strings in, JSON out.

`aws cloudformation deploy --parameter-overrides file://...` takes a JSON list of `Key=Value` strings
(the default format); the StackSet calls take a list of {"ParameterKey", "ParameterValue"} objects
(`--format stackset`). Values come from the arguments, from an existing file, from named environment
variables (`--value-from-env ExternalId=EXTERNAL_ID`: a secret such as the hub's ExternalId is never
an argument) and from the user's `PARAMETERS` (`--parameters-env PARAMETERS`), in that order; a later
value for the same key wins.

`PARAMETERS` holds `Key=Value` pairs separated by spaces, and a value runs up to the next ` Key=`, so
it may itself hold spaces, parentheses, `*` and `?` as a schedule does:
`PARAMETERS="InventorySchedule=cron(0 3 * * ? *) EnableScanCache=false"` is two parameters. Keys are
CloudFormation parameter names (letters and digits); a value cannot contain a space followed by such a
name and `=`. It travels in the environment, never through a shell, so nothing in it is expanded.

On an emulator (moto) the Makefile also passes the template's parameters and the stack's current
ones, and every parameter becomes explicit. Why: `cloudformation deploy` sends each parameter it is
not given as UsePreviousValue; moto 5.2.1 resolves that to the stack's value but compares it with the
parameters given at creation, which do not hold the defaults, so every default-valued parameter looks
changed. moto then updates every resource that references one, including resources whose condition
is false and which were never created, and fails (HTTP 500, AttributeError in moto's S3 bucket update
for the never-created TrailBucket). Explicit values at creation and on every update are what
CloudFormation itself would use: the value given, else the stack's current value (UsePreviousValue),
else the template's default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# describe-stacks shows NoEcho parameters as this mask (CloudFormation "Parameters" reference).
NO_ECHO_MASK = "****"
# Logical names, parameters included, are alphanumeric (CloudFormation User Guide, "Parameters
# syntax": "The logical ID must be alphanumeric (A-Za-z0-9)").
PARAMETER_KEY = r"[A-Za-z0-9]+"
# Where PARAMETERS splits: whitespace followed by `Key=`.
NEXT_PAIR = re.compile(rf"\s+(?={PARAMETER_KEY}=)")


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`Key=Value` strings to a dict (the value may be empty or contain `=`)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"not Key=Value: {pair.split('=', 1)[0]!r}")
        parsed[key] = value
    return parsed


def split_parameters(text: str) -> list[str]:
    """PARAMETERS' `Key=Value` pairs; a value runs up to the next ` Key=` (see the module docstring)."""
    text = text.strip()
    if not text:
        return []
    pairs = NEXT_PAIR.split(text)
    for pair in pairs:
        if not re.match(rf"{PARAMETER_KEY}=", pair):
            raise ValueError(f"PARAMETERS must be Key=Value pairs separated by spaces, not {pair.split('=', 1)[0]!r}")
    return pairs


def values_from_env(specs: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """`Key=VARIABLE` specs to `Key=<the variable's value>` pairs; an unset variable is an error."""
    pairs = []
    for spec in specs:
        key, _, variable = spec.partition("=")
        if not key or not variable:
            raise ValueError(f"--value-from-env takes Key=VARIABLE, not {spec!r}")
        if variable not in env:
            raise ValueError(f"{variable} is not set (it gives the parameter {key})")
        pairs.append(f"{key}={env[variable]}")
    return pairs


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


def render(values: Mapping[str, str], form: str) -> str:
    """The JSON text of one parameter file in the form its command takes."""
    if form == "stackset":
        return json.dumps([{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()])
    return json.dumps([f"{key}={value}" for key, value in values.items()])


def read_json(path: Path | None) -> Any:
    return json.loads(path.read_text()) if path else None


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Print the JSON file; `--template-parameters` turns on the explicit (emulator) form."""
    parser = argparse.ArgumentParser(prog="python3 -m local.stack_parameters", description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", help="Key=Value")
    parser.add_argument("--overrides-file", type=Path, help="a JSON list of Key=Value strings, read first")
    parser.add_argument(
        "--value-from-env", action="append", default=[], metavar="KEY=VARIABLE", help="a value from the environment"
    )
    parser.add_argument("--parameters-env", metavar="VARIABLE", help="user pairs from this environment variable")
    parser.add_argument("--template-parameters", type=Path, help="get-template-summary's Parameters (JSON)")
    parser.add_argument("--stack-parameters", type=Path, help="describe-stacks' Parameters (JSON, or null)")
    parser.add_argument("--format", choices=("deploy", "stackset"), default="deploy", help="the command's file format")
    args = parser.parse_args(argv)
    try:
        user = split_parameters(env.get(args.parameters_env, "")) if args.parameters_env else []
        given = parse_pairs(
            [*(read_json(args.overrides_file) or []), *args.pairs, *values_from_env(args.value_from_env, env), *user]
        )
        if args.template_parameters:
            given = explicit(given, read_json(args.template_parameters) or [], read_json(args.stack_parameters))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(given, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
