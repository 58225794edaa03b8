"""boto3 clients for the scanner's own account and, in hub mode, each target account."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from qualys_lambda.errors import TargetAccessError, TransientError

# Adaptive mode: standard retries (exponential backoff with jitter) plus a client-side rate limiter
# that slows the client down once the service throttles it (botocore retries guide). Lambda's
# control-plane quotas are per account and region and shared with the customer's own tooling.
CLIENT_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 6}, connect_timeout=5, read_timeout=60)
# AWS Lambda quotas page, "Lambda API requests": GetFunction 100 requests per second, and every other
# control-plane API (ListFunctions, ListTags, TagResource, GetLayerVersion, ...) 15 requests per
# second, per account and Region; neither can be increased.
LAMBDA_GET_FUNCTION_RPS = 100
LAMBDA_CONTROL_PLANE_RPS = 15
# The inventory keeps to a third of the control-plane quota, leaving the rest to scans (TagResource,
# QScanner's GetLayerVersion) and to the customer's deployments.
INVENTORY_CONTROL_PLANE_RPS = LAMBDA_CONTROL_PLANE_RPS / 3
ROLE_SESSION_NAME = "qualys-lambda-scanner"
# Re-assume well before expiry so a long QScanner run never holds stale credentials.
CREDENTIALS_REFRESH_MARGIN = timedelta(minutes=20)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
        "ServiceException",
    }
)


# At DEBUG botocore logs whole response bodies, GetSecretValue's (the Qualys token) among them, and
# urllib3 / s3transfer log request details. An operator may set the function's application log level
# to DEBUG (LoggingConfig.ApplicationLogLevel), which Lambda applies to the root logger: these loggers
# get their own level so they never inherit it.
LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
LIBRARY_LOG_LEVEL = logging.INFO


def quiet_library_loggers() -> None:
    """Keep the AWS SDK and HTTP loggers at INFO or above, whatever the application log level."""
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        if library.level < LIBRARY_LOG_LEVEL:
            library.setLevel(LIBRARY_LOG_LEVEL)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: ClientError) -> bool:
    """Whether a retry of the call may succeed."""
    return error_code(exc) in THROTTLING_CODES


def client(service: str, region: str | None = None) -> Any:
    """A client in the scanner's own account, created on first use and kept for the container."""
    return _cached_client(service, region)


@functools.cache
def _cached_client(service: str, region: str | None) -> Any:
    # Positional and keyword calls share one cache entry because `client` normalises them.
    quiet_library_loggers()
    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)


def clear_clients() -> None:
    """Forget every cached client (tests start and stop moto around them)."""
    _cached_client.cache_clear()
    _own_session.cache_clear()


@functools.cache
def _own_session() -> boto3.Session:
    # One session per container: resolving the credential chain costs more than the two AWS calls of
    # a cache hit. Lambda's execution-role credentials are in the environment for the container's
    # life; a refreshable provider (a profile's role) refreshes itself in get_frozen_credentials.
    return boto3.Session()


class Pacer:
    """A token bucket: `wait()` returns once a call fits under `rate` per second (burst of one second)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.tokens = rate
        self.updated = clock()
        self.waited = 0.0

    def wait(self) -> None:
        """Take one token, sleeping until one is available."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            delay = (1 - self.tokens) / self.rate
            self.sleep(delay)
            self.waited += delay
            self.tokens, self.updated = 1.0, self.updated + delay
        self.tokens -= 1


@dataclass(frozen=True)
class Credentials:
    """AWS credentials handed to QScanner's environment and to target-account clients."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expires_at: datetime | None = None

    def as_env(self) -> dict[str, str]:
        """The standard AWS environment variables for a child process."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be logged."""
        return tuple(v for v in (self.secret_access_key, self.session_token) if v)


@dataclass(frozen=True)
class Target:
    """Clients and credentials for one account and region."""

    account: str
    region: str
    credentials: Credentials
    make_client: Callable[[str], Any]

    def client(self, service: str) -> Any:
        """A client acting in the target's account and region."""
        return self.make_client(service)


class AwsAccess:
    """Resolves a Target for an (account, region), assuming the hub role when it is another account."""

    def __init__(
        self,
        own_account: str,
        role_name: str = "",
        external_id: str = "",
        partition: str = "aws",
        home_region: str = "us-east-1",
        home_client: Callable[..., Any] = client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.own_account = own_account
        self.role_name = role_name
        self.external_id = external_id
        self.partition = partition
        self.home_region = home_region
        self.home_client = home_client
        self.clock = clock
        self._assumed: dict[str, Credentials] = {}
        self._factories: dict[tuple[str, str], tuple[Credentials, Callable[[str], Any]]] = {}
        self._lock = threading.Lock()

    def target(self, account: str, region: str) -> Target:
        """Clients for `account` in `region`; another account needs CROSS_ACCOUNT_ROLE_NAME."""
        if account == self.own_account or not self.role_name:
            if account != self.own_account:
                raise TargetAccessError("event is for another account and no cross-account role is set")
            return Target(account, region, self._own_credentials(), lambda s: self.home_client(s, region))
        credentials = self._assume(account)
        cached = self._factories.get((account, region))
        if cached is None or cached[0] is not credentials:
            cached = (credentials, _client_factory(credentials, region))
            self._factories[(account, region)] = cached
        return Target(account, region, credentials, cached[1])

    def role_arn(self, account: str) -> str:
        """The hub role's ARN in `account`."""
        return f"arn:{self.partition}:iam::{account}:role/{self.role_name}"

    def _own_credentials(self) -> Credentials:
        frozen = _own_session().get_credentials()
        if frozen is None:
            raise TargetAccessError("the scanner has no AWS credentials")
        creds = frozen.get_frozen_credentials()
        return Credentials(creds.access_key, creds.secret_key, creds.token)

    def _assume(self, account: str) -> Credentials:
        with self._lock:
            cached = self._assumed.get(account)
            if cached and cached.expires_at and cached.expires_at - self.clock() > CREDENTIALS_REFRESH_MARGIN:
                return cached
            kwargs: dict[str, Any] = {"RoleArn": self.role_arn(account), "RoleSessionName": ROLE_SESSION_NAME}
            if self.external_id:
                kwargs["ExternalId"] = self.external_id
            try:
                response = self.home_client("sts").assume_role(**kwargs)
            except ClientError as exc:
                if is_transient(exc):
                    raise TransientError("AssumeRole was throttled") from exc
                raise TargetAccessError(f"cannot assume {self.role_arn(account)}: {error_code(exc)}") from exc
            raw = response["Credentials"]
            credentials = Credentials(
                raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], raw["Expiration"]
            )
            self._assumed[account] = credentials
            return credentials


def _client_factory(credentials: Credentials, region: str) -> Callable[[str], Any]:
    quiet_library_loggers()
    session = boto3.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=region,
    )
    return functools.cache(lambda service: session.client(service, config=CLIENT_CONFIG))
