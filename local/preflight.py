"""Deploy prerequisites, all checked in one run: one `error:` line per missing or invalid one.

`make check` (and so `make deploy`) runs `python3 -m local.preflight ...` before anything touches AWS.
Standard library only, like local/build.py. The only AWS call is the read-only `sts
get-caller-identity`, needed to tell missing credentials from refused ones and from an unreachable
endpoint; it is made with one attempt and short timeouts so an unreachable endpoint answers in seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from local.build import BuildError, executable_kind, read_qscanner

# The POD list is the scanner's own (scanner-lambda/qualys_lambda/pods.py, standard library only),
# read from the source tree: `make check` runs this module with a bare python3.
sys.path.append(str(Path(__file__).resolve().parents[1] / "scanner-lambda"))
from qualys_lambda.pods import QUALYS_PODS

# AWS region names: partition prefix, optional gov/iso marker, area, number (AWS "Regions and Zones").
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
PROBE_TIMEOUT_S = 30
# Without AWS_REGION the CLI refuses to call STS at all; the identity is the same in every region of
# the partition, so the probe asks us-east-1 and the region gets its own error line.
PROBE_REGION = "us-east-1"
# botocore's messages for each kind of failure (botocore.exceptions and the STS error codes).
UNREACHABLE = (
    "Could not connect to the endpoint URL",
    "Connect timeout on endpoint URL",
    "Read timeout on endpoint URL",
)
NO_CREDENTIALS = ("Unable to locate credentials", "Partial credentials found", "could not be found")
REFUSED = (
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "UnrecognizedClientException",
    "AccessDenied",
    "Token has expired",
    "Error loading SSO Token",
)
CHECKS = ("cli", "credentials", "region", "qualys", "pod", "qscanner")
HOW_TO_AUTHENTICATE = "run aws configure, set AWS_PROFILE, or run aws sso login"


@dataclass(frozen=True)
class Inputs:
    """What the Makefile passes: the CLI, the region, the POD, the QScanner path, the target's name."""

    aws: str
    region: str
    pod: str
    qscanner: Path
    target: str


Probe = Callable[[Sequence[str], Mapping[str, str]], "subprocess.CompletedProcess[str]"]


