"""The Lambda entry point's logic: parse the event, scan, report the outcome."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from qualys_lambda import aws
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.errors import InvalidEventError, TransientError
from qualys_lambda.events import InventoryUnit, is_schedule, parse_event, parse_inventory_unit, sqs_records
from qualys_lambda.qscanner import run_subprocess
from qualys_lambda.scanner import Scanner

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
aws.quiet_library_loggers()

_scanner: Scanner | None = None
# The log message of each SQS message's outcome (one line per message, its fields the outcome).
OUTCOME_MESSAGE = "message outcome"


class LambdaContext(Protocol):
    """The parts of Lambda's context object the scanner uses."""

    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


def unqualified(function_arn: str) -> str:
    """A function ARN without its version or alias."""
    return ":".join(function_arn.split(":")[:7])


def default_scanner(context: LambdaContext) -> Scanner:
    """The container's scanner, built on first use from the environment."""
    global _scanner
    if _scanner is None:
        settings = Settings.from_env(os.environ)
        own_arn = unqualified(context.invoked_function_arn)
        parts = own_arn.split(":")
        access = aws.AwsAccess(
            own_account=parts[4],
            role_name=settings.cross_account_role_name,
            external_id=settings.cross_account_external_id,
            partition=parts[1],
            home_region=parts[3],
        )
        secrets = SecretReader(aws.client("secretsmanager"), settings.qualys_secret_arn)
        _scanner = Scanner(settings, access, secrets, run_subprocess, own_function_arn=own_arn)
    return _scanner


def handle_one(scanner: Scanner, event: Any, remaining_s: Callable[[], float]) -> dict[str, Any]:
    """Scan one event or run one inventory unit; bad input is logged and rejected, anything else propagates."""
    try:
        unit = parse_inventory_unit(event)
        if unit is not None:
            return run_unit(scanner, unit, remaining_s)
        request = parse_event(event)
    except InvalidEventError as exc:
        logger.warning("event rejected", extra={"reason": str(exc), "event_id": _event_id(event)})
        return {"outcome": "rejected", "reason": str(exc)}
    try:
        return scanner.scan(request, remaining_s())
    except InvalidEventError as exc:
        logger.warning(
            "event rejected",
            extra={"reason": str(exc), "event_id": request.event_id, "function_arn": request.function_arn},
        )
        return {"outcome": "rejected", "reason": str(exc), "function_arn": request.function_arn}
    except Exception as exc:
        _log_failure(scanner, "scan failed", exc, function_arn=request.function_arn, event_id=request.event_id)
        raise


def run_unit(scanner: Scanner, unit: InventoryUnit, remaining_s: Callable[[], float]) -> dict[str, Any]:
    """One inventory unit; a failure propagates so SQS returns that unit alone for a retry."""
    try:
        return scanner.run_unit(unit, remaining_s)
    except Exception as exc:
        _log_failure(scanner, "inventory unit failed", exc, account=unit.account, region=unit.region)
        raise


def _log_failure(scanner: Scanner, message: str, exc: Exception, **fields: str) -> None:
    """Log a failure about to propagate; count the transient ones (throttling), which SQS retries."""
    logger.error(message, extra={"error": str(exc), "error_type": type(exc).__name__, **fields})
    if isinstance(exc, TransientError):
        scanner.metrics({"TransientFailures": 1})


def handle(event: Any, context: LambdaContext, scanner: Scanner | None = None) -> dict[str, Any]:
    """Direct events return an outcome, SQS batches their failed message ids, the schedule its inventory."""
    scanner = scanner or default_scanner(context)

    def remaining_s() -> float:
        return context.get_remaining_time_in_millis() / 1000

    if is_schedule(event):
        return scanner.plan_inventory(_event_id(event))
    records = sqs_records(event)
    if records is None:
        return handle_one(scanner, event, remaining_s)
    failures = []
    for message_id, body in records:
        try:
            outcome = handle_one(scanner, body, remaining_s)
        except Exception as exc:
            failures.append({"itemIdentifier": message_id})
            outcome = {"outcome": "failed", "error_type": type(exc).__name__, "error": str(exc)}
        # The batch's return value lists only failed ids: this line is each message's outcome.
        logger.info(OUTCOME_MESSAGE, extra={**outcome, "message_id": message_id})
    return {"batchItemFailures": failures}


def _event_id(event: Any) -> str:
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else ""
