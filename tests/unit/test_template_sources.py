"""Generated files are rendered from cloudformation/src: committed and source agree, edits reach every model."""

from __future__ import annotations

import importlib.util
import shutil
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
TERRAFORM_GENERATED = {"generated.tf", "dashboard.json.tftpl"}
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


def test_generated_files_up_to_date(render: ModuleType, tmp_path: Path) -> None:
    # Every template and Terraform file render.py writes, written afresh, is the committed one.
    render.write(render.render_all(), tmp_path)
    generated = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}

    assert {p.name for p in generated if p.parent == Path("cloudformation")} == TEMPLATES
    assert {p.name for p in CLOUDFORMATION.glob("*.yaml")} == TEMPLATES
    assert {p.name for p in generated if p.parent == render.TERRAFORM_MODULE} == TERRAFORM_GENERATED
    stale = sorted(str(p) for p in generated if (tmp_path / p).read_text() != (ROOT / p).read_text())
    assert stale == [], "run `make templates` and commit what it writes"


def test_render_check_shows_diff_of_stale_template(render: ModuleType, tmp_path: Path) -> None:
    rendered = render.render_all()
    render.write(rendered, tmp_path)
    stackset = tmp_path / "cloudformation" / "stackset.yaml"
    stackset.write_text(stackset.read_text().replace("MaximumRetryAttempts: 4", "MaximumRetryAttempts: 3"))

    diffs = render.stale(rendered, tmp_path)

    assert len(diffs) == 1
    assert diffs[0].startswith("--- cloudformation/stackset.yaml (committed)")
    assert "-            MaximumRetryAttempts: 3\n" in diffs[0]


def test_shared_statement_added_once_reaches_every_model(render: ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CLOUDFORMATION / "src", src)
    fragment = src / "shared" / "scan-access-statements.yaml.j2"
    fragment.write_text(fragment.read_text() + NEW_STATEMENT)

    rendered = render.render_all(src)

    for name, role in SCAN_ACCESS_ROLES.items():
        text = rendered[Path("cloudformation", name)]
        template = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
        assert "ReadFunctionUrlConfigs" in sids(template, role), name
