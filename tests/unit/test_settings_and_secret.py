"""Settings from the environment and the Qualys secret's validation."""

from __future__ import annotations

import json

import pytest

from qualys_lambda.config import Settings
from qualys_lambda.credentials import parse_secret
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
