"""`make demo` end to end: its own emulator, the real `make deploy`, the scanner's story, nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_run() -> subprocess.CompletedProcess[str]:
    """One `make demo` for the module (it starts and stops its own moto server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUALYS_"))}
    return subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_demo_passes(demo_run: subprocess.CompletedProcess[str]) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-4000:] + demo_run.stderr[-2000:]
    assert "demo PASSED" in demo_run.stdout


def test_demo_says_qscanner_is_simulated_at_start_and_in_summary(demo_run: subprocess.CompletedProcess[str]) -> None:
    head, _, summary = demo_run.stdout.partition("===== summary")

    assert "QScanner is SIMULATED" in head.splitlines()[1]
    assert "QScanner was SIMULATED" in summary


def test_demo_shows_tags_results_notification_and_cache(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout

    assert "QualysScanStatus = success" in out
    assert re.search(r"scans/\d{12}/us-east-2/orders-api/\d{8}T\d{6}Z/summary\.json", out)
    assert "SNS message: subject 'QScanner Results: orders-api'" in out
    assert re.search(r'DynamoDB cache entry: \{.*"status": "success"', out)


def test_demo_shows_cache_skip_then_rescan(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout

    assert "scan outcome: cache_hit" in out
    ids = re.search(r"scan ids: first (\S+), after the code change (\S+)", out)
    assert ids and ids.group(1) != ids.group(2)


def test_demo_leaves_no_emulator_listening(demo_run: subprocess.CompletedProcess[str]) -> None:
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(pid (\d+)\)", demo_run.stdout)
    assert match
    port, pid = int(match.group(1)), int(match.group(2))

    with socket.socket() as probe:
        probe.settimeout(0.5)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert "exists: False" in demo_run.stdout
