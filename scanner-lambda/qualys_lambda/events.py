"""Raw events (EventBridge, SQS, manual) parsed and validated into scan requests."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qualys_lambda.errors import InvalidEventError

SCANNED_EVENT_NAMES = frozenset(
    {"CreateFunction20150331", "UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2"}
)
# A deleted function is never scanned: its event retires its findings and its cache item.
DELETE_EVENT_NAME = "DeleteFunction20150331"
# A published version and the aliases pointing at it (targets.py): a version an alias points to is a target.
PUBLISH_EVENT_NAME = "PublishVersion20150331"
ALIAS_EVENT_NAMES = frozenset({"CreateAlias20150331", "UpdateAlias20150331", "DeleteAlias20150331"})
HANDLED_EVENT_NAMES = SCANNED_EVENT_NAMES | {DELETE_EVENT_NAME, PUBLISH_EVENT_NAME} | ALIAS_EVENT_NAMES
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
MANUAL_SOURCE = "qualys-lambda.manual"
INVENTORY_SOURCE = "qualys-lambda.inventory"
SCAN_REQUEST_DETAIL_TYPE = "Scan Request"
INVENTORY_UNIT_DETAIL_TYPE = "Inventory Unit"
MARKER_MAX = 1024  # a ListFunctions Marker is an opaque token; anything longer is not one
REQUEST_EVENT_NAMES = {MANUAL_SOURCE: "ManualScan", INVENTORY_SOURCE: "InventoryScan"}

_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
_NAME = r"[A-Za-z0-9_-]{1,64}"
_QUALIFIER = r"(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128})"
FULL_ARN = re.compile(
    rf"^arn:(?P<partition>aws|aws-cn|aws-us-gov):lambda:(?P<region>{_REGION}):(?P<account>\d{{12}})"
    rf":function:(?P<name>{_NAME})(?::{_QUALIFIER})?$"
)
PARTIAL_ARN = re.compile(rf"^(?P<account>\d{{12}}):function:(?P<name>{_NAME})(?::{_QUALIFIER})?$")
PLAIN_NAME = re.compile(rf"^(?P<name>{_NAME})(?::{_QUALIFIER})?$")
# A published version is a number; an alias name is anything else of its pattern (AWS Lambda API
# Reference, CreateAlias: Name matches (?!^[0-9]+$)([a-zA-Z0-9-_]+), 1 to 128 characters).
VERSION = re.compile(r"^[0-9]{1,20}$")
ALIAS_NAME = re.compile(r"^(?![0-9]+$)[A-Za-z0-9_-]{1,128}$")
REGION = re.compile(rf"^{_REGION}$")
ACCOUNT = re.compile(r"^\d{12}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class ScanRequest:
    """One function to scan, with where the request came from."""

    function_arn: str
    function_name: str
    account: str
    region: str
    partition: str
    event_name: str
    event_id: str
    force: bool = False
    # The published version scanned ("" is $LATEST): `function_arn` is then the qualified ARN (targets.py).
    qualifier: str = ""
    # An alias to resolve into its target versions (targets.scan_alias) instead of one scan.
    alias: str = ""

    @property
    def unqualified_arn(self) -> str:
        """The function's ARN without a version: what its tags and its aliases belong to."""
        return function_arn(self.partition, self.region, self.account, self.function_name)


