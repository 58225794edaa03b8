"""`make suppressions FILE=...` against the session's moto server: validate the whole file, then upload it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from tests.functional.test_makefile import REGION, VENV_BIN, make
from tests.functional.test_makefile import make_env as make_env  # the fixture, used through `env` below

pytestmark = pytest.mark.server

BUCKET = "qualys-suppressions-test"
KEY = "suppressions/suppressions.json"
STACK = "qscanner-suppressions"


@pytest.fixture
def env(emulator: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """test_makefile's environment for make on an emptied moto server (its make_env leaves the server as is)."""
    value: dict[str, str] = request.getfixturevalue("make_env")
    return value


def _rule(rule_id: str, **fields: str) -> dict[str, str]:
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    return {"id": rule_id, "cve": "CVE-2020-14343", "reason": "build-time only", "expires": expires, **fields}


def _write(tmp_path: Path, *rules: dict[str, str]) -> Path:
    path = tmp_path / "suppressions.json"
    path.write_text(json.dumps({"suppressions": list(rules)}))
    return path


def _create_bucket() -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def _keys(bucket: str) -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def _args(path: Path, *extra: str) -> list[str]:
    return ["suppressions", f"FILE={path}", f"AWS_REGION={REGION}", f"AWS={VENV_BIN / 'aws'}", *extra]


def test_make_suppressions_bad_file_exit_nonzero_one_line_per_bad_rule_nothing_uploaded(
    env: dict[str, str], tmp_path: Path
) -> None:
    _create_bucket()
    path = _write(tmp_path, _rule("good"), _rule("no-reason", reason=""), _rule("bad-cve", cve="log4shell"))

    run = make(*_args(path, f"SUPPRESSIONS_BUCKET={BUCKET}"), env=env)

    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith(str(path))]
    assert errors == [
        f"{path}: rule 2 (no-reason): reason is required (1-1024 characters)",
        f"{path}: rule 3 (bad-cve): cve must look like CVE-2024-12345",
    ]
    assert _keys(BUCKET) == []


def test_make_suppressions_good_file_uploaded_to_given_bucket(env: dict[str, str], tmp_path: Path) -> None:
    _create_bucket()
    path = _write(tmp_path, _rule("good", vex_justification="vulnerable_code_not_in_execute_path"))

    run = make(*_args(path, f"SUPPRESSIONS_BUCKET={BUCKET}"), env=env)

    assert run.returncode == 0, run.stdout + run.stderr
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    assert json.loads(body) == json.loads(path.read_text())
    assert f"SuppressionsUri=s3://{BUCKET}/{KEY}" in run.stdout.splitlines()


def test_make_suppressions_defaults_to_stack_results_bucket(env: dict[str, str], tmp_path: Path) -> None:
    # A stack with just the results bucket's logical id stands in for a deployed scanner stack.
    template = {"Resources": {"ResultsBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    path = _write(tmp_path, _rule("good"))

    run = make(*_args(path, f"STACK_NAME={STACK}"), env=env)

    assert run.returncode == 0, run.stdout + run.stderr
    assert _keys(BUCKET) == [KEY]
    assert f"SuppressionsUri=s3://{BUCKET}/{KEY}" in run.stdout.splitlines()


def test_make_suppressions_without_file_says_what_is_missing(env: dict[str, str]) -> None:
    run = make("suppressions", f"AWS_REGION={REGION}", env=env)

    assert run.returncode != 0
    assert "error: FILE=path/to/suppressions.json is required" in run.stderr
