"""Every AWS command block the README marks `<!-- readme-check -->` runs, verbatim, against the emulator.

The stack is deployed with the real `make deploy` onto the session's moto server. Between creating the
seed function and reading its results, the test plays the part of CloudTrail and Lambda (which moto
does not run): it scans the seed with the deployed scanner's own settings and the simulated QScanner.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from local.emulator import store_function_code
from qualys_lambda.aws import AwsAccess
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.handler import handle
from qualys_lambda.qscanner import run_subprocess
from qualys_lambda.scanner import Scanner
from tests.conftest import FAKE_CREDENTIALS
from tests.support import FakeContext, event_for

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SEED = "qscanner-seed"
BLOCK = re.compile(r"<!-- readme-check -->\n```bash\n(.*?)```", re.DOTALL)


def readme_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def run(block: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scan_seed(stack_env: dict[str, str]) -> None:
    """What CloudTrail, EventBridge and Lambda would do after create-function: scan the seed."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    seed_zip = Path(stack_env["SEED_ZIP"]).read_bytes()
    store_function_code(lambda_client, boto3.client("s3", region_name=REGION), SEED, seed_zip)
    configuration = lambda_client.get_function_configuration(FunctionName=stack_env["SCANNER_FUNCTION"])
    variables = {
        **configuration["Environment"]["Variables"],
        **{k: os.environ[k] for k in ("PATH", "AWS_ENDPOINT_URL")},
    }
    variables["QSCANNER_PATH"] = str(ROOT / "local" / "qscanner")
    settings = Settings.from_env(variables)
    secrets = SecretReader(boto3.client("secretsmanager", region_name=REGION), settings.qualys_secret_arn)
    scanner = Scanner(
        settings,
        AwsAccess(ACCOUNT, home_region=REGION),
        secrets,
        run_subprocess,
        configuration["FunctionArn"],
        stack_env["WORK"],
        metrics=lambda values: None,
    )
    assert handle(event_for(SEED), FakeContext(), scanner)["status"] == "success"


def test_readme_aws_commands_run_against_emulator(
    emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALYS_")}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": emulator,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "QUALYS_ACCESS_TOKEN": "readme-test-token-0123456789abcdef",
            "TMPDIR": str(tmp_path),
        }
    )
    deployed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "deploy",
            f"AWS_REGION={REGION}",
            "QSCANNER=local/qscanner",
            f"AWS={VENV_BIN / 'aws'}",
            f"BUILD={tmp_path / 'build'}",
            "QUALYS_POD=US2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    exports = run("make -s stack-env AWS_REGION=$AWS_REGION", env).stdout
    stack_env = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines())
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="seed-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sqs = boto3.client("sqs", region_name=REGION)
    critical = sqs.create_queue(QueueName="critical-scans")["QueueUrl"]
    critical_arn = sqs.get_queue_attributes(QueueUrl=critical, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # A reader's shell keeps what the first block sets; each block here gets the same variables.
    env.update(stack_env | {"ACCOUNT_ID": ACCOUNT, "ROLE_ARN": role, "CRITICAL_QUEUE_ARN": critical_arn})
    stack_env["WORK"] = str(tmp_path / "work")

    blocks = readme_blocks()
    assert len(blocks) == 9
    outputs = []
    for index, block in enumerate(blocks):
        result = run(block, env)
        assert result.returncode == 0, f"README block {index + 1} failed:\n{block}\n{result.stderr}"
        outputs.append(result.stdout)
        if SEED in block and "create-function" in block:
            (zip_path,) = list(tmp_path.glob("tmp*/seed.zip"))
            scan_seed(stack_env | {"SEED_ZIP": str(zip_path)})

    assert stack_env["SCANNER_FUNCTION"] in outputs[0] and ACCOUNT in outputs[0]
    tags = json.loads(
        outputs[2].split("\n", 1)[0]
        if outputs[2].startswith("{\n") is False
        else outputs[2][: outputs[2].index("}") + 1]
    )
    assert tags["QualysScanStatus"] == "success"
    assert "summary.json" in outputs[2] and "-Report.sarif.json" in outputs[2]
    queued = sqs.receive_message(QueueUrl=stack_env["SCAN_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["functionName"] for m in queued] == [SEED]  # the manual scan request
    assert outputs[7].split() and all(k.endswith(("spdx.json", "cdx.json")) for k in outputs[7].split())
    cache = boto3.client("dynamodb", region_name=REGION)
    key = {"function_arn": {"S": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{SEED}"}}
    assert "Item" not in cache.get_item(TableName=stack_env["CACHE_TABLE"], Key=key)  # deleted by the last block
