"""Settings from the environment and the Qualys secret's validation."""

from __future__ import annotations

import json

import pytest

from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader, parse_secret
from qualys_lambda.errors import ConfigurationError
from tests.support import TOKEN


def test_settings_defaults_from_minimal_environment() -> None:
    settings = Settings.from_env({"QUALYS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:q"})
    assert (settings.qscanner_path, settings.scan_types, settings.cache_ttl_days) == (
        "/opt/bin/qscanner",
        "pkg,secret",
        30,
    )
    assert (settings.results_bucket, settings.sns_topic_arn, settings.cache_table) == ("", "", "")
    assert settings.exclude_tag == "QualysScanExclude" and settings.scan_timeout is None


def test_settings_reports_every_problem_in_one_error() -> None:
    env = {
        "CACHE_TTL_DAYS": "-3",
        "SCAN_TYPES": "pkg,rootkit",
        "ALLOWED_ACCOUNT_IDS": "123,abc",
        "CROSS_ACCOUNT_ROLE_NAME": "bad role!",
    }
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env(env)
    for name in ("QUALYS_SECRET_ARN", "CACHE_TTL_DAYS", "SCAN_TYPES", "ALLOWED_ACCOUNT_IDS", "CROSS_ACCOUNT_ROLE_NAME"):
        assert name in str(error.value)


def test_settings_passes_only_safe_variables_to_qscanner() -> None:
    env = {
        "QUALYS_SECRET_ARN": "arn",
        "PATH": "/usr/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "QSCANNER_SIM_DELAY": "1",
        "AWS_SECRET_ACCESS_KEY": "own-secret",
        "AWS_LAMBDA_FUNCTION_NAME": "x",
    }
    assert dict(Settings.from_env(env).qscanner_env) == {
        "PATH": "/usr/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "QSCANNER_SIM_DELAY": "1",
    }


def test_parse_secret_valid_normalises_pod() -> None:
    credentials = parse_secret(json.dumps({"qualys_pod": "eu2", "qualys_access_token": TOKEN}))
    assert credentials.pod == "EU2" and credentials.access_token == TOKEN
    assert TOKEN not in repr(credentials)


@pytest.mark.parametrize(
    ("secret", "field"),
    [
        ({"qualys_pod": "MARS1", "qualys_access_token": TOKEN}, "qualys_pod"),
        ({"qualys_pod": "GOV1", "qualys_access_token": TOKEN}, "qualys_gateway_url"),
        ({"qualys_gateway_url": "http://gateway.example.com", "qualys_access_token": TOKEN}, "qualys_gateway_url"),
        ({"qualys_pod": "US2", "qualys_client_id": "client-id-1"}, "qualys_client_secret"),
        ({"qualys_pod": "US2", "qualys_client_secret": "client-secret-1"}, "qualys_client_id"),
        ({"qualys_access_token": TOKEN}, "qualys_pod"),
        ({"qualys_pod": "US2"}, "qualys_access_token"),
        ({"qualys_pod": "US2", "qualys_access_token": "short"}, "qualys_access_token"),
        ({"qualys_pod": "US2", "qualys_access_token": "has spaces and ; semicolons in it"}, "qualys_access_token"),
    ],
)
def test_parse_secret_invalid_names_field_never_value(secret: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field) as error:
        parse_secret(json.dumps(secret))
    for value in secret.values():
        assert value not in str(error.value)


def test_parse_secret_not_json_is_clear() -> None:
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        parse_secret("US2:token")


def test_parse_secret_client_pair_preferred_and_passed_as_environment() -> None:
    secret = {
        "qualys_pod": "US1",
        "qualys_client_id": "id-1",
        "qualys_client_secret": "sec-1",
        "qualys_access_token": TOKEN,
    }
    credentials = parse_secret(json.dumps(secret))
    assert credentials.kind == "client"
    assert credentials.as_env() == {"QUALYS_CLIENT_ID": "id-1", "QUALYS_CLIENT_SECRET": "sec-1"}
    assert "sec-1" not in repr(credentials)


def test_parse_secret_gateway_url_for_platforms_outside_the_pod_list() -> None:
    secret = {"qualys_gateway_url": "https://gateway.qg1.apps.qualysgov.com", "qualys_access_token": TOKEN}
    credentials = parse_secret(json.dumps(secret))
    assert (credentials.pod, credentials.gateway_url) == ("", "https://gateway.qg1.apps.qualysgov.com")
    assert credentials.as_env() == {"QUALYS_ACCESS_TOKEN": TOKEN}


class FakeSecretsManager:
    """Answers GetSecretValue with whatever value is current."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.value}


def test_secret_reader_rereads_after_max_age() -> None:
    now = [0.0]
    client = FakeSecretsManager(json.dumps({"qualys_pod": "US2", "qualys_access_token": TOKEN}))
    reader = SecretReader(client, "arn", clock=lambda: now[0], max_age_s=300)
    reader.get()
    client.value = json.dumps({"qualys_pod": "US2", "qualys_client_id": "id", "qualys_client_secret": "rotated"})
    now[0] = 299.0
    assert reader.get().kind == "token" and reader.reads == 1
    now[0] = 300.0
    assert reader.get().client_secret == "rotated" and reader.reads == 2


def test_secret_reader_invalidate_forces_a_read() -> None:
    reader = SecretReader(FakeSecretsManager(json.dumps({"qualys_pod": "US2", "qualys_access_token": TOKEN})), "arn")
    reader.get()
    reader.invalidate()
    reader.get()
    assert reader.reads == 2


@pytest.mark.parametrize("scan_types", ["os,sca,secret", "malware,fileinsight,compliance", "PKG, secret"])
def test_settings_accept_qscanner_scan_types(scan_types: str) -> None:
    settings = Settings.from_env({"QUALYS_SECRET_ARN": "arn", "SCAN_TYPES": scan_types})
    assert set(settings.scan_types.split(",")) <= {"os", "sca", "secret", "malware", "fileinsight", "compliance", "pkg"}


def test_settings_reject_unknown_scan_type_naming_the_real_list() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown types: vuln .*compliance,fileinsight"):
        Settings.from_env({"QUALYS_SECRET_ARN": "arn", "SCAN_TYPES": "pkg,vuln"})


def test_settings_policy_tags_off_by_default_and_validated() -> None:
    assert Settings.from_env({"QUALYS_SECRET_ARN": "arn"}).policy_tags == ""
    assert Settings.from_env({"QUALYS_SECRET_ARN": "arn", "POLICY_TAGS": "prod, pci"}).policy_tags == "prod,pci"
    with pytest.raises(ConfigurationError, match="POLICY_TAGS"):
        Settings.from_env({"QUALYS_SECRET_ARN": "arn", "POLICY_TAGS": "prod;rm -rf"})
