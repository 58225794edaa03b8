"""Fixtures: fake credentials -> mock_aws -> bucket, table, topic with an SQS subscription, secret."""

from __future__ import annotations

import os
from pathlib import Path

# moto loads its bundled AMIs (with a snapshot and a volume each) into every EC2 backend it creates; no
# test uses an AMI, and moto reads this variable once, at import (moto.ec2.models, "MOTO_AMIS_PATH").
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).parent / "fixtures" / "moto-amis.json"))

import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import pytest
import requests
from moto import mock_aws

from local import moto_extras, runtime
from qualys_lambda import aws as aws_module
from qualys_lambda.deps import Deps
from tests.support import REGION, FakeRunner, Resources, make_deps, make_resources, settings_for

# Operations the scanner calls that moto lacks (Security Hub's BatchUpdateFindings), before any mock starts.
moto_extras.install()


def share_sdk_models() -> None:
    """Each AWS SDK model file (service, endpoints, rules) parsed once per test process, not once per boto3
    session: the tests make many sessions (one per scanner, per moto reset), and parsing was a quarter of
    their time. The parsed data is read-only to botocore; merging a model's extras again is idempotent."""
    parsed: dict[str, Any] = {}
    load_file = botocore.loaders.JSONFileLoader.load_file

    def shared_load_file(self: botocore.loaders.JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = load_file(self, file_path)
        return parsed[file_path]

    botocore.loaders.JSONFileLoader.load_file = shared_load_file  # type: ignore[method-assign]


share_sdk_models()

# moto's reset endpoint, answered in process while a mock is active (moto's changelog, "Reset API").
MOTO_RESET_URL = "http://motoapi.amazonaws.com/moto-api/reset"
FAKE_CREDENTIALS = {**runtime.FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server process for the session, bound to 127.0.0.1; yields its URL."""
    with runtime.moto_server(region=REGION) as (url, _port, _pid):
        yield url


def empty_moto() -> None:
    """Empty moto in process: every account and region of the active mock."""
    requests.post(MOTO_RESET_URL, timeout=10)


def empty_emulator(url: str) -> None:
    """Reset the moto server at `url`: every account and region emptied."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)


@pytest.fixture
def emulator_as_is(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's moto server as earlier tests left it (a module's shared stack), with this process's AWS
    clients pointed at it."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    aws_module.clear_clients()
    return moto_server


@pytest.fixture
def emulator(emulator_as_is: str) -> str:
    """The session's moto server, emptied, with this process's AWS clients pointed at it."""
    empty_emulator(emulator_as_is)
    return emulator_as_is


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
    aws_module.clear_clients()
    with mock_aws():
        empty_moto()  # even inside a module's moto (`moto_module`), where moto keeps the outer mock's data
        yield
    aws_module.clear_clients()


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    """moto in-process for a module's shared deployment, with fake credentials. A test's own `mocked_aws`
    inside it empties moto: a shared deployment checks it is still there before each use."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        aws_module.clear_clients()
        with mock_aws():
            yield
        aws_module.clear_clients()


@pytest.fixture
def resources(mocked_aws: None) -> Resources:
    """The deployment's resources in moto in-process."""
    return make_resources()


@pytest.fixture
def server_resources(emulator: str) -> Resources:
    """The deployment's resources on the session's moto server."""
    return make_resources()


@pytest.fixture
def runner() -> FakeRunner:
    """A QScanner stand-in that records its calls."""
    return FakeRunner()


@pytest.fixture
def scanner(resources: Resources, runner: FakeRunner, tmp_path: Any) -> Deps:
    """A scanner wired to moto and the fake runner, working under a temporary /tmp."""
    return make_deps(settings_for(resources), runner, tmp_path)
