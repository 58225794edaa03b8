"""Fixtures: fake credentials -> mock_aws -> bucket, table, topic with an SQS subscription, secret."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qualys_lambda import aws as aws_module
from qualys_lambda.aws import AwsAccess
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.scanner import Scanner
from tests.support import ACCOUNT, REGION, SCANNER_ARN, TOKEN, FakeRunner, cache_table_definition, code_zip

VULNERABLE_CODE = {
    "app.py": "import requests\nAWS_KEY = 'AKIAIOSFODNN7EXAMPLE'\n",
    "requirements.txt": "requests==2.19.1\n",
}


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server process for the session, bound to 127.0.0.1; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **FAKE_CREDENTIALS}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def emulator(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's moto server, emptied, with this process's AWS clients pointed at it."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    aws_module.client.cache_clear()
    return moto_server


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can reach a real account."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[None]:
    """moto in-process; the client cache is emptied so no client outlives its mock."""
    aws_module.client.cache_clear()
    with mock_aws():
        yield
    aws_module.client.cache_clear()


@dataclass
class Resources:
    """The AWS resources a scanner deployment has, in moto."""

    bucket: str
    table: str
    topic_arn: str
    queue_url: str
    secret_arn: str
    role_arn: str

    def messages(self) -> list[dict[str, Any]]:
        """SNS notifications received by the topic's SQS subscription (raw envelopes parsed)."""
        sqs = boto3.client("sqs", region_name=REGION)
        received: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            received += [json.loads(m["Body"]) for m in batch]


def create_role(name: str = "function-role", account_label: str = "") -> str:
    """An IAM role functions can be created with."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


@pytest.fixture
def resources(mocked_aws: None) -> Resources:
    """Bucket, cache table (from the template's key schema), topic with an SQS subscriber, secret, role."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="qualys-results")
    definition = cache_table_definition()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="qualys-scan-cache",
        KeySchema=definition["KeySchema"],
        AttributeDefinitions=definition["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName="qualys-scan-cache",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": definition["ttl_attribute"]},
    )
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="qualys-results")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="qualys/qscanner", SecretString=json.dumps({"qualys_pod": "US2", "qualys_access_token": TOKEN})
    )["ARN"]
    return Resources("qualys-results", "qualys-scan-cache", topic_arn, queue_url, secret_arn, create_role())


def create_function(
    name: str = "orders-api",
    files: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    layers: list[str] | None = None,
    region: str = REGION,
    client: Any = None,
    role_arn: str | None = None,
) -> str:
    """A zip function in moto; returns its ARN."""
    lambda_client = client or boto3.client("lambda", region_name=region)
    kwargs: dict[str, Any] = {}
    if layers:
        kwargs["Layers"] = layers
    response = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn or f"arn:aws:iam::{ACCOUNT}:role/function-role",
        Handler="app.handler",
        Code={"ZipFile": code_zip(files or VULNERABLE_CODE)},
        Tags=tags or {},
        **kwargs,
    )
    return str(response["FunctionArn"])


def settings_for(resources: Resources, **overrides: Any) -> Settings:
    """Scanner settings pointing at the moto resources."""
    env = {
        "QUALYS_SECRET_ARN": resources.secret_arn,
        "RESULTS_S3_BUCKET": resources.bucket,
        "SNS_TOPIC_ARN": resources.topic_arn,
        "SCAN_CACHE_TABLE": resources.table,
        "QSCANNER_PATH": "/opt/bin/qscanner",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


@pytest.fixture
def runner() -> FakeRunner:
    """A QScanner stand-in that records its calls."""
    return FakeRunner()


@pytest.fixture
def scanner(resources: Resources, runner: FakeRunner, tmp_path: Any) -> Scanner:
    """A scanner wired to moto and the fake runner, working under a temporary /tmp."""
    settings = settings_for(resources)
    secrets = SecretReader(boto3.client("secretsmanager", region_name=REGION), settings.qualys_secret_arn)
    return Scanner(settings, AwsAccess(own_account=ACCOUNT), secrets, runner, SCANNER_ARN, str(tmp_path))
