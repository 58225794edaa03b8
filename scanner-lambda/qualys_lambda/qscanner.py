"""Running QScanner: its argv and environment, a deadline, exit codes and output files."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qualys_lambda.process import run_in_group
from qualys_lambda.qscanner_output import QScannerReport, read_report, redact, redact_fragments

logger = logging.getLogger(__name__)

CACHE_DIR = "qscanner-cache"
HOME_DIR = "qscanner-home"
# One directory per scan under the work root: QScanner's --output-dir and its private scratch space.
SCAN_DIR_PREFIX = "qscanner-scan-"
OUTPUT_SUBDIR = "out"
SCRATCH_SUBDIR = "tmp"
# QScanner writes its temporary files under TMPDIR, /tmp by default (Qualys QScanner README v4.8.0);
# TMP and TEMP point there too for any library that reads those instead.
SCRATCH_VARIABLES = ("TMPDIR", "TMP", "TEMP")
MAX_OUTPUT_FILE_BYTES = 100 * 1024 * 1024
STDERR_EXCERPT_CHARS = 600
# Facts below are from the Qualys QScanner README v4.8.0.
SCAN_TYPES = frozenset({"os", "sca", "secret", "malware", "fileinsight", "compliance", "pkg"})
# `pkg` is os+sca: the scan types whose results are the SARIF vulnerability report.
VULNERABILITY_SCAN_TYPES = frozenset({"os", "sca", "pkg"})
# `--format` lists inventory outputs; `json` (ScanResult.json) is its default only when the flag is absent.
INVENTORY_FORMAT = "json"
MODE_REPORT = "get-report"
MODE_POLICY = "evaluate-policy"
# QScanner's own --scan-timeout defaults to 300 s whatever the Lambda has left, so it is always passed:
# a few seconds under the process timeout, so QScanner stops by itself and writes what it has.
SCAN_TIMEOUT_MARGIN_S = 10
EXIT_SUCCESS = 0
EXIT_REPORT_NOT_READY = 40
EXIT_POLICY_NOT_READY = 41
EXIT_POLICY = {42: "DENY", 43: "AUDIT"}
POLICY_ALLOW = "ALLOW"
# (first, last, reason) of each documented exit code range.
EXIT_REASONS = (
    (0, 0, "success"),
    (1, 1, "generic error (see the scanner's log)"),
    (2, 2, "invalid parameter"),
    (3, 3, "logger initialisation failed"),
    (5, 10, "artifact failure: the function or its image could not be fetched or read"),
    (11, 21, "scan failure inside QScanner"),
    (30, 39, "output or upload failure: the network or the Qualys platform"),
    (40, 40, "vulnerability report not available from Qualys (inventory uploaded)"),
    (41, 41, "policy result not available from Qualys"),
    (42, 42, "policy verdict DENY"),
    (43, 43, "policy verdict AUDIT"),
)
# QScanner documents no exit code of its own for rejected credentials: a generic failure (1) whose
# stderr names authentication is taken as one, so the secret is re-read (our heuristic).
EXIT_GENERIC = 1
AUTH_FAILURE = re.compile(r"\b401\b|unauthori[sz]ed|authenticat|invalid.{0,20}token|token.{0,20}expired", re.I)
# Variables passed through to QScanner from the scanner's own environment besides credentials.
PASSTHROUGH_VARIABLES = ("PATH", "LANG", "TZ", "AWS_ENDPOINT_URL", "SSL_CERT_FILE")
PASSTHROUGH_PREFIX = "QSCANNER_SIM_"


class Runner(Protocol):
    """Runs a command without a shell, like `subprocess.run` with capture and a timeout."""

    def __call__(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]: ...


def run_subprocess(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The production runner: argv as a list, never a shell, in its own process group killed as a whole."""
    return run_in_group(argv, env, timeout)


@dataclass(frozen=True)
class ScanJob:
    """Everything one QScanner run needs."""

    qscanner_path: str
    pod: str = ""
    gateway_url: str = ""
    # QUALYS_CLIENT_ID/QUALYS_CLIENT_SECRET or QUALYS_ACCESS_TOKEN: QScanner's environment, never argv.
    qualys_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    function_arn: str = ""
    region: str = ""
    scan_types: str = "pkg,secret"
    formats: tuple[str, ...] = ()
    policy_tags: str = ""
    aws_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    inherited_env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def mode(self) -> str:
        """evaluate-policy when policy tags are set, else QScanner's default get-report."""
        return MODE_POLICY if self.policy_tags else MODE_REPORT

    @property
    def hidden(self) -> tuple[str, ...]:
        """Every value that must never be logged, stored or sent."""
        return (*self.qualys_env.values(), *self.secrets)


