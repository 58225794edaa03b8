"""The Lambda entry point's logic: parse the event, scan, report the outcome."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from qualys_lambda import aws, inventory, targets
from qualys_lambda.deps import Deps
from qualys_lambda.errors import InvalidEventError, TransientError
from qualys_lambda.events import InventoryUnit, is_schedule, parse_event, parse_inventory_unit, sqs_records
from qualys_lambda.scan import Scanner

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
aws.quiet_library_loggers()

_deps: Deps | None = None
# The log message of each SQS message's outcome (one line per message, its fields the outcome).
OUTCOME_MESSAGE = "message outcome"


class LambdaContext(Protocol):
    """The parts of Lambda's context object the scanner uses."""

    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


def unqualified(function_arn: str) -> str:
    """A function ARN without its version or alias."""
    return ":".join(function_arn.split(":")[:7])


def default_deps(context: LambdaContext) -> Deps:
    """The container's dependencies, built on first use from the environment."""
    global _deps
    if _deps is None:
        _deps = Deps.from_env(os.environ, unqualified(context.invoked_function_arn))
    return _deps


def handle_one(deps: Deps, event: Any, remaining_s: Callable[[], float]) -> dict[str, Any]:
    """Scan one event or run one inventory unit; bad input is logged and rejected, anything else propagates."""
    try:
        unit = parse_inventory_unit(event)
        if unit is not None:
            return handle_unit(deps, unit, remaining_s)
        request = parse_event(event)
    except InvalidEventError as exc:
        logger.warning("event rejected", extra={"reason": str(exc), "event_id": _event_id(event)})
        return {"outcome": "rejected", "reason": str(exc)}
    scanner = Scanner(deps)
    try:
        if request.alias:
            return targets.scan_alias(scanner, request, remaining_s)
        return scanner.scan(request, remaining_s())
    except InvalidEventError as exc:
        logger.warning(
            "event rejected",
            extra={"reason": str(exc), "event_id": request.event_id, "function_arn": request.function_arn},
        )
        return {"outcome": "rejected", "reason": str(exc), "function_arn": request.function_arn}
    except Exception as exc:
        _log_failure(deps, "scan failed", exc, function_arn=request.function_arn, event_id=request.event_id)
        raise


def handle_unit(deps: Deps, unit: InventoryUnit, remaining_s: Callable[[], float]) -> dict[str, Any]:
    """One inventory unit; a failure propagates so SQS returns that unit alone for a retry."""
    try:
        return inventory.run_unit(deps, unit, remaining_s)
    except InvalidEventError:
        raise  # rejected (and logged once) by handle_one
    except Exception as exc:
        _log_failure(deps, "inventory unit failed", exc, account=unit.account, region=unit.region)
        raise


def _log_failure(deps: Deps, message: str, exc: Exception, **fields: str) -> None:
    """Log a failure about to propagate; count the transient ones (throttling), which SQS retries."""
    logger.error(message, extra={"error": str(exc), "error_type": type(exc).__name__, **fields})
    if isinstance(exc, TransientError):
        deps.metrics({"TransientFailures": 1})


def handle(event: Any, context: LambdaContext, deps: Deps | None = None) -> dict[str, Any]:
    """Direct events return an outcome, SQS batches their failed message ids, the schedule its inventory."""
    deps = deps or default_deps(context)

    def remaining_s() -> float:
        return context.get_remaining_time_in_millis() / 1000

    if is_schedule(event):
        return inventory.plan(deps, _event_id(event))
    records = sqs_records(event)
    if records is None:
        return handle_one(deps, event, remaining_s)
    failures = []
    for message_id, body in records:
        try:
            outcome = handle_one(deps, body, remaining_s)
        except Exception as exc:
            failures.append({"itemIdentifier": message_id})
            outcome = {"outcome": "failed", "error_type": type(exc).__name__, "error": str(exc)}
        # The batch's return value lists only failed ids: this line is each message's outcome.
        logger.info(OUTCOME_MESSAGE, extra={**outcome, "message_id": message_id})
    return {"batchItemFailures": failures}


def _event_id(event: Any) -> str:
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else ""
