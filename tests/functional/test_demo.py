"""`make demo` end to end: its own emulator, the real `make deploy`, the scanner's story, nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK_LINE = re.compile(r"^  \[(ok|MISSING)\] ")


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
    assert re.search(r"scans/\d{12}/us-east-2/orders-api/\d{8}T\d{6}Z-[0-9a-f-]{36}/summary\.json", out)
    assert "SNS message: subject 'QScanner Results: orders-api'" in out
    assert re.search(r'DynamoDB cache entry: \{.*"status": "success"', out)


def test_demo_shows_cache_skip_then_rescan(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout

    assert "scan outcome: cache_hit" in out
    ids = re.search(r"scan ids: first (\S+), after the code change (\S+)", out)
    assert ids and ids.group(1) != ids.group(2)


def blocks(out: str, heading: str) -> list[list[str]]:
    """The indented lines printed right after each line that equals `heading` (up to the next check line)."""
    lines = out.splitlines()
    found = []
    for start in [i + 1 for i, line in enumerate(lines) if line == heading]:
        end = start
        while end < len(lines) and lines[end].startswith("  ") and not CHECK_LINE.match(lines[end]):
            end += 1
        found.append(lines[start:end])
    return found


def block(out: str, heading: str) -> list[str]:
    """The indented lines printed right after the one line `heading`."""
    (found,) = blocks(out, heading)
    return found


def coverage_tables(out: str) -> list[dict[str, str]]:
    """Each coverage table the demo printed, as {function: reason code}."""
    command = next(line for line in out.splitlines() if line.startswith("$ python -m qualys_lambda.cli coverage"))
    tables = []
    for rows in blocks(out, command):
        assert rows[0].split()[:4] == ["FUNCTION", "ACCOUNT", "REGION", "REASON"]
        tables.append({cells[0]: cells[3] for cells in (row.split() for row in rows[1:]) if len(cells) > 3})
    return tables


def test_demo_lists_security_hub_findings_with_severities(demo_run: subprocess.CompletedProcess[str]) -> None:
    findings = "\n".join(block(demo_run.stdout, "Security Hub findings for orders-api (get_findings):"))

    assert re.search(r"^  HIGH +ACTIVE +\[SIMULATED\] requests ", findings, re.M)
    assert re.search(r"^ +CVE-2018-18074 \(QID 900001\); package requests 2\.19\.1, fixed in 2\.20\.0$", findings, re.M)
    assert re.search(r"^  CRITICAL +ACTIVE +Secret in Lambda code: AWS Access Key ID$", findings, re.M)
    assert re.search(r"^ +resource arn:aws:lambda:us-east-2:\d{12}:function:orders-api$", findings, re.M)


def test_demo_archives_the_fixed_finding_after_the_rescan(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout
    active = "\n".join(block(out, "Security Hub findings for orders-api after the rescan, ACTIVE:"))
    archived = "\n".join(block(out, "Security Hub findings for orders-api after the rescan, ARCHIVED:"))

    assert "requirements.txt: requests==2.19.1 -> requests==2.32.3" in out
    assert re.search(r"^  HIGH +ARCHIVED +\[SIMULATED\] requests ", archived, re.M)
    assert "CVE-2018-18074" not in active
    assert re.search(r"^  CRITICAL +ACTIVE +Secret in Lambda code", active, re.M)


def test_demo_lists_sbom_keys_among_the_results(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout
    sboms = dict(line.split() for line in block(out, "SBOMs (summary.json `sbom`):"))
    stored = {line.strip() for line in block(out, next(x for x in out.splitlines() if x.startswith("S3 results in")))}

    assert sorted(sboms) == ["cyclonedx", "spdx"]
    # The simulator's CycloneDX name differs from the SPDX pattern: the scanner finds it by content.
    assert sboms["spdx"].endswith(".spdx.json") and sboms["cyclonedx"].endswith("-CycloneDX.json")
    assert set(sboms.values()) <= stored


def test_demo_shows_the_scan_completed_event_on_a_rule(demo_run: subprocess.CompletedProcess[str]) -> None:
    assert (
        "scan event via rule demo-scan-completed: detail-type 'Lambda Scan Completed', source qualys-lambda, "
        "function orders-api, max_severity critical"
    ) in demo_run.stdout.splitlines()


def test_demo_coverage_reports_scanned_pending_and_excluded(demo_run: subprocess.CompletedProcess[str]) -> None:
    before = coverage_tables(demo_run.stdout)[0]

    assert before["orders-api"] == "SCANNED"
    assert before["legacy-report"] == "PENDING"
    assert before["payments-sandbox"] == "EXCLUDED_BY_TAG"


def test_demo_inventory_enqueues_the_pending_function_then_it_is_scanned(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    out = demo_run.stdout
    tables = coverage_tables(out)

    assert "  qualys-lambda.inventory / Scan Request: legacy-report (force=false)" in out.splitlines()
    assert "Scan Request: orders-api" not in out and "Scan Request: payments-sandbox" not in out
    assert len(tables) == 2
    assert tables[1]["legacy-report"] == "SCANNED"
    assert tables[1]["orders-api"] == "SCANNED"
    assert tables[1]["payments-sandbox"] == "EXCLUDED_BY_TAG"


def test_demo_leaves_no_emulator_listening(demo_run: subprocess.CompletedProcess[str]) -> None:
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(pid (\d+)\)", demo_run.stdout)
    assert match
    port, pid = int(match.group(1)), int(match.group(2))

    with socket.socket() as probe:
        probe.settimeout(0.5)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert "exists: False" in demo_run.stdout
