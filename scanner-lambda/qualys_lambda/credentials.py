"""The Qualys secret: read from Secrets Manager, re-read when old or rejected, validated, never echoed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code, is_transient
from qualys_lambda.errors import ConfigurationError, TransientError
from qualys_lambda.pods import QUALYS_PODS

SUPPORTED_PODS = frozenset(QUALYS_PODS)
# Qualys access tokens are JWTs: base64url segments separated by dots.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-+/=]+(?:\.[A-Za-z0-9_\-+/=]+){0,4}$")
TOKEN_MIN_LENGTH = 20
TOKEN_MAX_LENGTH = 8192
CLIENT_FIELD_MAX_LENGTH = 1024
GATEWAY_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d+)?(?:/[\w./-]*)?$")
# A warm container re-reads the secret after this long, so a rotated secret takes effect without a redeploy.
SECRET_MAX_AGE_S = 300.0
# Environment variable names QScanner reads its credentials from (Qualys QScanner README v4.8.0).
ENV_CLIENT_ID = "QUALYS_CLIENT_ID"
ENV_CLIENT_SECRET = "QUALYS_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
ENV_ACCESS_TOKEN = "QUALYS_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class QualysCredentials:
    """Where QScanner reports (a POD or a gateway URL) and how it authenticates."""

    pod: str = ""
    gateway_url: str = ""
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)

    @property
    def kind(self) -> str:
        """`client` (id and secret, QScanner mints its own JWT) or `token` (a bearer token as is)."""
        return "client" if self.client_id else "token"

    def as_env(self) -> dict[str, str]:
        """QScanner's credential variables: the client pair when present, else the access token."""
        if self.client_id:
            return {ENV_CLIENT_ID: self.client_id, ENV_CLIENT_SECRET: self.client_secret}
        return {ENV_ACCESS_TOKEN: self.access_token}

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be logged (the client id is not secret but is kept out too)."""
        return tuple(v for v in (self.client_secret, self.access_token, self.client_id) if v)


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_secret(secret_string: str) -> QualysCredentials:
    """Validate the secret's JSON; errors name the field, never the value."""
    try:
        data = json.loads(secret_string)
    except json.JSONDecodeError as exc:
        raise ConfigurationError("Qualys secret is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ConfigurationError("Qualys secret must be a JSON object")
    pod, gateway = _field(data, "qualys_pod").upper(), _field(data, "qualys_gateway_url")
    if gateway:
        if not GATEWAY_URL.match(gateway):
            raise ConfigurationError("Qualys secret field qualys_gateway_url must be an https URL")
        pod = ""
    elif pod not in SUPPORTED_PODS:
        raise ConfigurationError(
            "Qualys secret field qualys_pod is missing or not a QScanner POD (use qualys_gateway_url for others)"
        )
    client_id, client_secret = _field(data, "qualys_client_id"), _field(data, "qualys_client_secret")
    if client_id or client_secret:
        if not client_id or not client_secret:
            raise ConfigurationError("Qualys secret needs both qualys_client_id and qualys_client_secret")
        if max(len(client_id), len(client_secret)) > CLIENT_FIELD_MAX_LENGTH:
            raise ConfigurationError("Qualys secret client fields are too long")
        return QualysCredentials(pod, gateway, client_id=client_id, client_secret=client_secret)
    token = _field(data, "qualys_access_token")
    if not token:
        raise ConfigurationError(
            "Qualys secret needs qualys_client_id and qualys_client_secret, or qualys_access_token"
        )
    if not TOKEN_MIN_LENGTH <= len(token) <= TOKEN_MAX_LENGTH or not TOKEN_SHAPE.match(token):
        raise ConfigurationError("Qualys secret field qualys_access_token does not look like an access token")
    return QualysCredentials(pod, gateway, access_token=token)


class SecretReader:
    """Reads the Qualys secret on first use, again once the copy is older than SECRET_MAX_AGE_S or rejected."""

    def __init__(
        self,
        secretsmanager: Any,
        secret_arn: str,
        clock: Callable[[], float] = time.monotonic,
        max_age_s: float = SECRET_MAX_AGE_S,
    ) -> None:
        self._client = secretsmanager
        self._secret_arn = secret_arn
        self._clock = clock
        self._max_age_s = max_age_s
        self._value: QualysCredentials | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()
        self.reads = 0

    def get(self) -> QualysCredentials:
        """The validated credentials, reading Secrets Manager when there is no fresh copy."""
        with self._lock:
            if self._value is None or self._clock() - self._read_at >= self._max_age_s:
                self.reads += 1
                try:
                    response = self._client.get_secret_value(SecretId=self._secret_arn)
                except ClientError as exc:
                    if is_transient(exc):
                        raise TransientError("reading the Qualys secret was throttled") from exc
                    raise ConfigurationError(f"cannot read the Qualys secret: {error_code(exc)}") from exc
                self._value = parse_secret(response.get("SecretString", ""))
                self._read_at = self._clock()
            return self._value

    def invalidate(self) -> None:
        """Forget the copy (QScanner rejected it): the next `get` reads the secret again."""
        with self._lock:
            self._read_at = float("-inf")

    def loaded_secrets(self) -> tuple[str, ...]:
        """The credential values read so far (for redaction), else an empty tuple."""
        return self._value.secrets() if self._value else ()
