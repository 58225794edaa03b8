"""CloudWatch metrics in embedded metric format: totals only, never a per-function dimension."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Protocol, TextIO

NAMESPACE = "QualysLambda"
DIMENSIONS = {"Service": "qualys-lambda"}


class MetricsSink(Protocol):
    """Receives counts to publish."""

    def __call__(self, values: Mapping[str, int]) -> None: ...


def emf_line(values: Mapping[str, int], now_ms: int) -> str:
    """One EMF document: CloudWatch Logs turns it into metrics, no API call needed."""
    document = {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(DIMENSIONS)],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        **DIMENSIONS,
        **values,
    }
    return json.dumps(document)


def emit(values: Mapping[str, int], stream: TextIO | None = None) -> None:
    """Print the metrics on stdout, where Lambda's log capture picks EMF up."""
    if values:
        print(emf_line(values, int(time.time() * 1000)), file=stream or sys.stdout, flush=True)
