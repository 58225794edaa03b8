"""Running QScanner: its argv and environment, a deadline, exit codes and output files."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

CACHE_DIR = "qscanner-cache"
HOME_DIR = "qscanner-home"
OUTPUT_PREFIX = "qscanner-out-"
SCAN_RESULT_SUFFIX = "-ScanResult.json"
MAX_OUTPUT_FILE_BYTES = 100 * 1024 * 1024
STDERR_EXCERPT_CHARS = 600
REDACTED = "[REDACTED]"
# Exit codes from QScanner's documentation.
EXIT_SUCCESS = 0
EXIT_REPORT_NOT_READY = 40
EXIT_POLICY = {42: "DENY", 43: "AUDIT"}
# Variables passed through to QScanner from the scanner's own environment besides credentials.
PASSTHROUGH_VARIABLES = ("PATH", "LANG", "TZ", "AWS_ENDPOINT_URL", "SSL_CERT_FILE")
PASSTHROUGH_PREFIX = "QSCANNER_SIM_"


class Runner(Protocol):
    """Runs a command without a shell, like `subprocess.run` with capture and a timeout."""

    def __call__(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]: ...


def run_subprocess(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The production runner: a child process, argv as a list, never a shell."""
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class ScanJob:
    """Everything one QScanner run needs."""

    qscanner_path: str
    pod: str
    access_token: str = field(repr=False)
    function_arn: str = ""
    region: str = ""
    scan_types: str = "pkg,secret"
    formats: tuple[str, ...] = ()
    aws_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    inherited_env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ScanRun:
    """What a QScanner run produced."""

    status: str
    exit_code: int | None
    scan_id: str
    files: dict[str, bytes]
    duration_s: float
    error: str = ""
    policy: str = ""


def build_argv(job: ScanJob, output_dir: str, cache_dir: str) -> list[str]:
    """QScanner's command line: global flags, then `lambda <arn>`; the token is never here."""
    argv = [
        job.qscanner_path,
        "--pod",
        job.pod,
        "--output-dir",
        output_dir,
        "--cache-dir",
        cache_dir,
        "--scan-types",
        job.scan_types,
    ]
    if job.formats:
        argv += ["--format", ",".join(job.formats)]
    return [*argv, "lambda", job.function_arn]


def build_env(job: ScanJob, home: str) -> dict[str, str]:
    """QScanner's environment, built from nothing: token, HOME, target credentials and region."""
    env = {
        key: value
        for key, value in job.inherited_env.items()
        if key in PASSTHROUGH_VARIABLES or key.startswith(PASSTHROUGH_PREFIX)
    }
    env.update(job.aws_env)
    env.update(
        {
            "QUALYS_ACCESS_TOKEN": job.access_token,
            "HOME": home,
            "AWS_REGION": job.region,
            "AWS_DEFAULT_REGION": job.region,
        }
    )
    return env


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def classify(exit_code: int) -> tuple[str, str]:
    """(status, policy verdict) for a QScanner exit code."""
    if exit_code == EXIT_SUCCESS:
        return "success", ""
    if exit_code == EXIT_REPORT_NOT_READY:
        return "partial", ""
    if exit_code in EXIT_POLICY:
        return "success", EXIT_POLICY[exit_code]
    return "failed", ""


def read_outputs(output_dir: Path) -> tuple[str, dict[str, bytes]]:
    """(scan id, {file name: content}) of what QScanner wrote in `output_dir`."""
    files: dict[str, bytes] = {}
    scan_id = ""
    for path in sorted(output_dir.iterdir()):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_OUTPUT_FILE_BYTES:
            continue
        files[path.name] = path.read_bytes()
        if path.name.endswith(SCAN_RESULT_SUFFIX):
            scan_id = path.name[: -len(SCAN_RESULT_SUFFIX)]
    return scan_id, files


def run_scan(job: ScanJob, timeout: float, runner: Runner, work_root: str) -> ScanRun:
    """Run QScanner once in a fresh output directory, removed afterwards."""
    root = Path(work_root)
    cache_dir, home = root / CACHE_DIR, root / HOME_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    output_dir = Path(tempfile.mkdtemp(prefix=OUTPUT_PREFIX, dir=root))
    started = time.monotonic()

    def failed(error: str, exit_code: int | None = None) -> ScanRun:
        return ScanRun("failed", exit_code, "", {}, round(time.monotonic() - started, 3), error)

    try:
        if timeout <= 0:
            return failed("no time left in the invocation to run QScanner")
        try:
            completed = runner(build_argv(job, str(output_dir), str(cache_dir)), build_env(job, str(home)), timeout)
        except subprocess.TimeoutExpired:
            return failed(f"QScanner timed out after {int(timeout)} s")
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return failed(f"QScanner binary not found or not executable at {job.qscanner_path}")
        status, policy = classify(completed.returncode)
        if status == "failed":
            excerpt = redact((completed.stderr or "")[-STDERR_EXCERPT_CHARS:], (job.access_token, *job.secrets))
            logger.warning("qscanner failed", extra={"exit_code": completed.returncode, "stderr_tail": excerpt})
            return failed(f"QScanner exited with code {completed.returncode}", completed.returncode)
        scan_id, files = read_outputs(output_dir)
        duration = round(time.monotonic() - started, 3)
        return ScanRun(status, completed.returncode, scan_id, files, duration, policy=policy)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