@dataclass(frozen=True)
class ScanRun:
    """What a QScanner run produced, its files already read into one report."""

    status: str
    exit_code: int | None
    report: QScannerReport
    duration_s: float
    failure: str = ""  # why a failed run failed
    policy: str = ""
    mode: str = MODE_REPORT
    auth_failed: bool = False
    # Signs that QScanner's output is not the layout this scanner was written for (QScanner changed).
    unrecognised: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # what a partial run could not do, first the exit code's reason

    @property
    def error(self) -> str:
        """The run's error text: why it failed, or what a partial run could not do."""
        return self.failure or "; ".join(self.problems)

    @property
    def scan_id(self) -> str:
        """QScanner's scan id, from its file names."""
        return self.report.scan_id

    @property
    def exit_reason(self) -> str:
        """What the exit code's range means, or an empty string without one."""
        return exit_reason(self.exit_code)


def exit_reason(code: int | None) -> str:
    """The documented meaning of a QScanner exit code."""
    if code is None:
        return ""
    return next((reason for low, high, reason in EXIT_REASONS if low <= code <= high), "undocumented exit code")


def scan_timeout_flag(timeout: float) -> str:
    """--scan-timeout's value (a duration in seconds) a little under the process timeout."""
    return f"{max(1, int(timeout) - SCAN_TIMEOUT_MARGIN_S)}s"


def build_argv(job: ScanJob, output_dir: str, cache_dir: str, timeout: float) -> list[str]:
    """QScanner's command line: global flags, then `lambda <arn>`; credentials are never here."""
    platform = ["--gateway-url", job.gateway_url] if job.gateway_url else ["--pod", job.pod]
    argv = [
        job.qscanner_path,
        *platform,
        "--output-dir",
        output_dir,
        "--cache-dir",
        cache_dir,
        "--scan-types",
        job.scan_types,
        "--scan-timeout",
        scan_timeout_flag(timeout),
    ]
    if job.formats:
        # Giving --format drops its json default, and ScanResult.json is what secrets are read from.
        argv += ["--format", ",".join(dict.fromkeys((INVENTORY_FORMAT, *job.formats)))]
    if job.policy_tags:
        argv += ["--mode", MODE_POLICY, "--policy-tags", job.policy_tags]
    return [*argv, "lambda", lambda_target(job.function_arn)]


def lambda_target(function_arn: str) -> str:
    """The argument of `qscanner lambda` naming what to scan: the function's ARN, qualified by the version
    for a published version behind an alias. [ours] Qualys documents an ARN, not how to name a version:
    a qualified ARN is what Lambda's own GetFunction accepts for one (AWS Lambda API Reference,
    GetFunction: "You can append a version number or alias to any of the formats"). The one place to
    change if QScanner wants another form."""
    return function_arn


def build_env(job: ScanJob, home: str, scratch: str = "") -> dict[str, str]:
    """QScanner's environment, built from nothing: Qualys credentials, HOME, target credentials and region."""
    env = {
        key: value
        for key, value in job.inherited_env.items()
        if key in PASSTHROUGH_VARIABLES or key.startswith(PASSTHROUGH_PREFIX)
    }
    env.update(job.aws_env)
    env.update(job.qualys_env)
    # HOME is private to the scanner: QScanner caches its JWT under ~/.cache/qualys/qscanner/.
    env.update({"HOME": home, "AWS_REGION": job.region, "AWS_DEFAULT_REGION": job.region})
    if scratch:
        # Private to this scan and removed after it; only --cache-dir and HOME outlive it.
        env.update(dict.fromkeys(SCRATCH_VARIABLES, scratch))
    return env


def exit_status(exit_code: int, mode: str = MODE_REPORT) -> tuple[str, str]:
    """(status, policy verdict) for a QScanner exit code."""
    allow = POLICY_ALLOW if mode == MODE_POLICY else ""
    if exit_code == EXIT_SUCCESS:
        return "success", allow
    if exit_code in (EXIT_REPORT_NOT_READY, EXIT_POLICY_NOT_READY):
        return "partial", ""
    if exit_code in EXIT_POLICY and mode == MODE_POLICY:
        return "success", EXIT_POLICY[exit_code]
    return "failed", ""


