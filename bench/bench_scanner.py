"""Benchmark of the scanner (QScanner excluded): AWS calls and wall time per event, duplicate bursts, import cost.

Run on demand: `make bench` (or `.venv/bin/python bench/bench_scanner.py`). Uses moto in-process; never real AWS.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scanner-lambda"), str(ROOT)]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from qualys_lambda.deps import Deps  # noqa: E402
from qualys_lambda.handler import handle  # noqa: E402
from tests.support import (  # noqa: E402
    FakeRunner,
    atomic_dynamodb_writes,
    create_function,
    event_for,
    lambda_context,
    make_deps,
    make_resources,
    settings_for,
)

EVENTS = 50


class CallCounter:
    """Counts AWS API calls made through boto3's default session."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


def new_scanner(runner: FakeRunner, work: str) -> Deps:
    resources = BENCH["resources"]
    return make_deps(settings_for(resources), runner, work)


BENCH: dict[str, Any] = {}


def per_event(label: str, scanner: Deps, events: list[dict[str, Any]], counter: CallCounter) -> float:
    counter.take()
    times = []
    for event in events:
        started = time.perf_counter()
        handle(event, lambda_context(), scanner)
        times.append(time.perf_counter() - started)
    calls = counter.take()
    total = sum(calls.values())
    print(
        f"{label}: {len(events)} events, {total / len(events):.1f} AWS calls/event "
        f"({', '.join(f'{k} {v / len(events):g}' for k, v in sorted(calls.items()))}); "
        f"wall ms/event mean {statistics.mean(times) * 1000:.1f}, "
        f"p95 {sorted(times)[int(len(times) * 0.95) - 1] * 1000:.1f}"
    )
    return statistics.mean(times)


def unavoidable_calls(names: list[str]) -> float:
    """A cache hit's two unavoidable calls made directly with boto3: GetFunction, then the claim's
    conditional UpdateItem that finds a valid scan. Returns the mean seconds per pair."""
    lambda_client, dynamodb = boto3.client("lambda"), boto3.client("dynamodb")
    table = BENCH["resources"].table
    times = []
    for name in names:
        started = time.perf_counter()
        configuration = lambda_client.get_function(FunctionName=name)["Configuration"]
        # ConditionalCheckFailed is the expected outcome: a valid scan exists.
        with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.update_item(
                TableName=table,
                Key={"function_arn": {"S": configuration["FunctionArn"]}},
                UpdateExpression="SET claim_expires = :now",
                ConditionExpression="attribute_not_exists(scan_identity)",
                ExpressionAttributeValues={":now": {"N": "0"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        times.append(time.perf_counter() - started)
    return statistics.mean(times)


def duplicates(scanner: Deps, runner: FakeRunner) -> None:
    event = event_for("dup-target")
    barrier = threading.Barrier(EVENTS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        outcome = handle(event, lambda_context(), scanner)["outcome"]
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=deliver) for _ in range(EVENTS)]
    with atomic_dynamodb_writes():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(
        f"duplicates: {EVENTS} simultaneous events for one function -> {len(runner.calls)} QScanner run(s); "
        f"outcomes {dict(outcomes)}"
    )


def import_times(repeats: int = 7) -> None:
    def measure(statement: str) -> float:
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT / "scanner-lambda",
                ).stdout
            )
            for _ in range(repeats)
        ]
        return statistics.median(samples)

    boto3_alone = measure("import boto3")
    handler = measure("import lambda_function")
    print(
        f"cold import: boto3 alone {boto3_alone * 1000:.0f} ms, lambda_function {handler * 1000:.0f} ms "
        f"(+{(handler - boto3_alone) * 1000:.0f} ms, x{handler / boto3_alone:.2f})"
    )


def main() -> None:
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        counter = CallCounter()
        BENCH["resources"] = make_resources()
        names = [f"fn-{i:03d}" for i in range(EVENTS)]
        for name in names:
            create_function(name=name, files={"app.py": f"x = {name!r}\n"})
        create_function(name="dup-target")
        runner = FakeRunner()
        scanner = new_scanner(runner, work)
        per_event("scan path (fake QScanner)", scanner, [event_for(n) for n in names], counter)
        hit = per_event(
            "cache-hit path", scanner, [event_for(n, "update_function_configuration") for n in names], counter
        )
        direct = unavoidable_calls(names)
        print(
            f"cache-hit path vs its two unavoidable calls made directly with boto3 (GetFunction, UpdateItem): "
            f"{hit * 1000:.1f} ms vs {direct * 1000:.1f} ms per event, x{hit / direct:.2f}"
        )
        dup_runner = FakeRunner(delay=0.5)
        duplicates(new_scanner(dup_runner, work), dup_runner)
    import_times()


if __name__ == "__main__":
    main()
