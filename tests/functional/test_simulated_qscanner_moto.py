"""The simulated QScanner run as a process against a moto server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import store_function_code

SCRIPT = Path(__file__).resolve().parents[2] / "local" / "qscanner"
REGION = "us-east-1"
HUB_ACCOUNT = "123456789012"
SPOKE_ACCOUNT = "222222222222"
TOKEN = "qualys-token-never-printed"
PLANTED_KEY = "AKIA" + "Z7QW3RTY5UIO9PLK"
TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)

pytestmark = pytest.mark.server


@dataclass(frozen=True)
class Creds:
    """AWS credentials of one account, as the scanner would pass them to QScanner."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def client(self, service: str, endpoint: str, region: str = REGION) -> Any:
        """A boto3 client with these credentials, pointed at the moto server."""
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )


HUB_CREDS = Creds("testing", "testing")


def code_zip() -> bytes:
    """A function package with a vulnerable requirement and a planted access key."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("requirements.txt", "requests==2.19.1\n")
        zf.writestr("app.py", f"import requests\nKEY = '{PLANTED_KEY}'\n\ndef handler(event, context):\n    return 1\n")
        zf.writestr("node_modules/minimist/package.json", json.dumps({"name": "minimist", "version": "1.2.5"}))
    return buf.getvalue()


def create_zip_function(creds: Creds, endpoint: str, name: str, region: str = REGION) -> str:
    """Create a zip function (and its role) in the credentials' account, store its code; return its ARN."""
    role_arn = creds.client("iam", endpoint, region).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST_POLICY
    )["Role"]["Arn"]
    lambda_client = creds.client("lambda", endpoint, region)
    zip_bytes = code_zip()
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes},
    )["FunctionArn"]
    store_function_code(lambda_client, creds.client("s3", endpoint, region), name, zip_bytes)
    return arn


def reset_moto(endpoint: str) -> None:
    """Empty moto's backends (they are process-wide, shared with any in-process `mock_aws`)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture(scope="module")
def endpoint(moto_server: str) -> Iterator[str]:
    """The session's moto server, emptied for this module."""
    reset_moto(moto_server)
    yield moto_server
    reset_moto(moto_server)


@pytest.fixture(scope="module")
def hub_function(endpoint: str) -> str:
    """A vulnerable zip function in the default account."""
    return create_zip_function(HUB_CREDS, endpoint, "vulnerable-fn")


