"""The Qualys secret: read from Secrets Manager once per container, validated, never echoed."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code, is_transient
from qualys_lambda.errors import ConfigurationError, TransientError

SUPPORTED_PODS = frozenset(
    {"US1", "US2", "US3", "US4", "GOV1", "EU1", "EU2", "EU3", "IN1", "CA1", "AE1", "UK1", "AU1", "KSA1"}
)
# Qualys access tokens are JWTs: base64url segments separated by dots.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-+/=]+(?:\.[A-Za-z0-9_\-+/=]+){0,4}$")
TOKEN_MIN_LENGTH = 20
TOKEN_MAX_LENGTH = 8192


@dataclass(frozen=True)
class QualysCredentials:
    """The POD and access token QScanner needs."""

    pod: str
    access_token: str = field(repr=False)


def parse_secret(secret_string: str) -> QualysCredentials:
    """Validate the secret's JSON; errors name the field, never the value."""
    try:
        data = json.loads(secret_string)
    except json.JSONDecodeError as exc:
        raise ConfigurationError("Qualys secret is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ConfigurationError("Qualys secret must be a JSON object")
    pod = data.get("qualys_pod")
    token = data.get("qualys_access_token")
    if not isinstance(pod, str) or pod.strip().upper() not in SUPPORTED_PODS:
        raise ConfigurationError("Qualys secret field qualys_pod is missing or not a supported POD")
    if not isinstance(token, str) or not token.strip():
        raise ConfigurationError("Qualys secret field qualys_access_token is missing or empty")
    token = token.strip()
    if not TOKEN_MIN_LENGTH <= len(token) <= TOKEN_MAX_LENGTH or not TOKEN_SHAPE.match(token):
        raise ConfigurationError("Qualys secret field qualys_access_token does not look like an access token")
    return QualysCredentials(pod=pod.strip().upper(), access_token=token)


class SecretReader:
    """Reads the Qualys secret on first use and keeps it for the container's life."""

    def __init__(self, secretsmanager: Any, secret_arn: str) -> None:
        self._client = secretsmanager
        self._secret_arn = secret_arn
        self._value: QualysCredentials | None = None
        self._lock = threading.Lock()
        self.reads = 0

    def get(self) -> QualysCredentials:
        """The validated credentials, reading Secrets Manager only the first time."""
        with self._lock:
            if self._value is None:
                self.reads += 1
                try:
                    response = self._client.get_secret_value(SecretId=self._secret_arn)
                except ClientError as exc:
                    if is_transient(exc):
                        raise TransientError("reading the Qualys secret was throttled") from exc
                    raise ConfigurationError(f"cannot read the Qualys secret: {error_code(exc)}") from exc
                self._value = parse_secret(response.get("SecretString", ""))
            return self._value

    def loaded_token(self) -> str:
        """The token if it has been read (for redaction), else an empty string."""
        return self._value.access_token if self._value else ""
