"""The command blocks of the README and of its guides under docs/: those marked `<!-- readme-check -->`
run as written, in order (the README's, then the guides' in DOCUMENTS order), in one fresh bash session
against the emulator; every other block is listed here with the reason it needs real AWS (or is run by
another test), as the README says. The Terraform guide's marked blocks (build, init, plan) run in a
fresh session of their own, in a copy of the repository (a fresh clone), with terraform and the AWS
provider of TF_PLUGIN_DIR or the CLI configuration; without them that test is skipped with the reason.

The session starts with what a new user has: PATH (the venv's aws CLI), fake credentials, the
emulator's endpoint, and two stand-ins the README names: `QSCANNER=local/qscanner` (the simulated
QScanner instead of the licensed binary) and, between the seed's creation and the reading of its
results, the test itself playing CloudTrail, EventBridge and Lambda (which moto does not run): it
scans the seed with the deployed scanner's own settings and the simulated QScanner. The client id
and secret the deploy block reads are typed into the session, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from local.emulator import store_function_code
from local.runtime import free_port
from qualys_lambda.aws import AwsAccess
from qualys_lambda.config import Settings
from qualys_lambda.handler import handle
from qualys_lambda.qscanner import run_subprocess
from tests.functional.test_terraform_apply import PLUGIN_DIR, TERRAFORM, init_flags
from tests.support import event_for, lambda_context, make_deps

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-2"  # the README's deploy block exports it
ACCOUNT = "123456789012"
SEED = "qscanner-seed"
TOKEN = "readme-test-token-0123456789abcdef"
CLIENT_ID = "readme-test-client"
CLIENT_SECRET = "readme-test-client-secret-0123456789"
DONE = "__README_BLOCK_DONE__"
CHECK_MARK = "<!-- readme-check -->"
# The README, then its guides, in the order a reader runs their blocks: the operations guide's cache and
# uninstall blocks use the shell the README's deploy and test blocks set up.
DOCUMENTS = (
    "README.md",
    "docs/deploying.md",
    "docs/qscanner.md",
    "docs/operations.md",
    "docs/multi-account.md",
    "docs/terraform.md",
    "docs/security.md",
)
FENCE = re.compile(r"^( *)```(bash|sh)\n(.*?)^\1```", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
# Run in a session of its own, in a copy of the repository: terraform writes its files beside the example.
TERRAFORM_GUIDE = "docs/terraform.md"
# What a fresh clone needs for the Terraform guide's steps (make layer package, the example and its module).
CLONED = ("Makefile", "mk", "local", "scanner-lambda", "terraform")
# The blocks not run here, by the heading they sit under, and why.
NOT_RUN = {
    "Deploy (single account)": "the access-token alternative to the client-pair block run before it",
    "qualys-lambda": "make demo and make test: tests/functional/test_demo.py runs the demo; make test is this suite",
    "From an empty organisation to a first tagged function": "an AWS organisation with several accounts",
    "Model 2: centralized hub and spokes": "a manual scan of a function in a spoke account",
    # The Terraform guide's steps after the plan: tests/functional/test_terraform_apply.py runs them on the
    # emulator (apply, a second plan, the secret's value, a scan, destroy) per example.
    "2. Deploy": "Terraform apply: run by test_terraform_apply.py (with its variables, in a copy of terraform/)",
    "3. Set the Qualys secret (the credentials never enter the state)": "Terraform: reads terraform output",
    "4. Check it": "Terraform: reads terraform output",
    "Several regions": "Terraform: run by test_terraform_apply.py",
    "Multi-account models": "Terraform: an organisation or several accounts; run by test_terraform_apply.py",
}

pytestmark = pytest.mark.server


def readme_blocks(documents: tuple[str, ...] = DOCUMENTS) -> list[tuple[str, bool, str]]:
    """(heading, marked readme-check, text) of every bash/sh block of `documents`, in order."""
    blocks = []
    for document in documents:
        text = (ROOT / document).read_text()
        for match in FENCE.finditer(text):
            headings = HEADING.findall(FENCE.sub("", text[: match.start()]))  # not a block's `# comment`
            marked = text[: match.start()].rstrip().endswith(CHECK_MARK)
            blocks.append((headings[-1] if headings else "", marked, match.group(3)))
    return blocks


class Session:
    """One bash process fed a block at a time, like a reader pasting blocks into a terminal."""

    def __init__(self, env: dict[str, str], stderr: Path, cwd: Path = ROOT) -> None:
        self.stderr_path = stderr
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-s"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr.open("w"),
            text=True,
        )
        self.send("set -euo pipefail\n")

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, block: str) -> str:
        """Run `block`; its stdout. The token follows the `read -rs` line, as a user would type it."""
        lines = []
        for line in block.splitlines():
            lines.append(line)
            if line.startswith("read -rs QUALYS_ACCESS_TOKEN"):
                lines.append(TOKEN)
            elif line.startswith("read -r QUALYS_CLIENT_ID"):
                lines += [CLIENT_ID, CLIENT_SECRET]
        self.send("\n".join(lines) + f"\necho {DONE}\n")
        assert self.process.stdout is not None
        output = []
        while (line := self.process.stdout.readline()) and line.rstrip("\n") != DONE:
            output.append(line)
        assert line, f"README block failed:\n{block}\n{self.stderr_path.read_text()[-3000:]}"
        return "".join(output)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def scan_seed(seed_zip: Path, work: Path) -> None:
    """What CloudTrail, EventBridge and Lambda would do after create-function: scan the seed."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    store_function_code(lambda_client, boto3.client("s3", region_name=REGION), SEED, seed_zip.read_bytes())
    (scanner_name,) = [
        f["FunctionName"] for f in lambda_client.list_functions()["Functions"] if f["FunctionName"] != SEED
    ]
    configuration = lambda_client.get_function_configuration(FunctionName=scanner_name)
    variables = {
        **configuration["Environment"]["Variables"],
        **{k: os.environ[k] for k in ("PATH", "AWS_ENDPOINT_URL")},
        "QSCANNER_PATH": str(ROOT / "local" / "qscanner"),
    }
    scanner = make_deps(
        Settings.from_env(variables),
        run_subprocess,
        work,
        access=AwsAccess(ACCOUNT, home_region=REGION),
        own_function_arn=configuration["FunctionArn"],
        region=REGION,
        metrics=lambda values: None,
    )
    event = event_for(SEED)
    event["region"] = event["detail"]["awsRegion"] = REGION
    assert handle(event, lambda_context(), scanner)["status"] == "success"


