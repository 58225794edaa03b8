"""Benchmark of coverage: inventory of 1,000 functions, and QScanner runs for a burst of duplicate events.

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
    event_for,
    lambda_context,
    make_deps,
    make_resources,
    run_inventory,
    settings_for,
)

FUNCTIONS = 1000
BURST_EVENTS = 1000
BURST_FUNCTIONS = 100
CONCURRENCY = 20  # scans the queue feeds at once


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


def main() -> None:
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        counter = CallCounter()
        inventory(work, counter)
    aws.clear_clients()
    with mock_aws(), tempfile.TemporaryDirectory() as work:
        burst(work)


if __name__ == "__main__":
    main()
