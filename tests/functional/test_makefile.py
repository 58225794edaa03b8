"""The Makefile's deploy targets run as `make` subprocesses against the session's moto server.

Where moto needs it (AWS_ENDPOINT_URL set) the Makefile itself makes every stack parameter explicit
(local/stack_parameters.py says why) and detaches the inventory schedule's Lambda target (moto fails
put-events on it), so these deploys pass the same variables a user would. moto computes no stack
outputs for change-set deploys, so `make update-function` finds the function through the stack's
ScannerFunction resource.

`make deploy` is the slow part, so the tests that need a deployed stack share one: `deployed` deploys it
once for the module and again only when an earlier test deleted it or emptied the emulator. A test
that changes the shared stack changes only what no other test asserts on (new code under a key of its
own, the memory size); the tests that delete it come last and leave the next user to redeploy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from local.runtime import free_port
from tests.conftest import FAKE_CREDENTIALS, empty_emulator

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-2"
STACK = "qscanner-make"
MAKE_TOKEN = "make-test-token-7f3a9c-never-printed"
SEED_DETAIL = json.dumps({"functionName": "seed"})


def make(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`make <args>` in the repository, without a shell (a deploy onto moto on a busy machine takes minutes)."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stack_resource(logical_id: str) -> str:
    """The physical id of one of the stack's resources (moto's describe-stack-resource fails on some)."""
    summaries = boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName=STACK)
    (physical,) = [
        r["PhysicalResourceId"] for r in summaries["StackResourceSummaries"] if r["LogicalResourceId"] == logical_id
    ]
    return str(physical)


def stack_alive() -> bool:
    """Whether the module's stack exists on the emulator (not emptied, not deleted)."""
    try:
        (stack,) = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"]
    except ClientError:
        return False
    return not stack["StackStatus"].startswith("DELETE")


@pytest.fixture
def make_env(emulator_as_is: str) -> dict[str, str]:
    """An environment for make: the emulator, fake credentials, the token, the venv's aws CLI first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUALYS_"))}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": emulator_as_is,
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
        "QUALYS_POD=US2",
    ]


@pytest.fixture
def changed_source(tmp_path: Path) -> Iterator[Path]:
    """A copy of the handler source with one changed file: code no test deployed before, a new hash and
    S3 key (unique, so the shared stack never already runs it)."""
    source = tmp_path / "scanner-src"
    shutil.copytree(
        ROOT / "scanner-lambda", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "qscanner.gz")
    )
    with (source / "lambda_function.py").open("a") as handle:
        handle.write(f"# changed by test_makefile {uuid.uuid4().hex}\n")
    yield source


@pytest.fixture(scope="module")
def first_deploys() -> list[subprocess.CompletedProcess[str]]:
    """The `make deploy` runs that created the module's shared stack, latest last."""
    return []


@pytest.fixture
def deployed(
    first_deploys: list[subprocess.CompletedProcess[str]],
    make_env: dict[str, str],
    deploy_args: list[str],
    emulator_as_is: str,
) -> subprocess.CompletedProcess[str]:
    """The shared stack, made by `make deploy` on an emptied emulator (its run), unless it is still there."""
    if not first_deploys or not stack_alive():
        empty_emulator(emulator_as_is)
        first = make("deploy", *deploy_args, env=make_env)
        assert first.returncode == 0, first.stdout + first.stderr
        first_deploys.append(first)
    return first_deploys[-1]


# ---------------------------------------------------------------- prerequisites (no stack)


def test_deploy_without_token_fails_before_any_stack(
    make_env: dict[str, str], deploy_args: list[str], emulator: str
) -> None:
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


def test_deploy_with_nothing_set_reports_every_prerequisite_without_aws(tmp_path: Path) -> None:
    # A fresh clone: no AWS CLI on PATH, no region, no Qualys credential, no POD, no QScanner binary.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    result = make("deploy", f"BUILD={tmp_path / 'build'}", env=env)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, result.stderr
    for expected in (
        "AWS CLI",
        "AWS_REGION is not set",
        "QUALYS_ACCESS_TOKEN is not set",
        "QUALYS_POD is not set",
        "no QScanner binary",
    ):
        assert [line for line in errors if expected in line], expected
    assert not (tmp_path / "build").exists()  # stopped before the layer and the package


def test_deploy_against_closed_endpoint_says_unreachable_and_touches_nothing(
    make_env: dict[str, str], deploy_args: list[str], emulator: str
) -> None:
    closed = free_port()
    env = make_env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}"}
    env.pop("QUALYS_ACCESS_TOKEN")
    args = [a for a in deploy_args if not a.startswith(("QUALYS_POD=", "QSCANNER="))]

    result = make("deploy", *args, "QUALYS_POD=XX9", "QSCANNER=README.md", env=env)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert "unreachable" in errors[0] and f"127.0.0.1:{closed}" in errors[0] and "no AWS credentials" not in errors[0]
    assert "QUALYS_ACCESS_TOKEN is not set" in errors[1]
    assert "QUALYS_POD=XX9 is not a Qualys POD" in errors[2]
    assert "README.md is not a Linux executable" in errors[3]
    assert not boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]  # nothing reached moto


# ---------------------------------------------------------------- the shared stack: read, update in place


@pytest.mark.deploys
def test_deploy_twice_updates_in_place_and_never_prints_token(
    deployed: subprocess.CompletedProcess[str], make_env: dict[str, str], deploy_args: list[str], changed_source: Path
) -> None:
    cloudformation, lambda_client, secrets = (
        boto3.client("cloudformation", region_name=REGION),
        boto3.client("lambda", region_name=REGION),
        boto3.client("secretsmanager", region_name=REGION),
    )

    first = deployed
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


