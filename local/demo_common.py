"""What the demo's chapters share: the story's names, its checks and how it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-2"
SAMPLE_FUNCTION = "orders-api"
LEGACY_FUNCTION = "legacy-report"
# The sample functions' code: orders-api pins requests 2.19.1 and plants a (fake) key; legacy-report pyyaml.
FUNCTIONS = Path(__file__).with_name("demo-functions")
SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


class DemoError(Exception):
    """A step of the demo could not run."""


def sample(name: str) -> dict[str, str]:
    """A sample function's files (path -> text)."""
    return {p.name: p.read_text() for p in sorted((FUNCTIONS / name).iterdir()) if p.is_file()}


@dataclass
class Checks:
    """Expected effects, each recorded as passed or failed with the values it looked at."""

    results: list[dict[str, Any]] = field(default_factory=list)

    def check(self, name: str, ok: bool, label: str, **values: Any) -> bool:
        self.results.append({"name": name, "label": label, "ok": bool(ok), "values": values})
        print(f"  [{'ok' if ok else 'MISSING'}] {label}")
        return ok


def section(title: str) -> None:
    print(f"\n===== {title} " + "=" * max(0, 72 - len(title)), flush=True)


def note(text: str) -> None:
    print(f"note: {text}")  # where the emulator falls short of AWS, what the platform does instead


def print_findings(views: list[dict[str, Any]]) -> None:
    for v in sorted(views, key=lambda v: (SEVERITY_ORDER.index(v["severity"]), v["title"])):
        print(f"  {v['severity']:<8} {v['state']:<8} {v['workflow']:<10} {v['title']}")
        if v["cve"]:
            qid = v["product_fields"].get("qualys-lambda/Qid", "?")
            print(f"{'':20}{v['cve']} (QID {qid}); package {v['package']}, fixed in {v['fixed_in']}")
        print(f"{'':20}resource {', '.join(v['resources'])}")
