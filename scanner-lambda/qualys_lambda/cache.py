"""DynamoDB scan cache: one item per function, claimed before a scan and recorded after it."""

from __future__ import annotations

import enum
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code, is_transient
from qualys_lambda.errors import TransientError

DAY_SECONDS = 86_400
BATCH_GET_LIMIT = 100  # BatchGetItem takes at most 100 keys
BATCH_GET_ATTEMPTS = 5
# Items that record a code identity's last complete result (reuse.py) beside the per-function items.
IDENTITY_KEY_PREFIX = "identity#"
# The registry item of a function's scanned published versions (targets.py): `<function ARN>#versions`.
VERSIONS_SUFFIX = "#versions"


@dataclass(frozen=True)
class ScanIdentity:
    """What makes two scans of a function equivalent: its code and its layer versions."""

    code_sha256: str
    layers: tuple[str, ...]

    @classmethod
    def of(cls, configuration: Mapping[str, Any]) -> ScanIdentity:
        """The identity of a function configuration (GetFunction's or ListFunctions')."""
        return cls(
            code_sha256=str(configuration.get("CodeSha256", "")),
            layers=tuple(sorted(layer["Arn"] for layer in configuration.get("Layers", []))),
        )

    @property
    def key(self) -> str:
        """A short stable digest of the identity, compared in conditional writes."""
        text = "\n".join((self.code_sha256, *sorted(self.layers)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def retry_delay(attempts: int, cap_days: int) -> timedelta:
    """How long after its last attempt the inventory re-enqueues a failed code identity: 1, 2, 4, ... days
    for 1, 2, 3, ... failed requests, never more than `cap_days` (RescanAfterDays)."""
    if attempts <= 0:
        return timedelta(0)
    return timedelta(days=min(2 ** min(attempts - 1, 30), cap_days))


class Claim(enum.Enum):
    """Outcome of trying to claim a scan."""

    CLAIMED = "claimed"
    CACHED = "cache_hit"
    IN_PROGRESS = "in_progress"


class ScanCache:
    """The cache table: skip unchanged code, let one of several concurrent events scan."""

    def __init__(self, dynamodb: Any, table: str, ttl_days: int) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.ttl_days = ttl_days

    def claim(
        self, function_arn: str, identity: ScanIdentity, now: datetime, lease_seconds: int, force: bool, token: str
    ) -> Claim:
        """Claim the scan of `identity` under `token`, unless a valid scan exists or another claim is live."""
        epoch = int(now.timestamp())
        # Free to claim: no live claim on this identity (none, expired, or for other code)...
        condition = "(attribute_not_exists(claim_expires) OR claim_expires < :now OR claim_identity <> :identity)"
        if not force:
            # ...and no successful scan of this identity that is still within its TTL.
            condition += " AND NOT (scan_identity = :identity AND #status = :success AND #ttl > :now)"
        plain_values: dict[str, Any] = {
            ":identity": identity.key,
            ":now": epoch,
            ":lease": epoch + lease_seconds,
            ":token": token,
        }
        if not force:
            plain_values[":success"] = "success"
        names = {"#ttl": "ttl"} | ({} if force else {"#status": "status"})
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key_of(function_arn),
                UpdateExpression="SET claim_identity = :identity, claim_expires = :lease, claim_token = :token, "
                "#ttl = if_not_exists(#ttl, :lease)",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(plain_values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise _translate(exc, "claiming the scan") from exc
            # The condition failed: either a valid scan exists or another scan holds the claim.
            old = exc.response.get("Item")
            item = from_item(old) if old else (self.lookup(function_arn) or {})
            if not force and item.get("scan_identity") == identity.key and item.get("status") == "success":
                return Claim.CACHED
            return Claim.IN_PROGRESS
        return Claim.CLAIMED

    def lookup(self, function_arn: str) -> dict[str, Any] | None:
        """The function's cache item as plain Python values, or None."""
        try:
            response = self.dynamodb.get_item(TableName=self.table, Key=key_of(function_arn), ConsistentRead=True)
        except ClientError as exc:
            raise _translate(exc, "reading the cache") from exc
        item = response.get("Item")
        return from_item(item) if item else None

    def record(
        self, function_arn: str, identity: ScanIdentity, now: datetime, fields: Mapping[str, Any], token: str
    ) -> bool:
        """Store the scan's result, replacing the item (and so releasing the claim), if it still holds the claim.

        False when another scan has taken the claim since (the code changed and a newer scan began) or a
        deleted function's item went: this result is then superseded and the item is left as it is.
        A failed scan also records `attempts`, the failed requests for this code so far (the back-off's count).
        """
        item = {
            "function_arn": function_arn,
            "code_sha256": identity.code_sha256,
            "layers": list(identity.layers),
            "scan_identity": identity.key,
            "ttl": int(now.timestamp()) + self.ttl_days * DAY_SECONDS,
            **fields,
        }
        if fields.get("status") == "failed":
            item["attempts"] = self._attempts(function_arn, identity, str(fields.get("request_id", "")))
        try:
            # Written only while the item still carries this scan's claim token.
            self.dynamodb.put_item(
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues=to_item({":token": token}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _translate(exc, "recording the scan") from exc
        return True

    def _attempts(self, function_arn: str, identity: ScanIdentity, request_id: str) -> int:
        """Failed requests for `identity` with this one: 1 after a success or for new code (the back-off resets);
        an SQS redelivery of the request that failed last (the same id) is the same attempt."""
        # Read under this scan's claim: no other scan records this function meanwhile.
        old = self.lookup(function_arn) or {}
        if old.get("scan_identity") != identity.key or old.get("status") != "failed":
            return 1
        previous = int(old.get("attempts", 1))
        return previous if request_id and old.get("request_id") == request_id else previous + 1

    def items(self, arns: list[str], sleep: Callable[[float], None] = time.sleep) -> dict[str, dict[str, Any]]:
        """The cache items of `arns`, 100 keys a call, unprocessed keys retried a bounded number of times."""
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(arns), BATCH_GET_LIMIT):
            keys: list[dict[str, Any]] = [key_of(arn) for arn in arns[start : start + BATCH_GET_LIMIT]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                try:
                    response = self.dynamodb.batch_get_item(RequestItems={self.table: {"Keys": keys}})
                except ClientError as exc:
                    raise TransientError(f"DynamoDB failed reading the cache: {error_code(exc)}") from exc
                for item in response.get("Responses", {}).get(self.table, []):
                    plain = from_item(item)
                    items[plain["function_arn"]] = plain
                keys = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
                sleep(0.1 * 2**attempt)
            else:
                raise TransientError("DynamoDB left cache keys unprocessed")
        return items

    def mark_queued(self, function_arn: str, identity_key: str, until: datetime) -> None:
        """Remember that a scan of `identity_key` is queued until `until` (the item expires no sooner)."""
        epoch = int(until.timestamp())
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key_of(function_arn),
                UpdateExpression="SET queued_identity = :identity, queued_until = :until, "
                "#ttl = if_not_exists(#ttl, :until)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=to_item({":identity": identity_key, ":until": epoch}),
            )
        except ClientError as exc:
            raise TransientError(f"DynamoDB failed marking queued scans: {error_code(exc)}") from exc

    def holds(self, function_arn: str, token: str) -> bool:
        """Whether the claim under `token` is still this function's claim."""
        item = self.lookup(function_arn) or {}
        return bool(token) and item.get("claim_token") == token

    def release(self, function_arn: str, token: str) -> None:
        """Drop the claim under `token`, leaving any other scan's claim and the last result in place."""
        try:
            # Removed only while the item still carries this scan's claim token.
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key_of(function_arn),
                UpdateExpression="REMOVE claim_identity, claim_expires, claim_token",
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues=to_item({":token": token}),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise _translate(exc, "releasing the claim") from exc

    def forget(self, function_arn: str) -> None:
        """Delete the function's item: the function is gone or excluded from scanning."""
        try:
            self.dynamodb.delete_item(TableName=self.table, Key=key_of(function_arn))
        except ClientError as exc:
            raise _translate(exc, "deleting the cache item") from exc

    def versions(self, function_arn: str) -> set[str]:
        """The published versions of the function whose results the scanner holds (targets.py's registry)."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.table, Key=key_of(function_arn + VERSIONS_SUFFIX), ConsistentRead=True
            )
        except ClientError as exc:
            raise _translate(exc, "reading the version registry") from exc
        return set(response.get("Item", {}).get("versions", {}).get("SS", []))

    def track_version(self, function_arn: str, version: str, held: bool) -> None:
        """Add `version` to the function's registry (`held`) or remove it from there."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key_of(function_arn + VERSIONS_SUFFIX),
                UpdateExpression=f"{'ADD' if held else 'DELETE'} versions :v",
                ExpressionAttributeValues={":v": {"SS": [version]}},
            )
        except ClientError as exc:
            raise _translate(exc, "updating the version registry") from exc

    def remember_identity(self, identity: ScanIdentity, now: datetime, fields: Mapping[str, Any]) -> None:
        """Store `fields` as the last complete result of `identity` (reuse.py), replacing an older one.

        Its own item, keyed `identity#<key>` (no function ARN starts so), expiring like a function's item.
        """
        item = {
            "function_arn": identity_item_key(identity),
            "scan_identity": identity.key,
            "ttl": int(now.timestamp()) + self.ttl_days * DAY_SECONDS,
            **fields,
        }
        try:
            self.dynamodb.put_item(TableName=self.table, Item=to_item(item))
        except ClientError as exc:
            raise _translate(exc, "recording the code identity's result") from exc

    def identity_result(self, identity: ScanIdentity, now: datetime) -> dict[str, Any] | None:
        """The last complete result recorded for `identity` (`remember_identity`), None when none or expired.

        DynamoDB deletes expired items only eventually, so the TTL is checked here too.
        """
        item = self.lookup(identity_item_key(identity))
        if not item or int(item.get("ttl", 0)) <= int(now.timestamp()):
            return None
        return item


def identity_item_key(identity: ScanIdentity) -> str:
    """The cache table key of a code identity's record: cannot collide with a function ARN (arn:...)."""
    return IDENTITY_KEY_PREFIX + identity.key


def key_of(function_arn: str) -> dict[str, Any]:
    """The cache table's key of a function (the table's hash key is `function_arn`)."""
    return to_item({"function_arn": function_arn})


def _translate(exc: ClientError, action: str) -> Exception:
    if is_transient(exc):
        return TransientError(f"DynamoDB throttled {action}")
    return TransientError(f"DynamoDB failed {action}: {error_code(exc)}")


# boto3's own converters; numbers come back as Decimal, which JSON and callers want as int or float.
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _plain_number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot read {type(value).__name__} from DynamoDB")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-like dict as a DynamoDB item (floats become Decimal, as the serializer requires)."""
    decimal_ready = json.loads(json.dumps(values), parse_float=Decimal)
    return {key: _SERIALIZER.serialize(value) for key, value in decimal_ready.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict (numbers as int or float)."""
    values = {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}
    plain: dict[str, Any] = json.loads(json.dumps(values, default=_plain_number))
    return plain
