"""Which failed scans are permanent for the scanned code and which are transient (docs/DESIGN.md section 14).

A permanent failure fails the same way when the same code is scanned again a minute later: it is recorded
and its SQS message succeeds, so SQS does not run QScanner on it twice more. A transient failure fails the
invocation, so SQS retries it. Either way the inventory re-enqueues the failed code identity later, with
exponential back-off (`cache.retry_delay`), and a code change starts afresh.
"""

from __future__ import annotations

from qualys_lambda.qscanner import ScanRun
from qualys_lambda.sizing import TOO_LARGE, is_too_large

INVALID_PARAMETER = "INVALID_PARAMETER"
ARTIFACT_FAILURE = "ARTIFACT_FAILURE"
TRANSIENT = "TRANSIENT"
# (first, last, reason) of the QScanner exit codes that retrying the same code cannot fix. The codes'
# meanings are Qualys's (QScanner README v4.8.0, `qscanner.EXIT_REASONS`); which of them are permanent is
# our reading, as Qualys documents no retry advice: 2, a parameter QScanner rejects, is rejected again;
# 5-10, the function or its image could not be fetched or read, fail again on the same code. Every other
# failure (1, 3, 11-21, 30-39, 42/43 outside policy mode, a timeout, a missing binary) may heal: transient.
PERMANENT_EXITS = ((2, 2, INVALID_PARAMETER), (5, 10, ARTIFACT_FAILURE))
# TOO_LARGE (sizing.py) is the same rule's third case: the code does not fit this scanner, no QScanner run.
PERMANENT = frozenset({TOO_LARGE, INVALID_PARAMETER, ARTIFACT_FAILURE})


def failure_reason(run: ScanRun) -> str:
    """Why a run failed, as the cache item and the coverage report name it; "" when it did not fail."""
    if run.status != "failed":
        return ""
    if is_too_large(run.failure):
        return TOO_LARGE
    code = run.exit_code
    permanent = (reason for low, high, reason in PERMANENT_EXITS if code is not None and low <= code <= high)
    return next(permanent, TRANSIENT)


def is_permanent(run: ScanRun) -> bool:
    """Whether retrying the same code cannot help: the scan is recorded and its message is not retried."""
    return failure_reason(run) in PERMANENT
