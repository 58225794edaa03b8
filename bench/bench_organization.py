"""Benchmark of the inventory at organization scale: a moto organization, the schedule, then every unit.

Run on demand: `make bench` (or `.venv/bin/python bench/bench_organization.py`). moto in-process; never
real AWS. Prints invocations per inventory, the longest unit's duration and AWS calls per function, and
projects them to 300 accounts x 4 regions x 100 functions against Lambda's 15-minute limit and the
per-account Lambda API quotas.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from typing import Any

# bench_scanner (imported before qualys_lambda) puts the repository on sys.path and sets fake credentials.
import bench_scanner  # noqa: F401
import boto3
from botocore.client import BaseClient
from moto import mock_aws

from qualys_lambda.aws import INVENTORY_CONTROL_PLANE_RPS, LAMBDA_CONTROL_PLANE_RPS
from qualys_lambda.inventory import UNIT_TIME_MARGIN_S
from tests.functional.test_organization import REGIONS, Hub, hub_env, member_functions, new_member
from tests.support import make_resources

MEMBERS = 5
FUNCTIONS_PER_REGION = 40
# The projection's organization.
ORG_ACCOUNTS, ORG_REGIONS, ORG_FUNCTIONS = 300, 4, 100
LAMBDA_TIMEOUT_S = 900  # AWS Lambda quotas page: function timeout 900 seconds (15 minutes)
# Assumed latency of one AWS API call from Lambda in the same region (moto in-process is faster).
AWS_CALL_S = 0.025
LAMBDA_CONTROL_PLANE = frozenset({"lambda.ListFunctions", "lambda.ListTags", "lambda.TagResource"})


class Calls:
    """Counts every AWS call made by any botocore client (target-account sessions included)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        original = BaseClient._make_api_call
        counts = self.counts

        def counted(client: Any, operation: str, params: Any) -> Any:
            counts[f"{client.meta.service_model.service_name}.{operation}"] += 1
            return original(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def take(self) -> Counter[str]:
        taken = Counter(self.counts)
        self.counts.clear()
        return taken


class TimedHub(Hub):
    """The test's hub, with each invocation's duration and AWS calls recorded."""

    calls: Calls | None = None

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.calls is not None
        self.calls.take()
        started = time.perf_counter()
        result = super().invoke(event)
        self.invocations[-1]["seconds"] = time.perf_counter() - started
        self.invocations[-1]["calls"] = self.calls.take()
        return result


def main() -> None:
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        resources = make_resources()
        boto3.client("organizations").create_organization(FeatureSet="ALL")
        members = [new_member(f"bench{i}") for i in range(MEMBERS)]
        for account in members:
            member_functions(account, FUNCTIONS_PER_REGION)
        hub = TimedHub(resources, hub_env(), work=work)
        hub.calls = Calls()
        for label in ("first inventory", "second inventory"):
            hub.invocations.clear()
            started = time.perf_counter()
            planned = hub.schedule()
            hub.drain(("INVENTORY_QUEUE_URL",))
            elapsed = time.perf_counter() - started
            units = hub.invocations[1:]
            # Member units (the hub itself has no functions here) carry the per-function work.
            members_units = [i for i in units if "sts.AssumeRole" in i["calls"]]
            longest = max(members_units, key=lambda i: i["seconds"])
            median = statistics.median(i["seconds"] for i in members_units)
            functions = FUNCTIONS_PER_REGION
            calls = sum(longest["calls"].values())
            enqueued = sum(m.get("ScansEnqueued", 0) for m in hub.metrics[-len(units) :])
            print(
                f"{label}: {planned['accounts']} accounts x {len(REGIONS)} regions x {functions} functions; "
                f"{len(hub.invocations)} invocations (1 plan + {len(units)} units), {enqueued} scans enqueued, "
                f"{elapsed:.2f} s in all; schedule {hub.invocations[0]['seconds'] * 1000:.0f} ms; longest unit "
                f"{longest['seconds'] * 1000:.0f} ms (median {median * 1000:.0f} ms), "
                f"{calls / functions:.2f} AWS calls/function "
                f"({', '.join(f'{k} {v}' for k, v in sorted(longest['calls'].items()))})"
            )
            if label == "first inventory":
                first = (longest["calls"], longest["seconds"])
        project(*first, FUNCTIONS_PER_REGION)


def project(calls: Counter[str], seconds: float, functions: int) -> None:
    """The first-inventory unit scaled to ORG_FUNCTIONS functions, and the whole organization."""
    per_function = {k: v / functions for k, v in calls.items()}
    unit_calls = sum(per_function.values()) * ORG_FUNCTIONS
    control = sum(v for k, v in per_function.items() if k in LAMBDA_CONTROL_PLANE) * ORG_FUNCTIONS
    # ListFunctions returns 50 functions a page, so a unit of 100 makes 2 control-plane calls.
    unit_s = unit_calls * AWS_CALL_S + max(control, 2) / INVENTORY_CONTROL_PLANE_RPS
    units = ORG_ACCOUNTS * ORG_REGIONS
    print(
        f"projection {ORG_ACCOUNTS} accounts x {ORG_REGIONS} regions x {ORG_FUNCTIONS} functions "
        f"({units * ORG_FUNCTIONS:,} functions): {1 + units} invocations per inventory (1 plan + {units} units); "
        f"a unit makes {unit_calls:.0f} AWS calls, ~{unit_s:.1f} s at {AWS_CALL_S * 1000:.0f} ms/call "
        f"(moto: {seconds / functions * ORG_FUNCTIONS:.2f} s) against a {LAMBDA_TIMEOUT_S} s timeout "
        f"(a unit hands on its Marker with {UNIT_TIME_MARGIN_S:.0f} s left); Lambda control-plane calls per unit "
        f"{max(control, 2):.0f}, paced at <= {INVENTORY_CONTROL_PLANE_RPS:g}/s of the {LAMBDA_CONTROL_PLANE_RPS}/s "
        f"quota per account and region; the plan invocation sends {units // 10} SendMessageBatch calls "
        f"and {ORG_ACCOUNTS // 20 + 1} ListAccounts pages"
    )


if __name__ == "__main__":
    main()
