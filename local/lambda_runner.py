"""One invocation of a deployed handler, run as the Lambda Python runtime runs it, in its own process.

`python -I local/lambda_runner.py CODE_DIR FUNCTION_ARN BUDGET_MS MODULE.FUNCTION [--work-root DIR]`:
the code directory on sys.path, the handler imported by its name, the event read from stdin, a
context object, logs as JSON lines on stderr (Lambda's JSON log format), the result as JSON on
stdout. Standard library only: the child sees the deployed code and nothing else of this repository.
The Lambda context class here is also the one the in-process runs (tests, bench) use.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Lambda's maximum timeout (AWS Lambda quotas page): the default invocation budget.
LAMBDA_MAX_TIMEOUT_MS = 900_000
# The attributes every log record has; anything else on a record is a field the caller passed in `extra`.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@dataclass
class LambdaContext:
    """The parts of Lambda's context object a handler reads; the remaining time counts down on `clock`."""

    invoked_function_arn: str
    remaining_ms: int = LAMBDA_MAX_TIMEOUT_MS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    @property
    def function_name(self) -> str:
        return self.invoked_function_arn.split(":")[6]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.remaining_ms - (self.clock() - self._started) * 1000))


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as Lambda's JSON log format shows it: level, logger, message and the `extra` fields."""
    extra = {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES}
    return {"level": record.levelname, "logger": record.name, "message": record.getMessage(), **extra}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), default=str)


def point_work_root(work_root: str, context: LambdaContext) -> None:
    """Lambda gives each function its own /tmp; locally the scanner's work root is a private directory."""
    from qualys_lambda import handler

    handler.default_deps(context).work_root = work_root


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lambda_runner", description=__doc__.splitlines()[0])
    parser.add_argument("code_dir")
    parser.add_argument("function_arn")
    parser.add_argument("budget_ms", type=int)
    parser.add_argument("handler", help="module.function, as the function's Handler setting names it")
    parser.add_argument("--work-root", default="", help="the directory that stands for the scanner's /tmp")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.code_dir)
    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[log_handler])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    module_name, function_name = args.handler.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    context = LambdaContext(args.function_arn, args.budget_ms, aws_request_id="local-request")
    if args.work_root:
        point_work_root(args.work_root, context)
    print(json.dumps(handler(json.load(sys.stdin), context)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