@pytest.fixture(scope="module")
def spoke_creds(endpoint: str) -> Creds:
    """Assumed-role credentials that moto places in the spoke account (the role ARN's account)."""
    creds = HUB_CREDS.client("sts", endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{SPOKE_ACCOUNT}:role/QualysScannerCrossAccount", RoleSessionName="qscanner"
    )["Credentials"]
    return Creds(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@pytest.fixture(scope="module")
def spoke_function(endpoint: str, spoke_creds: Creds) -> str:
    """A vulnerable zip function in the spoke account, outside us-east-1."""
    return create_zip_function(spoke_creds, endpoint, "spoke-fn", region="eu-west-1")


def run_qscanner(
    arn: str,
    home: Path,
    endpoint: str,
    creds: Creds = HUB_CREDS,
    region: str = REGION,
    extra_env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the executable as the scanner does: argv list, explicit environment."""
    env = {
        # The shebang's `env python3` finds the venv interpreter (it has boto3) first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_ENDPOINT_URL": endpoint,
        "QUALYS_ACCESS_TOKEN": TOKEN,
        **({"AWS_SESSION_TOKEN": creds.session_token} if creds.session_token else {}),
        **(extra_env or {}),
    }
    argv = [
        str(SCRIPT),
        "--pod",
        "US2",
        "--output-dir",
        str(home / "out"),
        "--cache-dir",
        str(home / "cache"),
        "--scan-types",
        "pkg,secret",
        *extra_args,
        "lambda",
        arn,
    ]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def outputs(home: Path) -> dict[str, Path]:
    """Output files by suffix (the part after `<scan id>-`)."""
    out = home / "out"
    if not out.exists():
        return {}
    return {p.name.split("-", 5)[-1]: p for p in out.iterdir()}


def test_qscanner_zip_function_exit_0_writes_findings(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "QScanner (SIMULATED) — not the Qualys binary"
    files = outputs(tmp_path)
    assert set(files) == {"ScanResult.json", "Report.sarif.json", "ChangeList.db.xz"}
    scan = json.loads(files["ScanResult.json"].read_text())
    assert scan["Metadata"]["CallerAccount"] == HUB_ACCOUNT
    assert scan["Metadata"]["TargetMetadata"]["FunctionArn"] == hub_function
    assert files["ScanResult.json"].name.startswith(scan["ScanID"])
    sarif = json.loads(files["Report.sarif.json"].read_text())
    rules = {r["id"]: r["properties"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    by_pkg = {
        s["name"]: rules[r["ruleId"]]
        for r in sarif["runs"][0]["results"]
        for s in r["properties"]["vulnerableSoftware"]
    }
    assert (by_pkg["requests"]["severity"], by_pkg["requests"]["cve-ids"]) == (4, ["CVE-2018-18074"])
    assert by_pkg["minimist"]["severity"] == 5


def test_qscanner_planted_key_reported_with_its_text_as_qscanner_does(
    hub_function: str, endpoint: str, tmp_path: Path
) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint)

    scan_file = outputs(tmp_path)["ScanResult.json"]
    secret = json.loads(scan_file.read_text())["SecretResults"][0]
    assert secret["Target"] == "app.py"
    # The secret's own text is in `Match`, so the product's stripping is what keeps it out of storage.
    assert secret["Secrets"][0]["Match"] == PLANTED_KEY
    assert PLANTED_KEY not in proc.stdout + proc.stderr


def test_qscanner_token_not_printed_by_default(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint)

    assert TOKEN not in proc.stdout + proc.stderr
    assert all(TOKEN.encode() not in p.read_bytes() for p in outputs(tmp_path).values())


def test_qscanner_sboms_written_when_asked(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_args=("--format=json,spdx,cyclonedx",))

    assert proc.returncode == 0, proc.stderr
    assert set(outputs(tmp_path)) == {
        "ScanResult.json",
        "Report.sarif.json",
        "ScanResult.spdx.json",
        "ScanResult.spdx.json.xz",
        "ScanResult-CycloneDX.json",
        "ChangeList.db.xz",
    }


def test_qscanner_client_credentials_cache_jwt_under_home(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    client = {"QUALYS_ACCESS_TOKEN": "", "QUALYS_CLIENT_ID": "id-1", "QUALYS_CLIENT_SECRET": "client-secret-1"}

    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_env=client)

    assert proc.returncode == 0, proc.stderr
    jwt_cache = tmp_path / ".cache" / "qualys" / "qscanner" / "creds.json"
    assert jwt_cache.exists() and "client-secret-1" not in jwt_cache.read_text()


def test_qscanner_evaluate_policy_denies_critical_findings(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(
        hub_function, tmp_path, endpoint, extra_args=("--mode", "evaluate-policy", "--policy-tags", "p")
    )

    assert proc.returncode == 42, proc.stderr
    assert "Report.sarif.json" in outputs(tmp_path)


def test_qscanner_cache_dir_created_with_marker(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    run_qscanner(hub_function, tmp_path, endpoint)

    assert list((tmp_path / "cache").iterdir())


def test_qscanner_exit_40_writes_scan_result_only(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_EXIT_CODE": "40"})

    assert proc.returncode == 40
    assert set(outputs(tmp_path)) == {"ScanResult.json", "ChangeList.db.xz"}


def test_qscanner_exit_42_writes_all_files(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_EXIT_CODE": "42"})

    assert proc.returncode == 42
    assert set(outputs(tmp_path)) == {"ScanResult.json", "Report.sarif.json", "ChangeList.db.xz"}


def test_qscanner_forced_failure_writes_nothing(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_EXIT_CODE": "1"})

    assert proc.returncode == 1
    assert "QSCANNER_SIM_EXIT_CODE" in proc.stderr
    assert outputs(tmp_path) == {}


def test_qscanner_echo_token_knob_leaks_token(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    proc = run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_ECHO_TOKEN": "1"})

    assert proc.returncode == 0
    assert TOKEN in proc.stdout
    assert TOKEN in proc.stderr


def test_qscanner_run_log_records_caller(hub_function: str, endpoint: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"

    run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_RUN_LOG": str(log)})
    run_qscanner(hub_function, tmp_path, endpoint, extra_env={"QSCANNER_SIM_RUN_LOG": str(log)})

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 2
    assert runs[0]["arn"] == hub_function
    assert (runs[0]["caller_account"], runs[0]["region"], runs[0]["access_key_id"]) == (HUB_ACCOUNT, REGION, "testing")
    assert runs[0]["scan_id"] != runs[1]["scan_id"]


def test_qscanner_missing_function_exits_5_artifact_failure(endpoint: str, tmp_path: Path) -> None:
    arn = f"arn:aws:lambda:{REGION}:{HUB_ACCOUNT}:function:does-not-exist"

    proc = run_qscanner(arn, tmp_path, endpoint)

    assert proc.returncode == 5
    assert "ResourceNotFoundException" in proc.stderr
    assert outputs(tmp_path) == {}


def test_qscanner_cross_account_credentials_scan_as_spoke(
    spoke_function: str, spoke_creds: Creds, endpoint: str, tmp_path: Path
) -> None:
    proc = run_qscanner(spoke_function, tmp_path, endpoint, creds=spoke_creds, region="eu-west-1")

    assert proc.returncode == 0, proc.stderr
    scan = json.loads(outputs(tmp_path)["ScanResult.json"].read_text())
    assert scan["Metadata"]["CallerAccount"] == SPOKE_ACCOUNT
    assert scan["Metadata"]["Region"] == "eu-west-1"
    assert scan["Metadata"]["TargetMetadata"]["FunctionArn"] == spoke_function


def test_qscanner_hub_credentials_cannot_read_spoke_function(
    spoke_function: str, endpoint: str, tmp_path: Path
) -> None:
    proc = run_qscanner(spoke_function, tmp_path, endpoint, region="eu-west-1")

    assert proc.returncode == 5
    assert outputs(tmp_path) == {}


def test_qscanner_image_function_records_image_uri(spoke_creds: Creds, endpoint: str, tmp_path: Path) -> None:
    image_uri = f"{SPOKE_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:v1"
    role_arn = spoke_creds.client("iam", endpoint).create_role(
        RoleName="image-fn-role", AssumeRolePolicyDocument=TRUST_POLICY
    )["Role"]["Arn"]
    arn = spoke_creds.client("lambda", endpoint).create_function(
        FunctionName="image-fn", Role=role_arn, PackageType="Image", Code={"ImageUri": image_uri}
    )["FunctionArn"]

    proc = run_qscanner(arn, tmp_path, endpoint, creds=spoke_creds)

    assert proc.returncode == 0, proc.stderr
    scan = json.loads(outputs(tmp_path)["ScanResult.json"].read_text())
    image = scan["Metadata"]["TargetMetadata"]["ImageMetadata"]
    assert image["RepoTags"] == [image_uri]
    assert image["RepoDigests"][0].startswith(f"{SPOKE_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app@sha256:")
    assert scan["Results"] == []
    assert "BatchGetImage" in scan["Metadata"]["Notes"][0]
