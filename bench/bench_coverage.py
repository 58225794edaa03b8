"""Benchmark of coverage: inventory of 1,000 functions, QScanner runs for a burst of duplicate events, and
QScanner runs per failing function over 8 daily inventories (the back-off).

Run on demand: `make bench` (or `.venv/bin/python bench/bench_coverage.py`). moto in-process; never real AWS.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

# bench_scanner (imported before qualys_lambda) puts the repository on sys.path and sets fake credentials.
from bench_scanner import CallCounter
from moto import mock_aws

from qualys_lambda import aws
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from tests.support import (
    FakeRunner,
    atomic_dynamodb_writes,
    create_function,
    daily_inventories,
    event_for,
    lambda_context,
    make_deps,
    make_resources,
    run_inventory,
    scan_queues,
    settings_for,
)

FUNCTIONS = 1000
BURST_EVENTS = 1000
BURST_FUNCTIONS = 100
CONCURRENCY = 20  # scans the queue feeds at once
DAYS = 8
# QScanner exit code of each kind of function: 10 (artifact failure) is permanent, 30 (upload) transient.
FAILING = {"healthy": 0, "permanent": 10, "transient": 30}
FAILING_EACH = 10


def scanner_for(runner: FakeRunner, work: str, **overrides: Any) -> Deps:
    resources = make_resources()
    return make_deps(settings_for(resources, **overrides), runner, work, metrics=lambda values: None)


def inventory(work: str, counter: CallCounter) -> None:
    queue = boto3.client("sqs").create_queue(QueueName="scan-requests")["QueueUrl"]
    units = boto3.client("sqs").create_queue(QueueName="inventory-units")["QueueUrl"]
    scanner = scanner_for(FakeRunner(), work, SCAN_QUEUE_URL=queue, INVENTORY_QUEUE_URL=units)
    lambda_client = boto3.client("lambda")
    for index in range(FUNCTIONS):
        create_function(name=f"inv-{index:04d}", files={"app.py": "x = 1\n"}, client=lambda_client)
    for label in ("first run (all pending)", "second run (all queued)"):
        counter.take()
        started = time.perf_counter()
        # The schedule plans one unit (one account, one region), then the unit's own invocation runs it.
        result = run_inventory(scanner, units)
        elapsed = time.perf_counter() - started
        calls = counter.take()
        print(
            f"inventory {label}: {FUNCTIONS} functions in {elapsed:.2f} s "
            f"({elapsed / FUNCTIONS * 1000:.2f} ms/function), {sum(calls.values()) / FUNCTIONS:.3f} AWS calls/function "
            f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}); enqueued {result['enqueued']}"
        )


def burst(work: str) -> None:
    runner = FakeRunner(delay=0.05)
    scanner = scanner_for(runner, work)
    lambda_client = boto3.client("lambda")
    names = [f"burst-{index:03d}" for index in range(BURST_FUNCTIONS)]
    for name in names:
        create_function(name=name, files={"app.py": f"x = {name!r}\n"}, client=lambda_client)
    events = [event_for(names[i % BURST_FUNCTIONS]) for i in range(BURST_EVENTS)]
    random.Random(7).shuffle(events)  # noqa: S311 - an arrival order, not a secret
    started = time.perf_counter()
    with atomic_dynamodb_writes(), ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = Counter(o["outcome"] for o in pool.map(lambda e: handle(e, lambda_context(), scanner), events))
    elapsed = time.perf_counter() - started
    print(
        f"burst: {BURST_EVENTS} events for {BURST_FUNCTIONS} functions, {CONCURRENCY} at a time -> "
        f"{len(runner.calls)} QScanner runs in {elapsed:.1f} s; outcomes {dict(outcomes)}"
    )


def failing(work: str) -> None:
    """Daily inventories over 8 simulated days of functions that always fail, permanently or transiently,
    through the scan queue's redrive policy (3 receives, then the DLQ): QScanner runs per function."""
    urls = scan_queues()
    runner = FakeRunner()
    scanner = scanner_for(runner, work, **{k: v for k, v in urls.items() if k != "dlq"})
    exit_codes = {f"{kind}-{i}": code for kind, code in FAILING.items() for i in range(FAILING_EACH)}
    for name in exit_codes:
        create_function(name=name, files={"app.py": f"x = {name!r}\n"})
    calls: Counter[str] = Counter()

    def on_call(argv: list[str], env: dict[str, str]) -> None:
        name = argv[-1].rsplit(":", 1)[1]
        calls[name.split("-")[0]] += 1
        runner.exit_code = exit_codes[name]

    runner.on_call = on_call
    started = time.perf_counter()
    daily_inventories(scanner, urls, range(DAYS), lambda: len(runner.calls))
    elapsed = time.perf_counter() - started
    runs = ", ".join(f"{kind} (exit {code}) {calls[kind] / FAILING_EACH:g}" for kind, code in FAILING.items())
    print(
        f"back-off: {DAYS} daily inventories of {len(exit_codes)} functions in {elapsed:.1f} s -> QScanner runs per "
        f"function: {runs} (before the back-off, an always-failing function cost 3 receives x {DAYS} = {3 * DAYS})"
    )


def main() -> None:
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        counter = CallCounter()
        inventory(work, counter)
    aws.clear_clients()
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        burst(work)
    aws.clear_clients()
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        failing(work)


if __name__ == "__main__":
    main()
