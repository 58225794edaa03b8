"""What a scan and the inventory touch, built once: by the handler from its environment, by the CLI from
the deployed function's configuration, by the tests and benchmarks with moto and fakes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.cache import ScanCache
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.metrics import MetricsSink, emit
from qualys_lambda.qscanner import Runner, run_subprocess
from qualys_lambda.suppressions import SuppressionsReader


@dataclass
class Deps:
    """The scanner's settings, AWS access, secret, QScanner runner, clock, metrics and its own ARN."""

    settings: Settings
    aws: AwsAccess
    secrets: SecretReader
    runner: Runner
    own_function_arn: str = ""
    work_root: str = "/tmp"  # noqa: S108 - Lambda's only writable directory
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # How the inventory waits for its Lambda API pace (tests on the emulator need not wait).
    sleep: Callable[[float], None] = time.sleep
    metrics: MetricsSink = emit

    @property
    def cache(self) -> ScanCache | None:
        """The cache table, when one is configured."""
        if not self.settings.cache_table:
            return None
        return ScanCache(self.aws.home_client("dynamodb"), self.settings.cache_table, self.settings.cache_ttl_days)

    @cached_property
    def suppressions(self) -> SuppressionsReader | None:
        """The team's suppression rules (SUPPRESSIONS_URI), read at most every few minutes per container."""
        if not self.settings.suppressions_uri:
            return None
        return SuppressionsReader(
            self.aws.home_client("s3"),
            self.settings.suppressions_uri,
            self.metrics,
            today=lambda: self.clock().date(),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], own_arn: str) -> Deps:
        """The Lambda container's dependencies: its environment and its own unqualified function ARN."""
        settings = Settings.from_env(env)
        secrets = SecretReader(aws.client("secretsmanager"), settings.qualys_secret_arn)
        return cls(settings, access_of(settings, own_arn), secrets, run_subprocess, own_function_arn=own_arn)

    @classmethod
    def for_deployed_function(cls, configuration: Mapping[str, Any]) -> Deps:
        """A deployed scanner's dependencies (GetFunctionConfiguration), with the caller's credentials."""
        return cls.from_env(configuration.get("Environment", {}).get("Variables", {}), configuration["FunctionArn"])


def access_of(settings: Settings, own_arn: str) -> AwsAccess:
    """AWS access from the scanner's own ARN (its account, partition and home region) and its settings."""
    parts = own_arn.split(":")
    return AwsAccess(
        own_account=parts[4],
        role_name=settings.cross_account_role_name,
        external_id=settings.cross_account_external_id,
        partition=parts[1],
        home_region=parts[3],
    )
