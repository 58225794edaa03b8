"""The handler zip `make package` builds holds exactly what the deployed handler and the operator CLI import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from local.build import main

SOURCE = Path(__file__).parents[2] / "scanner-lambda"
# Imports both entry points from `root` alone and prints the files of `root` that Python loaded.
LOADED_FILES = """
import json, sys
root = sys.argv[1]
sys.path.insert(0, root)
import lambda_function, qualys_lambda.cli
files = {m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").startswith(root)}
print(json.dumps(sorted(f[len(root) + 1 :] for f in files)))
"""


def package(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """`build.py package` of `source`: the zip's names (the S3 key printed is the content hash's)."""
    output = tmp_path / "scanner.zip"
    assert main(["package", "--source", str(source), "--output", str(output)], {}) == 0
    assert capsys.readouterr().out.startswith("scanner-lambda/")
    return zipfile.ZipFile(output).namelist()


def loaded_files(root: Path) -> list[str]:
    """The files under `root` that importing lambda_function and qualys_lambda.cli loads, in a fresh Python."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED_FILES, str(root)], capture_output=True, text=True, check=True, cwd=root
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_zip_is_the_import_closure_and_runs_on_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = package(SOURCE, tmp_path, capsys)
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(tmp_path / "scanner.zip").extractall(unpacked)

    # Everything the unpacked zip's entry points import is in it, and nothing else is.
    assert loaded_files(unpacked) == names
    assert "lambda_function.py" in names and "qualys_lambda/cli.py" in names
    # The IAM table is the tests' data (tests/permissions.py); no module of the package imports it.
    assert not (SOURCE / "qualys_lambda" / "permissions.py").exists()
    assert not [name for name in names if "permissions" in name or "__pycache__" in name]


def test_module_nothing_imports_stays_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "qscanner.gz"))
    (source / "qualys_lambda" / "only_for_tests.py").write_text("TABLE = {}\n")

    names = package(source, tmp_path, capsys)

    assert "qualys_lambda/only_for_tests.py" not in names
    assert names == loaded_files(source)


def test_missing_entry_point_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "qualys_lambda").mkdir()
    (tmp_path / "qualys_lambda" / "cli.py").write_text("")
    assert main(["package", "--source", str(tmp_path), "--output", str(tmp_path / "out.zip")], {}) == 2
    assert "lambda_function.py is missing" in capsys.readouterr().err
    assert not (tmp_path / "out.zip").exists()