def run_probe(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI once; a timeout becomes exit 255 with botocore's unreachable message."""
    try:
        return subprocess.run(
            list(argv), env=dict(env), capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 255, "", f"{UNREACHABLE[1]} (no answer in {PROBE_TIMEOUT_S} s)")


def classify_sts_failure(stderr: str, endpoint: str) -> str:
    """One line saying why `aws sts get-caller-identity` failed: unreachable, missing or refused credentials."""
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no output")
    where = endpoint or "AWS"
    if any(marker in stderr for marker in UNREACHABLE):
        hint = "is the emulator running?" if endpoint else "check the network or the proxy (HTTPS_PROXY)"
        return f"the AWS endpoint ({where}) is unreachable, so the credentials could not be checked: {hint} ({last})"
    if any(marker in stderr for marker in NO_CREDENTIALS):
        return f"no AWS credentials found ({last}): {HOW_TO_AUTHENTICATE}"
    if any(marker in stderr for marker in REFUSED):
        return f"the AWS credentials were refused ({last}): {HOW_TO_AUTHENTICATE}"
    return f"aws sts get-caller-identity failed ({last}): {HOW_TO_AUTHENTICATE}"


def check_cli(inputs: Inputs, env: Mapping[str, str]) -> str | None:
    if shutil.which(inputs.aws, path=env.get("PATH")) is None:
        where = "install it (https://aws.amazon.com/cli/) or pass AWS=/path/to/aws"
        return f"the AWS CLI ({inputs.aws}) was not found: {where}"
    return None


def check_credentials(inputs: Inputs, env: Mapping[str, str], probe: Probe) -> str | None:
    argv = [inputs.aws, "sts", "get-caller-identity", "--query", "Account", "--output", "text"]
    argv += ["--cli-connect-timeout", str(CONNECT_TIMEOUT_S), "--cli-read-timeout", str(READ_TIMEOUT_S)]
    argv += ["--region", inputs.region if REGION_RE.match(inputs.region) else PROBE_REGION]
    # One attempt: the CLI's retries would turn an unreachable endpoint into a minute of waiting.
    completed = probe(argv, {**env, "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""})
    if completed.returncode == 0:
        return None
    return classify_sts_failure(completed.stderr, env.get("AWS_ENDPOINT_URL", ""))


def check_region(inputs: Inputs) -> str | None:
    if not inputs.region:
        return f"AWS_REGION is not set: run e.g. make {inputs.target} AWS_REGION=us-east-2"
    if not REGION_RE.match(inputs.region):
        return f"AWS_REGION={inputs.region} is not a region name (e.g. us-east-2)"
    return None


def check_qualys(env: Mapping[str, str]) -> str | None:
    """The access token, or the client id + secret pair (either kind of Qualys credential)."""
    token = env.get("QUALYS_ACCESS_TOKEN", "").strip()
    client_id = env.get("QUALYS_CLIENT_ID", "").strip()
    client_secret = env.get("QUALYS_CLIENT_SECRET", "").strip()
    if token or (client_id and client_secret):
        return None
    if client_id or client_secret:
        missing = "QUALYS_CLIENT_SECRET" if client_id else "QUALYS_CLIENT_ID"
        both = "QUALYS_CLIENT_ID and QUALYS_CLIENT_SECRET"
        return f"{missing} is not set: the Qualys client credential needs both {both} (export them)"
    return (
        "no Qualys credentials: QUALYS_ACCESS_TOKEN is not set, nor QUALYS_CLIENT_ID and QUALYS_CLIENT_SECRET: "
        "export the pair (read -r QUALYS_CLIENT_ID && read -rs QUALYS_CLIENT_SECRET && export QUALYS_CLIENT_ID "
        "QUALYS_CLIENT_SECRET) or the token (read -rs QUALYS_ACCESS_TOKEN && export QUALYS_ACCESS_TOKEN)"
    )


def check_pod(inputs: Inputs) -> str | None:
    pods = ", ".join(QUALYS_PODS)
    if not inputs.pod:
        example = f"make {inputs.target} QUALYS_POD=US2"
        return f"QUALYS_POD is not set: pass your Qualys platform's POD, e.g. {example} (one of {pods})"
    if inputs.pod not in QUALYS_PODS:
        return f"QUALYS_POD={inputs.pod} is not a Qualys POD: use one of {pods}"
    return None


def check_qscanner(inputs: Inputs, env: Mapping[str, str], notes: list[str]) -> str | None:
    try:
        kind = executable_kind(read_qscanner(inputs.qscanner), inputs.qscanner)
    except (BuildError, OSError) as exc:
        return str(exc)
    if kind == "simulated" and not env.get("AWS_ENDPOINT_URL"):
        notes.append(f"{inputs.qscanner} is the SIMULATED QScanner: scans will not reach Qualys")
    return None


def preflight(
    inputs: Inputs, checks: Sequence[str], env: Mapping[str, str], probe: Probe = run_probe
) -> tuple[list[str], list[str]]:
    """(errors, notes) for the requested checks, in a fixed order; every check runs."""
    errors: list[str] = []
    notes: list[str] = []
    cli_missing = "cli" in checks and check_cli(inputs, env)
    if cli_missing:
        errors.append(cli_missing)
    # Without a CLI there is nothing to ask about the credentials: the CLI line covers both.
    results = {
        "credentials": lambda: None if cli_missing else check_credentials(inputs, env, probe),
        "region": lambda: check_region(inputs),
        "qualys": lambda: check_qualys(env),
        "pod": lambda: check_pod(inputs),
        "qscanner": lambda: check_qscanner(inputs, env, notes),
    }
    for name in CHECKS[1:]:
        if name in checks and (error := results[name]()):
            errors.append(error)
    return errors, notes


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Print one `error:` line per failed check on stderr; exit 1 if any failed."""
    parser = argparse.ArgumentParser(prog="python3 -m local.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("checks", nargs="+", choices=CHECKS)
    parser.add_argument("--aws", default="aws")
    parser.add_argument("--region", default="")
    parser.add_argument("--pod", default="")
    parser.add_argument("--qscanner", type=Path, default=Path("scanner-lambda/qscanner.gz"))
    parser.add_argument("--target", default="deploy")
    args = parser.parse_args(argv)
    inputs = Inputs(args.aws, args.region.strip(), args.pod.strip(), args.qscanner, args.target)
    errors, notes = preflight(inputs, args.checks, env)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
