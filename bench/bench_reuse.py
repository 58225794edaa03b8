"""Benchmark of one scan per artifact (ScanIdenticalCodeOnce): QScanner runs for an organization in which 40% of
the functions are copies of others (a StackSet's, a promotion's), with the option off and on.

Run on demand: `make bench` (or `.venv/bin/python bench/bench_reuse.py`). moto in-process; never real AWS. The
organization's hub plans the inventory, then the inventory and scan queues are drained one message per
invocation (tests/functional/test_organization.py's Hub); then 5 copies get new code and a second inventory runs.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid

# bench_scanner (imported before qualys_lambda) puts the repository on sys.path and sets fake credentials.
import bench_scanner  # noqa: F401
import boto3
from moto import mock_aws

from qualys_lambda import aws
from tests.functional.test_organization import REGIONS, Hub, hub_env, new_member
from tests.support import account_session, code_zip, make_resources

MEMBERS = 5
FUNCTIONS_PER_REGION = 10
COPY_SHARE = 0.4
CHANGED = 5  # copies whose code changes before the second inventory


def organization(copy_share: float) -> tuple[dict[str, int], dict[str, str]]:
    """Member accounts with FUNCTIONS_PER_REGION functions in each region; `copy_share` of them run code that
    another function (in any account or region) runs too. Returns ({arn: code id}, {arn: region})."""
    boto3.client("organizations").create_organization(FeatureSet="ALL")
    places = [
        (account, region, index)
        for account in (new_member(f"bench{i}") for i in range(MEMBERS))
        for region in REGIONS
        for index in range(FUNCTIONS_PER_REGION)
    ]
    total = len(places)
    copies = round(total * copy_share)
    distinct = total - copies
    # Each copy runs one of the first `copies // 2` distinct codes; the order spreads them over accounts and regions.
    codes = list(range(distinct)) + [i % max(1, copies // 2) for i in range(copies)]
    random.Random(19).shuffle(codes)  # noqa: S311 - a placement, not a secret
    zips = {code: code_zip({"app.py": f"x = {code}\n"}) for code in set(codes)}
    assigned: dict[str, int] = {}
    regions: dict[str, str] = {}
    roles: dict[tuple[str, str], str] = {}
    for (account, region, index), code in zip(places, codes, strict=True):
        session = account_session(account, region=region)
        if (account, region) not in roles:
            iam = session.client("iam")
            role = iam.create_role(RoleName=f"fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
            roles[(account, region)] = role["Role"]["Arn"]
        arn = session.client("lambda").create_function(
            FunctionName=f"app-{index}",
            Runtime="python3.12",
            Role=roles[(account, region)],
            Handler="app.handler",
            Code={"ZipFile": zips[code]},
        )["FunctionArn"]
        assigned[arn] = code
        regions[arn] = region
    return assigned, regions


def change_code(arn: str, region: str) -> None:
    """A new code version of one function (a new identity)."""
    session = account_session(arn.split(":")[4], region=region)
    session.client("lambda").update_function_code(FunctionName=arn, ZipFile=code_zip({"app.py": f"x = {arn!r}\n"}))


def run(option: str) -> str:
    """The first and second inventories of the organization with ScanIdenticalCodeOnce=`option`."""
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        resources = make_resources()
        codes, regions = organization(COPY_SHARE)
        hub = Hub(resources, {**hub_env(), "SCAN_IDENTICAL_CODE_ONCE": option}, work=work)
        started = time.perf_counter()
        hub.schedule()
        hub.drain()
        first_runs, first_reused = len(hub.runner.calls), sum(m.get("ScansReused", 0) for m in hub.metrics)
        elapsed = time.perf_counter() - started
        copied = {code for code in codes.values() if list(codes.values()).count(code) > 1}
        changed = [arn for arn, code in sorted(codes.items()) if code in copied][:CHANGED]
        for arn in changed:
            change_code(arn, regions[arn])
        hub.schedule()
        hub.drain()
        second_runs = len(hub.runner.calls) - first_runs
        second_reused = sum(m.get("ScansReused", 0) for m in hub.metrics) - first_reused
    aws.clear_clients()
    distinct = len(set(codes.values()))
    return (
        f"ScanIdenticalCodeOnce={option}: {len(codes)} functions ({MEMBERS} accounts x {len(REGIONS)} regions x "
        f"{FUNCTIONS_PER_REGION}), {len(codes) - distinct} of them copies ({COPY_SHARE:.0%}), {distinct} distinct "
        f"code identities -> first inventory {first_runs} QScanner runs + {first_reused} reused results "
        f"({elapsed:.1f} s); after {CHANGED} copies got new code, second inventory {second_runs} runs + "
        f"{second_reused} reused"
    )


def main() -> None:
    for option in ("false", "true"):
        print(run(option))


if __name__ == "__main__":
    main()
