"""Settings read once from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from qualys_lambda.errors import ConfigurationError
from qualys_lambda.events import REGION
from qualys_lambda.qscanner import PASSTHROUGH_PREFIX, PASSTHROUGH_VARIABLES, SCAN_TYPES
from qualys_lambda.suppressions import S3_URI as SUPPRESSIONS_URI

DEFAULT_QSCANNER_PATH = "/opt/bin/qscanner"
DEFAULT_SCAN_TYPES = "pkg,secret"
DEFAULT_EXCLUDE_TAG = "QualysScanExclude"
DEFAULT_EVENT_BUS = "default"
DEFAULT_SBOM_FORMATS = ("spdx", "cyclonedx")
KNOWN_SBOM_FORMATS = frozenset(DEFAULT_SBOM_FORMATS)
BOOLEANS = {"true": True, "false": False, "": False}
# Qualys policy tags: names separated by commas (no spaces or shell characters reach argv anyway).
POLICY_TAGS = re.compile(r"^[\w .:/=+@-]{1,128}(?:,[\w .:/=+@-]{1,128})*$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")
# INVENTORY_ACCOUNTS' value that lists the accounts from AWS Organizations at each inventory.
ORGANIZATION = "organization"
# The exclusion tag's values that exclude a function, in any case.
EXCLUDE_VALUES = frozenset({"true", "yes", "1"})


@dataclass(frozen=True)
class Settings:
    """Everything the scanner reads from its environment, validated."""

    qualys_secret_arn: str
    results_bucket: str = ""
    sns_topic_arn: str = ""
    cache_table: str = ""
    cache_ttl_days: int = 30
    qscanner_path: str = DEFAULT_QSCANNER_PATH
    scan_types: str = DEFAULT_SCAN_TYPES
    scan_timeout: int | None = None
    cross_account_role_name: str = ""
    cross_account_external_id: str = ""
    allowed_account_ids: frozenset[str] = frozenset()
    exclude_tag: str = DEFAULT_EXCLUDE_TAG
    security_hub: bool = False
    scan_event_bus: str = DEFAULT_EVENT_BUS
    sbom_formats: tuple[str, ...] = DEFAULT_SBOM_FORMATS
    scan_queue_url: str = ""
    rescan_after_days: int = 7
    inventory_regions: tuple[str, ...] = ()
    # TAG_FUNCTIONS=false: for organisations whose tag policies forbid other tags on functions.
    tag_functions: bool = True
    # Off when empty; else QScanner runs `--mode evaluate-policy --policy-tags <these>`.
    policy_tags: str = ""
    # Organization scale: which accounts the inventory covers (empty: this account plus
    # ALLOWED_ACCOUNT_IDS, as before), and the queue its per-account units go to (empty: the scan queue).
    inventory_organization: bool = False
    inventory_accounts: tuple[str, ...] = ()
    inventory_queue_url: str = ""
    # Suppressions as code: the S3 object (s3://bucket/key) of the team's suppression rules; empty: none.
    suppressions_uri: str = ""
    # The few variables of the scanner's own environment that QScanner inherits (PATH, an emulator's
    # endpoint, the simulator's test knobs); credentials are never among them.
    qscanner_env: tuple[tuple[str, str], ...] = ()
    # The scanner's /tmp size (EPHEMERAL_STORAGE_MB, set by the templates from EphemeralStorageSize) and
    # memory (Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE), for the fit-before-fetch check (sizing.py).
    ephemeral_storage_mb: int | None = None
    memory_mb: int | None = None
    # SCAN_IDENTICAL_CODE_ONCE: functions sharing a code identity share one QScanner run (reuse.py).
    scan_identical_code_once: bool = False

    def excludes(self, tags: Mapping[str, str]) -> bool:
        """Whether a function's tags exclude it from scanning: EXCLUDE_TAG set to true, yes or 1 (any case).

        The scanner asks this of a function's tags; the coverage report's tag query asks `excludes`.
        """
        return excludes(tags, self.exclude_tag)

    def in_scope(self, account: str) -> bool:
        """Whether the scanner acts in `account`: any account without ALLOWED_ACCOUNT_IDS, else only those listed.

        The one answer the scanner (events, inventory units) and the inventory (which accounts it plans) share.
        """
        return not self.allowed_account_ids or account in self.allowed_account_ids

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `env`, reporting every missing or invalid variable in one error."""
        problems: list[str] = []

        def text(name: str, default: str = "") -> str:
            return str(env.get(name, default)).strip()

        def positive_int(name: str, default: int | None) -> int | None:
            raw = text(name)
            if not raw:
                return default
            if not raw.isdigit() or int(raw) <= 0:
                problems.append(f"{name} must be a positive integer")
                return default
            return int(raw)

        secret_arn = text("QUALYS_SECRET_ARN")
        if not secret_arn:
            problems.append("QUALYS_SECRET_ARN is required")
        scan_types = text("SCAN_TYPES", DEFAULT_SCAN_TYPES) or DEFAULT_SCAN_TYPES
        scan_types = ",".join(t.strip().lower() for t in scan_types.split(",") if t.strip())
        unknown = sorted(set(scan_types.split(",")) - SCAN_TYPES)
        if unknown:
            problems.append(
                f"SCAN_TYPES has unknown types: {','.join(unknown)} (QScanner knows {','.join(sorted(SCAN_TYPES))})"
            )
        policy_tags = ",".join(t.strip() for t in text("POLICY_TAGS").split(",") if t.strip())
        if policy_tags and not POLICY_TAGS.match(policy_tags):
            problems.append("POLICY_TAGS must be comma-separated Qualys policy tag names")
        role_name = text("CROSS_ACCOUNT_ROLE_NAME")
        if role_name and not ROLE_NAME.match(role_name):
            problems.append("CROSS_ACCOUNT_ROLE_NAME is not a valid IAM role name")
        accounts = frozenset(a.strip() for a in text("ALLOWED_ACCOUNT_IDS").split(",") if a.strip())
        if any(not ACCOUNT_ID.match(a) for a in accounts):
            problems.append("ALLOWED_ACCOUNT_IDS must be comma-separated 12-digit account ids")
        exclude_tag = text("EXCLUDE_TAG", DEFAULT_EXCLUDE_TAG) or DEFAULT_EXCLUDE_TAG
        if not TAG_KEY.match(exclude_tag):
            problems.append("EXCLUDE_TAG is not a valid tag key")
        security_hub = BOOLEANS.get(text("ENABLE_SECURITY_HUB").lower())
        if security_hub is None:
            problems.append("ENABLE_SECURITY_HUB must be true or false")
        tag_functions = BOOLEANS.get(text("TAG_FUNCTIONS", "true").lower() or "true")
        if tag_functions is None:
            problems.append("TAG_FUNCTIONS must be true or false")
        identical_once = BOOLEANS.get(text("SCAN_IDENTICAL_CODE_ONCE").lower())
        if identical_once is None:
            problems.append("SCAN_IDENTICAL_CODE_ONCE must be true or false")
        sbom = text("SBOM_FORMATS", ",".join(DEFAULT_SBOM_FORMATS))
        sbom_formats = tuple(f.strip() for f in sbom.split(",") if f.strip())
        if set(sbom_formats) - KNOWN_SBOM_FORMATS:
            problems.append("SBOM_FORMATS must list spdx and/or cyclonedx")
        ttl_days = positive_int("CACHE_TTL_DAYS", 30) or 30
        scan_timeout = positive_int("SCAN_TIMEOUT", None)
        rescan_days = positive_int("RESCAN_AFTER_DAYS", 7) or 7
        ephemeral_storage_mb = positive_int("EPHEMERAL_STORAGE_MB", None)
        memory_mb = positive_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None)
        inventory_regions = tuple(r.strip() for r in text("INVENTORY_REGIONS").split(",") if r.strip())
        if any(not REGION.match(r) for r in inventory_regions):
            problems.append("INVENTORY_REGIONS must be comma-separated AWS regions")
        inventory_spec = text("INVENTORY_ACCOUNTS")
        organization = inventory_spec.lower() == ORGANIZATION
        inventory_accounts = () if organization else tuple(a.strip() for a in inventory_spec.split(",") if a.strip())
        if any(not ACCOUNT_ID.match(a) for a in inventory_accounts):
            problems.append("INVENTORY_ACCOUNTS must be 'organization' or comma-separated 12-digit account ids")
        if organization and not role_name:
            problems.append("INVENTORY_ACCOUNTS=organization needs CROSS_ACCOUNT_ROLE_NAME to reach member accounts")
        suppressions_uri = text("SUPPRESSIONS_URI")
        if suppressions_uri and not SUPPRESSIONS_URI.match(suppressions_uri):
            problems.append("SUPPRESSIONS_URI must be s3://bucket/key")
        if problems:
            raise ConfigurationError("invalid scanner settings: " + "; ".join(problems))
        return cls(
            qualys_secret_arn=secret_arn,
            results_bucket=text("RESULTS_S3_BUCKET"),
            sns_topic_arn=text("SNS_TOPIC_ARN"),
            cache_table=text("SCAN_CACHE_TABLE"),
            cache_ttl_days=ttl_days,
            qscanner_path=text("QSCANNER_PATH", DEFAULT_QSCANNER_PATH) or DEFAULT_QSCANNER_PATH,
            scan_types=scan_types,
            scan_timeout=scan_timeout,
            cross_account_role_name=role_name,
            cross_account_external_id=text("CROSS_ACCOUNT_EXTERNAL_ID"),
            allowed_account_ids=accounts,
            exclude_tag=exclude_tag,
            security_hub=bool(security_hub),
            scan_event_bus=text("SCAN_EVENT_BUS", DEFAULT_EVENT_BUS),
            sbom_formats=sbom_formats,
            scan_queue_url=text("SCAN_QUEUE_URL"),
            rescan_after_days=rescan_days,
            inventory_regions=inventory_regions,
            tag_functions=bool(tag_functions),
            policy_tags=policy_tags,
            inventory_organization=organization,
            inventory_accounts=inventory_accounts,
            inventory_queue_url=text("INVENTORY_QUEUE_URL"),
            suppressions_uri=suppressions_uri,
            qscanner_env=tuple(
                (key, value)
                for key, value in sorted(env.items())
                if key in PASSTHROUGH_VARIABLES or key.startswith(PASSTHROUGH_PREFIX)
            ),
            ephemeral_storage_mb=ephemeral_storage_mb,
            memory_mb=memory_mb,
            scan_identical_code_once=bool(identical_once),
        )


def excludes(tags: Mapping[str, str], tag_key: str) -> bool:
    """Whether `tags` exclude a function from scanning: `tag_key` set to true, yes or 1 (any case)."""
    return str(tags.get(tag_key, "")).lower() in EXCLUDE_VALUES
