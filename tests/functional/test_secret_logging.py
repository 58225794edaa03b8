"""The Qualys secret stays out of the logs when an operator sets the function's log level to DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest

from qualys_lambda import aws
from qualys_lambda.credentials import SecretReader
from tests.support import REGION, TOKEN, Resources


@pytest.fixture
def fresh_library_loggers() -> Iterator[None]:
    """Library loggers as a new container has them (NOTSET, inheriting the root level), restored after."""
    saved = {name: logging.getLogger(name).level for name in aws.LIBRARY_LOGGERS}
    for name in aws.LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    aws.clear_clients()
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    aws.clear_clients()


def test_botocore_at_debug_would_log_the_secret(
    resources: Resources, fresh_library_loggers: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The hazard the scanner guards against: an unguarded client at DEBUG logs the response body.
    caplog.set_level(logging.DEBUG)
    boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=resources.secret_arn)
    assert TOKEN in caplog.text


def test_secret_read_at_debug_application_level_never_logged(
    resources: Resources, fresh_library_loggers: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Lambda applies LoggingConfig.ApplicationLogLevel=DEBUG to the root logger.
    caplog.set_level(logging.DEBUG)
    reader = SecretReader(aws.client("secretsmanager", REGION), resources.secret_arn)
    assert reader.get().access_token == TOKEN
    assert TOKEN not in caplog.text
    assert {name: logging.getLogger(name).getEffectiveLevel() for name in aws.LIBRARY_LOGGERS} == dict.fromkeys(
        aws.LIBRARY_LOGGERS, logging.INFO
    )