def test_every_readme_block_is_run_or_listed_with_its_reason() -> None:
    blocks = readme_blocks()
    unlisted = [(heading, text[:60]) for heading, marked, text in blocks if not marked and heading not in NOT_RUN]

    assert not unlisted
    assert {heading for heading, marked, _ in blocks if not marked} == set(NOT_RUN)
    readme = (ROOT / "README.md").read_text()
    assert "need real AWS" in readme and "Multi-account deployments" in readme and "Terraform" in readme
    assert all(f"]({guide})" in readme for guide in DOCUMENTS[1:])  # the README links every guide


@pytest.mark.deploys  # the deploy block runs make deploy
def test_readme_blocks_run_in_one_fresh_shell_against_emulator(
    emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    path = os.pathsep.join([str(VENV_BIN), str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    monkeypatch.setenv("PATH", f"{path}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "home").mkdir()
    env = {
        "PATH": path,
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "QSCANNER": "local/qscanner",  # the stand-in for the licensed binary
        "BUILD": str(tmp_path / "build"),
        # A safety net: anything not sent to the emulator (the aws CLI v1 sends `aws sqs` to the real
        # SQS endpoint whatever AWS_ENDPOINT_URL says) goes to a closed local proxy port instead.
        "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    session = Session(env, tmp_path / "stderr.log")
    outputs: dict[str, str] = {}
    try:
        for heading, marked, block in readme_blocks(tuple(d for d in DOCUMENTS if d != TERRAFORM_GUIDE)):
            if not marked:
                continue
            outputs.setdefault(heading, "")
            outputs[heading] += session.run(block)
            if "create-function" in block:
                (seed_zip,) = list(tmp_path.glob("tmp*/seed.zip"))
                scan_seed(seed_zip, tmp_path / "work")
            if "put-events" in block:
                queue = next(
                    v
                    for v in outputs["Test a real deployment"].split()
                    if v.startswith("http") and "scanqueue" in v.lower()
                )
                messages = boto3.client("sqs", region_name=REGION).receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=10
                )
                requested = [json.loads(m["Body"])["detail"]["functionName"] for m in messages.get("Messages", [])]
                assert requested == [SEED]  # once: no failed put-events retried into duplicates
    finally:
        session.close()

    assert "outputs of stack qscanner in us-east-2" in outputs["Deploy (single account)"]
    test_output = outputs["Test a real deployment"]
    assert ACCOUNT in test_output and f"function:{SEED}" in test_output
    assert '"QualysScanStatus": "success"' in test_output and "-Report.sarif.json" in test_output
    sboms = [line for line in outputs["Where findings go"].split() if line.endswith(("spdx.json", "CycloneDX.json"))]
    assert len(sboms) == 2
    assert "deleted stack qscanner" in outputs["Uninstalling"]
    buckets = [b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]
    assert buckets == [f"awslambda-{REGION}-tasks"]  # only the stand-in's Lambda code storage is left
    assert not boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    assert not boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)


@pytest.mark.slow  # terraform init and plan in a copy of the repository
def test_terraform_guide_blocks_run_in_a_fresh_clone_against_emulator(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        flags = init_flags()
    except pytest.skip.Exception as missing:  # without terraform or its AWS provider: say what is missing
        pytest.skip(f"Terraform guide blocks not run: {missing}")
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in CLONED:
        source, target = ROOT / name, clone / name
        if source.is_dir():
            ignored = shutil.ignore_patterns(".terraform*", "*.tfstate*", "terraform.tfvars", "tfplan", "__pycache__")
            shutil.copytree(source, target, ignore=ignored)
        else:
            shutil.copy2(source, target)
    # `terraform init` as the guide writes it: the provider comes from the machine's CLI configuration,
    # here a filesystem mirror of TF_PLUGIN_DIR (what -plugin-dir would name), or the user's own.
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if flags:
        cli_config = str(tmp_path / "terraform.rc")
        Path(cli_config).write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{PLUGIN_DIR}"\n  }}\n}}\n'
        )
    (tmp_path / "home").mkdir()
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "QSCANNER": "local/qscanner",  # the stand-in for the licensed binary
        "TF_CLI_CONFIG_FILE": cli_config,
        "CHECKPOINT_DISABLE": "1",  # no version check call to HashiCorp
        # As in the README's session: anything not sent to the emulator meets a closed local port.
        "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    blocks = [(heading, block) for heading, marked, block in readme_blocks((TERRAFORM_GUIDE,)) if marked]
    session = Session(env, tmp_path / "stderr.log", cwd=clone)
    outputs: dict[str, str] = {}
    started = time.monotonic()
    try:
        for heading, block in blocks:
            outputs[heading] = outputs.get(heading, "") + session.run(block)
    finally:
        session.close()
    with capsys.disabled():
        print(f"\nTerraform guide blocks (build, init, plan) on the emulator: {time.monotonic() - started:.0f} s")

    assert [heading for heading, _ in blocks] == ["1. Build the layer and the handler zip", "2. Deploy"]
    assert "build/qscanner-layer.zip" in outputs["1. Build the layer and the handler zip"]
    example = clone / "terraform" / "examples" / "single-region-native"
    plan_text = re.sub(r"\x1b\[[0-9;]*m", "", outputs["2. Deploy"])  # terraform's colours
    assert re.search(r"Plan: \d+ to add, 0 to change, 0 to destroy", plan_text)
    shown = subprocess.run(
        [TERRAFORM, f"-chdir={example}", "show", "-json", "tfplan"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    planned = {change["address"] for change in json.loads(shown.stdout)["resource_changes"]}
    assert {"module.scanner.aws_lambda_function.scanner", "module.scanner.aws_lambda_layer_version.qscanner"} <= planned
    # A plan creates nothing: the apply is test_terraform_apply.py's.
    assert not boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
