"""The secret `make deploy` and the StackSet targets store: either kind of Qualys credentials, from the environment."""

from __future__ import annotations

import json

import pytest

from local.build import BuildError, main, secret_json
from qualys_lambda.credentials import parse_secret
from tests.support import TOKEN


def test_secret_json_client_pair_preferred_over_token() -> None:
    env = {"QUALYS_CLIENT_ID": "id-1", "QUALYS_CLIENT_SECRET": "sec-1", "QUALYS_ACCESS_TOKEN": TOKEN}
    secret = json.loads(secret_json("US2", env))
    assert secret == {"qualys_pod": "US2", "qualys_client_id": "id-1", "qualys_client_secret": "sec-1"}
    assert parse_secret(json.dumps(secret)).kind == "client"


def test_secret_json_token_with_gateway_url_is_accepted_by_the_scanner() -> None:
    env = {"QUALYS_ACCESS_TOKEN": TOKEN, "QUALYS_GATEWAY_URL": "https://gateway.qg1.apps.qualysgov.com"}
    credentials = parse_secret(secret_json("GOV1", env))
    assert (credentials.kind, credentials.gateway_url) == ("token", "https://gateway.qg1.apps.qualysgov.com")


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "no Qualys credentials"), ({"QUALYS_CLIENT_ID": "id-1"}, "must both be set")],
)
def test_secret_json_missing_credentials_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        secret_json("US2", env)


def test_secret_json_command_reads_environment_not_argv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret-json", "--pod", "EU1"], {"QUALYS_CLIENT_ID": "i", "QUALYS_CLIENT_SECRET": "s"}) == 0
    assert json.loads(capsys.readouterr().out)["qualys_client_secret"] == "s"
