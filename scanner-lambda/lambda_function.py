"""Lambda entry point: wiring only."""

from __future__ import annotations

from typing import Any

from qualys_lambda.handler import LambdaContext, handle


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scan the function named by an EventBridge event, an SQS batch of them or a manual request."""
    return handle(event, context)
