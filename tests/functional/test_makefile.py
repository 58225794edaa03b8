"""The Makefile's deploy targets run as `make` subprocesses against the session's moto server.

moto 5.2.1 limits what an in-place update through `aws cloudformation deploy` (change sets) can do:
an UPDATE change set marks every resource that references a parameter left at its default (sent as
UsePreviousValue) as modified, including resources whose condition is false, and then fails on them
(HTTP 500: AttributeError in moto's S3 bucket update for the never-created TrailBucket). The deploys
here therefore pass the two such parameters (ResultsRetentionDays, NotificationEmail) explicitly;
real CloudFormation needs no such thing. moto also computes no stack outputs for change-set deploys,
so `make update-function` finds the function through the stack's ScannerFunction resource.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import FAKE_CREDENTIALS

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-2"
STACK = "qscanner-make"
MAKE_TOKEN = "make-test-token-7f3a9c-never-printed"
MOTO_PARAMETERS = "ResultsRetentionDays=365 NotificationEmail="


def make(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`make <args>` in the repository, without a shell."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def make_env(emulator: str, tmp_path: Path) -> dict[str, str]:
    """An environment for make: the emulator, fake credentials, the token, the venv's aws CLI first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUALYS_"))}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": emulator,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "QUALYS_ACCESS_TOKEN": MAKE_TOKEN,
            "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
        }
    )
    return env


@pytest.fixture
def deploy_args(tmp_path: Path) -> list[str]:
    """The variables every deploy here passes."""
    return [
        f"AWS_REGION={REGION}",
        f"STACK_NAME={STACK}",
        "QSCANNER=local/qscanner",
        f"AWS={VENV_BIN / 'aws'}",
        f"BUILD={tmp_path / 'build'}",
        f"PARAMETERS={MOTO_PARAMETERS}",
    ]


@pytest.fixture
def changed_source(tmp_path: Path) -> Iterator[Path]:
    """A copy of the handler source with one changed file: new code, new hash, new S3 key."""
    source = tmp_path / "scanner-src"
    shutil.copytree(
        ROOT / "scanner-lambda", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "qscanner.gz")
    )
    with (source / "lambda_function.py").open("a") as handle:
        handle.write("# changed by test_makefile\n")
    yield source


def test_deploy_twice_updates_in_place_and_never_prints_token(
    make_env: dict[str, str], deploy_args: list[str], changed_source: Path
) -> None:
    cloudformation, lambda_client, secrets = (
        boto3.client("cloudformation", region_name=REGION),
        boto3.client("lambda", region_name=REGION),
        boto3.client("secretsmanager", region_name=REGION),
    )

    first = make("deploy", *deploy_args, env=make_env)
    assert first.returncode == 0, first.stdout + first.stderr
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    function = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")
    second = make("deploy", *deploy_args, f"SCANNER_SRC={changed_source}", env=make_env)

    assert second.returncode == 0, second.stdout + second.stderr
    (updated,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert updated["StackId"] == stack["StackId"]
    assert updated["StackStatus"] in ("UPDATE_COMPLETE", "CREATE_COMPLETE")
    after = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")
    assert after["CodeSha256"] != function["CodeSha256"]
    variables = after["Environment"]["Variables"]
    secret_arn = variables["QUALYS_SECRET_ARN"]
    assert secret_arn.startswith(f"arn:aws:secretsmanager:{REGION}:")
    assert variables["QSCANNER_PATH"] == "/opt/bin/qscanner"
    assert variables["RESULTS_S3_BUCKET"] and variables["SCAN_CACHE_TABLE"] and variables["SNS_TOPIC_ARN"]
    secret = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    assert secret == {"qualys_pod": "US2", "qualys_access_token": MAKE_TOKEN}
    for run in (first, second):
        assert MAKE_TOKEN not in run.stdout + run.stderr
    assert "layer qscanner-make-qscanner" in first.stdout and "unchanged" in second.stdout


def test_update_function_changes_code_and_delete_removes_stack(
    make_env: dict[str, str], deploy_args: list[str], changed_source: Path
) -> None:
    lambda_client = boto3.client("lambda", region_name=REGION)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    deployed = make("deploy", *deploy_args, env=make_env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    before = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")["CodeSha256"]

    updated = make("update-function", *deploy_args, f"SCANNER_SRC={changed_source}", env=make_env)

    assert updated.returncode == 0, updated.stdout + updated.stderr
    after = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")["CodeSha256"]
    assert after != before
    assert f"updated {STACK}-scanner" in updated.stdout

    deleted = make("delete", *deploy_args, env=make_env)

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    live = [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in live)
    assert "secret" in deleted.stdout and "artifacts" in deleted.stdout


def test_deploy_without_token_fails_before_any_stack(make_env: dict[str, str], deploy_args: list[str]) -> None:
    env = {k: v for k, v in make_env.items() if k != "QUALYS_ACCESS_TOKEN"}

    result = make("deploy", *deploy_args, env=env)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no Qualys credentials" in errors[0]
    assert "QUALYS_CLIENT_ID and QUALYS_CLIENT_SECRET" in errors[0] and "QUALYS_ACCESS_TOKEN" in errors[0]
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"] == STACK]


@pytest.mark.parametrize("variable", ["QUALYS_ACCESS_TOKEN", "QUALYS_CLIENT_SECRET", "QUALYS_CLIENT_ID"])
def test_credentials_on_make_command_line_refused(
    make_env: dict[str, str], deploy_args: list[str], variable: str
) -> None:
    result = make("deploy", *deploy_args, f"{variable}=on-the-command-line", env=make_env)

    assert result.returncode != 0
    assert f"{variable} must come from the environment" in result.stderr


def test_layer_without_binary_says_where_to_get_qscanner(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "")}

    result = make("layer", "QSCANNER=/nonexistent", f"BUILD={tmp_path / 'build'}", env=env)

    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Qualys portal" in line and "QSCANNER=path" in line and "/nonexistent" in line


def test_clean_without_aws_environment_removes_build(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / "nested").mkdir(parents=True)
    (build / "nested" / "file.zip").write_bytes(b"zip")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}

    result = make("clean", f"BUILD={build}", env=env)

    assert result.returncode == 0, result.stderr
    assert not build.exists()