@pytest.mark.deploys
def test_update_function_changes_code(
    deployed: subprocess.CompletedProcess[str], make_env: dict[str, str], deploy_args: list[str], changed_source: Path
) -> None:
    lambda_client = boto3.client("lambda", region_name=REGION)
    before = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")["CodeSha256"]

    updated = make("update-function", *deploy_args, f"SCANNER_SRC={changed_source}", env=make_env)

    assert updated.returncode == 0, updated.stdout + updated.stderr
    after = lambda_client.get_function_configuration(FunctionName=f"{STACK}-scanner")["CodeSha256"]
    assert after != before
    assert f"updated {STACK}-scanner" in updated.stdout


@pytest.mark.deploys
def test_second_deploy_changing_a_parameter_updates_in_place_and_manual_scan_queues_once(
    deployed: subprocess.CompletedProcess[str], make_env: dict[str, str], deploy_args: list[str]
) -> None:
    second = make("deploy", *deploy_args, "PARAMETERS=ScannerMemorySize=3008", env=make_env)

    assert second.returncode == 0, second.stdout + second.stderr
    function = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=f"{STACK}-scanner")
    assert function["MemorySize"] == 3008
    events = subprocess.run(
        [
            str(VENV_BIN / "aws"),
            "events",
            "put-events",
            "--region",
            REGION,
            "--entries",
            json.dumps([{"Source": "qualys-lambda.manual", "DetailType": "Scan Request", "Detail": SEED_DETAIL}]),
        ],
        env=make_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert events.returncode == 0, events.stderr
    queue = stack_resource("ScanQueue")
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:  # the shared stack's queue left empty for the next test
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert [json.loads(m["Body"])["detail"]["functionName"] for m in messages] == ["seed"]


# ---------------------------------------------------------------- the shared stack deleted (the next user redeploys)


@pytest.mark.deploys
def test_delete_removes_stack_and_keeps_secret_and_artifacts(
    deployed: subprocess.CompletedProcess[str], make_env: dict[str, str], deploy_args: list[str]
) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)

    deleted = make("delete", *deploy_args, env=make_env)

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    live = [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in live)
    assert "secret" in deleted.stdout and "artifacts" in deleted.stdout


@pytest.mark.deploys
def test_delete_with_purge_removes_secret_buckets_and_layer_versions(
    deployed: subprocess.CompletedProcess[str], make_env: dict[str, str], deploy_args: list[str]
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    results = stack_resource("ResultsBucket")
    s3.put_bucket_versioning(Bucket=results, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=results, Key="scans/x/summary.json", Body=body)
    s3.delete_object(Bucket=results, Key="scans/x/summary.json")

    deleted = make("delete", *deploy_args, "PURGE=1", env=make_env)

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    announced = deleted.stdout[: deleted.stdout.index("==> deleting stack")]
    assert results in announced and f"secret {STACK}/qualys" in announced and f"{STACK}-qscanner" in announced
    assert not s3.list_buckets()["Buckets"]
    assert not boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    layers = boto3.client("lambda", region_name=REGION).list_layer_versions(LayerName=f"{STACK}-qscanner")
    assert not layers["LayerVersions"]


# ---------------------------------------------------------------- stacks of their own, on an emptied emulator


@pytest.mark.deploys
def test_delete_spoke_with_purge_removes_its_trail_bucket(
    make_env: dict[str, str], deploy_args: list[str], emulator: str
) -> None:
    env = make_env | {"EXTERNAL_ID": "make-test-external-id-0123"}
    hub = [
        f"HUB_BUS_ARN=arn:aws:events:{REGION}:123456789012:event-bus/hub",
        "HUB_ROLE_ARN=arn:aws:iam::123456789012:role/hub-scanner",
        "SPOKE_CREATE_TRAIL=true",
    ]
    deployed = make("deploy-spoke", *deploy_args, *hub, env=env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    s3 = boto3.client("s3", region_name=REGION)
    (trail_bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]

    deleted = make("delete-spoke", *deploy_args, "PURGE=1", env=env)

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"bucket {trail_bucket}" in deleted.stdout[: deleted.stdout.index("==> deleting stack")]
    assert not s3.list_buckets()["Buckets"]
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackName"] == f"{STACK}-spoke"] == ["DELETE_COMPLETE"]


@pytest.mark.deploys
def test_delete_stackset_with_purge_removes_stackset_and_shared_artifacts(
    make_env: dict[str, str], deploy_args: list[str], emulator: str
) -> None:
    organizations = boto3.client("organizations", region_name=REGION)
    org = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    targets = [f"ORG_ID={org}", f"OU_IDS={ou}", f"REGIONS={REGION}"]
    deployed = make("deploy-stackset", *deploy_args, *targets, env=make_env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    deleted = make("delete-stackset", *deploy_args, *targets, "PURGE=1", env=make_env)

    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"secret {STACK}/qualys-org" in deleted.stdout[: deleted.stdout.index("==> deleting the instances")]
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    assert [s["Status"] for s in cloudformation.list_stack_sets()["Summaries"]] == ["DELETED"]
    assert not boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
    assert not boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    kms = boto3.client("kms", region_name=REGION)
    keys = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    assert [k["KeyState"] for k in keys if k["KeyManager"] == "CUSTOMER"] == ["PendingDeletion"]
    layers = boto3.client("lambda", region_name=REGION).list_layer_versions(LayerName=f"{STACK}-qscanner")
    assert not layers["LayerVersions"]