def partition_for(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def function_arn(partition: str, region: str, account: str, name: str) -> str:
    """The unqualified ARN of a function."""
    return f"arn:{partition}:lambda:{region}:{account}:function:{name}"


def resolve_qualified(reference: str, account: str, region: str) -> tuple[str, str, str, str, str]:
    """(partition, region, account, name, qualifier) of a name or ARN; `$LATEST` is no qualifier ("")."""
    if match := FULL_ARN.match(reference):
        if match["account"] != account or match["region"] != region:
            raise InvalidEventError("function ARN is outside the event's account or region")
        partition = match["partition"]
    elif match := PARTIAL_ARN.match(reference):
        if match["account"] != account:
            raise InvalidEventError("function ARN is outside the event's account")
        partition = partition_for(region)
    elif match := PLAIN_NAME.match(reference):
        partition = partition_for(region)
    else:
        raise InvalidEventError("function reference is not a Lambda function name or ARN")
    qualifier = match["qualifier"] or ""
    return partition, region, account, match["name"], "" if qualifier == "$LATEST" else qualifier


def _text(mapping: Mapping[str, Any], key: str) -> str:
    """A string field, "" when absent; any other JSON type rejects the event (never a TypeError later)."""
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidEventError(f"event field {key} is not a string")
    return value


def _object(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An object field, empty when absent or null; any other JSON type rejects the event."""
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"event field {key} is not an object")
    return value


def _request(
    reference: str, envelope: Mapping[str, Any], event_name: str, force: bool, qualified: bool = True
) -> ScanRequest:
    account, region = _text(envelope, "account"), _text(envelope, "region")
    if not ACCOUNT.match(account):
        raise InvalidEventError("event account is not a 12-digit account id")
    if not REGION.match(region):
        raise InvalidEventError("event region is not an AWS region")
    event_id = _text(envelope, "id")
    if event_id and not EVENT_ID.match(event_id):
        raise InvalidEventError("event id has unexpected characters")
    partition, region, account, name, qualifier = resolve_qualified(reference, account, region)
    unqualified_arn = function_arn(partition, region, account, name)
    version = qualifier if qualified and VERSION.match(qualifier) else ""
    alias = qualifier if qualified and ALIAS_NAME.match(qualifier) else ""
    return ScanRequest(
        function_arn=f"{unqualified_arn}:{version}" if version else unqualified_arn,
        function_name=name,
        account=account,
        region=region,
        partition=partition,
        event_name=event_name,
        event_id=event_id,
        force=force,
        qualifier=version,
        alias=alias,
    )


def _from_cloudtrail(event: Mapping[str, Any], detail: Mapping[str, Any]) -> ScanRequest:
    event_name = _text(detail, "eventName")
    if event_name not in HANDLED_EVENT_NAMES:
        raise InvalidEventError("event name is not one the scanner handles")
    if "eventSource" in detail and _text(detail, "eventSource") != "lambda.amazonaws.com":
        raise InvalidEventError("event source is not lambda.amazonaws.com")
    if _text(detail, "errorCode"):
        raise InvalidEventError("the API call failed, nothing was deployed")
    response = _object(detail, "responseElements")
    request = _object(detail, "requestParameters")
    if event_name in ALIAS_EVENT_NAMES:
        return _alias_request(event, event_name, request, response)
    reference = _text(response, "functionArn") or _text(request, "functionName")
    if not reference:
        raise InvalidEventError("event names no function")
    if event_name == DELETE_EVENT_NAME and VERSION.match(_text(request, "qualifier")):
        # DeleteFunction with a Qualifier deletes that version alone: that version's findings go.
        reference = f"{reference}:{_text(request, 'qualifier')}"
    # Function events change $LATEST (a `publish: true` response names the new version: not a target by
    # itself); PublishVersion names its version, which targets.py scans only when an alias points to it.
    keep = event_name in (PUBLISH_EVENT_NAME, DELETE_EVENT_NAME)
    return _request(reference, event, event_name, force=False, qualified=keep)


def _alias_request(
    event: Mapping[str, Any], event_name: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> ScanRequest:
    """CreateAlias/UpdateAlias name the alias in responseElements.aliasArn; DeleteAlias (no response) in
    requestParameters functionName and name (CloudTrail records the API's request and response)."""
    reference = _text(response, "aliasArn")
    if not reference:
        function, alias = _text(request, "functionName"), _text(request, "name")
        if not function or not ALIAS_NAME.match(alias):
            raise InvalidEventError("alias event names no function and alias")
        reference = f"{function}:{alias}"
    parsed = _request(reference, event, event_name, force=False)
    if not parsed.alias:
        raise InvalidEventError("alias event names no alias")
    return parsed


def _from_scan_request(event: Mapping[str, Any], detail: Mapping[str, Any]) -> ScanRequest:
    reference = _text(detail, "functionArn") or _text(detail, "functionName")
    if not reference:
        raise InvalidEventError("scan request names no function")
    # A manual request is a user asking for a scan now: it bypasses the cache unless told otherwise.
    force = detail.get("force", event.get("source") == MANUAL_SOURCE)
    if not isinstance(force, bool):
        raise InvalidEventError("scan request's force must be true or false")
    # A request names its function by full ARN when the function lives elsewhere (a hub scanning a
    # spoke): the ARN, not the account the request was sent from, says where to scan. The scanner
    # still checks ALLOWED_ACCOUNT_IDS and whether it can reach that account.
    if match := FULL_ARN.match(reference):
        event = {**event, "account": match["account"], "region": match["region"]}
    return _request(reference, event, REQUEST_EVENT_NAMES[_text(event, "source")], force=force)


def scan_request_event(function_arn: str, account: str, region: str, force: bool, event_id: str) -> dict[str, Any]:
    """The inventory's scan request, shaped like an EventBridge event so one parser serves all."""
    return {
        "version": "0",
        "id": event_id,
        "source": INVENTORY_SOURCE,
        "detail-type": SCAN_REQUEST_DETAIL_TYPE,
        "account": account,
        "region": region,
        "detail": {"functionArn": function_arn, "force": force},
    }


@dataclass(frozen=True)
class InventoryUnit:
    """One (account, region) of an inventory, resumed from `marker` when a previous part ran short of time."""

    account: str
    region: str
    marker: str = ""
    inventory_id: str = ""
    part: int = 0


def inventory_unit_event(unit: InventoryUnit, event_id: str) -> dict[str, Any]:
    """The queue message of an inventory unit, shaped like the scan requests it sits next to."""
    return {
        "version": "0",
        "id": event_id,
        "source": INVENTORY_SOURCE,
        "detail-type": INVENTORY_UNIT_DETAIL_TYPE,
        "account": unit.account,
        "region": unit.region,
        "detail": {"marker": unit.marker, "inventoryId": unit.inventory_id, "part": unit.part},
    }


def parse_inventory_unit(event: Any) -> InventoryUnit | None:
    """The inventory unit `event` carries, or None when it is not one; a malformed unit is bad input."""
    if not isinstance(event, Mapping) or event.get("detail-type") != INVENTORY_UNIT_DETAIL_TYPE:
        return None
    if event.get("source") != INVENTORY_SOURCE:
        raise InvalidEventError("inventory unit from an unexpected source")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("inventory unit has no detail object")
    account, region = _text(event, "account"), _text(event, "region")
    marker, inventory_id, part = _text(detail, "marker"), _text(detail, "inventoryId"), detail.get("part", 0)
    if not ACCOUNT.match(account) or not REGION.match(region):
        raise InvalidEventError("inventory unit's account or region is malformed")
    if len(marker) > MARKER_MAX or (inventory_id and not EVENT_ID.match(inventory_id)):
        raise InvalidEventError("inventory unit's marker or id is malformed")
    if not isinstance(part, int) or isinstance(part, bool) or part < 0:
        raise InvalidEventError("inventory unit's part must be a non-negative integer")
    return InventoryUnit(account, region, marker, inventory_id, part)


def is_schedule(event: Any) -> bool:
    """Whether `event` is the inventory's EventBridge schedule."""
    return (
        isinstance(event, Mapping)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


def parse_event(event: Any) -> ScanRequest:
    """Validate one EventBridge event (CloudTrail or manual) into a scan request."""
    if not isinstance(event, Mapping):
        raise InvalidEventError("event is not a JSON object")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event has no detail object")
    source, detail_type = _text(event, "source"), _text(event, "detail-type")
    if source == "aws.lambda" and detail_type == CLOUDTRAIL_DETAIL_TYPE:
        return _from_cloudtrail(event, detail)
    if source in REQUEST_EVENT_NAMES and detail_type == SCAN_REQUEST_DETAIL_TYPE:
        return _from_scan_request(event, detail)
    raise InvalidEventError("event source or detail-type is not one the scanner handles")


def sqs_records(event: Any) -> list[tuple[str, Any]] | None:
    """(messageId, parsed body) of each SQS record, or None when `event` is not an SQS batch."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        return None
    records: list[tuple[str, Any]] = []
    for record in event["Records"]:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:sqs":
            return None
        raw, message_id = record.get("body"), record.get("messageId")
        # A body that is not JSON text becomes None, which parse_event rejects with one log line.
        try:
            body: Any = json.loads(raw) if isinstance(raw, str) else None
        except json.JSONDecodeError:
            body = None
        records.append((message_id if isinstance(message_id, str) else "", body))
    return records
