"""cloudformation/*.yaml are rendered from cloudformation/src: committed and source agree, edits reach every model."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support import CloudFormationLoader

ROOT = Path(__file__).resolve().parents[2]
CLOUDFORMATION = ROOT / "cloudformation"
RENDER = CLOUDFORMATION / "render.py"
TEMPLATES = {"single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml", "centralized-spoke.yaml"}
# Models whose scanner (or spoke) role grants the scan-and-tag access of shared/scan-access-statements.
SCAN_ACCESS_ROLES = {
    "single-account-native.yaml": "ScannerRole",
    "stackset.yaml": "ScannerRole",
    "centralized-hub.yaml": "ScannerRole",
    "centralized-spoke.yaml": "SpokeRole",
}
NEW_STATEMENT = """\
              - Sid: ReadFunctionUrlConfigs
                Effect: Allow
                Action: lambda:GetFunctionUrlConfig
                Resource: !Sub "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*"
"""


@pytest.fixture(scope="module")
def render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render", RENDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sids(template: dict[str, Any], role: str) -> list[str]:
    statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return [(s["Fn::If"][1] if "Fn::If" in s else s)["Sid"] for s in statements]


def test_render_check_passes_on_committed_templates() -> None:
    result = subprocess.run([sys.executable, str(RENDER), "--check"], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_render_sources_cover_every_committed_template(render: ModuleType) -> None:
    assert set(render.render_all()) == TEMPLATES == {p.name for p in CLOUDFORMATION.glob("*.yaml")}


def test_render_check_shows_diff_of_stale_template(render: ModuleType, tmp_path: Path) -> None:
    for name in TEMPLATES:
        shutil.copy(CLOUDFORMATION / name, tmp_path / name)
    stale_text = (tmp_path / "stackset.yaml").read_text().replace("MaximumRetryAttempts: 4", "MaximumRetryAttempts: 3")
    (tmp_path / "stackset.yaml").write_text(stale_text)

    diffs = render.stale(render.render_all(), tmp_path)

    assert len(diffs) == 1
    assert diffs[0].startswith("--- stackset.yaml (committed)")
    assert "-            MaximumRetryAttempts: 3\n" in diffs[0]


def test_shared_statement_added_once_reaches_every_model(render: ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CLOUDFORMATION / "src", src)
    fragment = src / "shared" / "scan-access-statements.yaml.j2"
    fragment.write_text(fragment.read_text() + NEW_STATEMENT)

    rendered = render.render_all(src)

    for name, role in SCAN_ACCESS_ROLES.items():
        template = yaml.load(rendered[name], Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
        assert "ReadFunctionUrlConfigs" in sids(template, role), name