def read_outputs(output_dir: Path) -> dict[str, bytes]:
    """{file name: content} of what QScanner wrote in `output_dir`."""
    return {
        path.name: path.read_bytes()
        for path in sorted(output_dir.iterdir())
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_OUTPUT_FILE_BYTES
    }


def report_problems(job: ScanJob, exit_code: int, report: QScannerReport) -> list[str]:
    """Why a finished run is only partial: unreadable files, a missing report, scans that failed."""
    problems = list(report.problems)
    wants_sarif = bool(VULNERABILITY_SCAN_TYPES & set(job.scan_types.split(",")))
    if exit_code != EXIT_REPORT_NOT_READY and wants_sarif and not report.has_sarif and not problems:
        problems.append("no SARIF vulnerability report was written")
    if report.failed_scans:
        problems.append("scans not successful: " + ",".join(report.failed_scans))
    return problems


def output_unrecognised(job: ScanJob, exit_code: int, report: QScannerReport) -> tuple[str, ...]:
    """The report's own layout signs, plus a missing SARIF report where a vulnerability scan was asked for."""
    signs = list(report.unrecognised)
    wants_sarif = bool(VULNERABILITY_SCAN_TYPES & set(job.scan_types.split(",")))
    unreadable = any(sign.startswith("SARIF") for sign in signs)
    if exit_code != EXIT_REPORT_NOT_READY and wants_sarif and not report.has_sarif and not unreadable:
        signs.append("no SARIF vulnerability report was written")
    return tuple(signs)


def run_scan(job: ScanJob, timeout: float, runner: Runner, work_root: str) -> ScanRun:
    """Run QScanner once in a fresh scan directory (output and scratch space), removed afterwards."""
    root = Path(work_root)
    cache_dir, home = root / CACHE_DIR, root / HOME_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    scan_dir = Path(tempfile.mkdtemp(prefix=SCAN_DIR_PREFIX, dir=root))
    output_dir, scratch = scan_dir / OUTPUT_SUBDIR, scan_dir / SCRATCH_SUBDIR
    output_dir.mkdir()
    scratch.mkdir()
    started = time.monotonic()

    def failed(error: str, exit_code: int | None = None, auth_failed: bool = False) -> ScanRun:
        elapsed = round(time.monotonic() - started, 3)
        return ScanRun("failed", exit_code, QScannerReport(), elapsed, error, mode=job.mode, auth_failed=auth_failed)

    try:
        if timeout <= 0:
            return failed("no time left in the invocation to run QScanner")
        argv = build_argv(job, str(output_dir), str(cache_dir), timeout)
        try:
            completed = runner(argv, build_env(job, str(home), str(scratch)), timeout)
        except subprocess.TimeoutExpired:
            return failed(f"QScanner timed out after {int(timeout)} s")
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return failed(f"QScanner binary not found or not executable at {job.qscanner_path}")
        code = completed.returncode
        status = exit_status(code, job.mode)[0]
        if status == "failed":
            stderr = completed.stderr or ""
            # Redact whole values before cutting, then whatever the cut or a wrap left of one.
            excerpt = redact_fragments(redact(stderr, job.hidden)[-STDERR_EXCERPT_CHARS:], job.hidden)
            auth = code == EXIT_GENERIC and bool(AUTH_FAILURE.search(stderr))
            logger.warning(
                "qscanner failed",
                extra={
                    "exit_code": code,
                    "exit_reason": exit_reason(code),
                    "auth_failed": auth,
                    "stderr_tail": excerpt,
                },
            )
            return failed(f"QScanner exited with code {code}: {exit_reason(code)}", code, auth)
        return finished_run(job, code, read_outputs(output_dir), round(time.monotonic() - started, 3))
    finally:
        shutil.rmtree(scan_dir, ignore_errors=True)


def finished_run(job: ScanJob, code: int, files: Mapping[str, bytes], duration_s: float) -> ScanRun:
    """The ScanRun of a QScanner run that exited with `code` (not a failure code) and wrote `files`.

    Also how a stored result is read back (reuse.py): the same parser, the same status rules.
    """
    status, policy = exit_status(code, job.mode)
    report = read_report(files, job.hidden)
    problems = report_problems(job, code, report)
    if status == "partial":
        problems.insert(0, exit_reason(code))
    if problems and status == "success":
        status = "partial"
    unrecognised = output_unrecognised(job, code, report)
    return ScanRun(
        status, code, report, duration_s, "", policy, job.mode, unrecognised=unrecognised, problems=tuple(problems)
    )
