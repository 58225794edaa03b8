"""Published versions behind aliases as scan targets (issue 22).

The targets of a function are `$LATEST` (its unqualified ARN) and every published version an alias
points to, both versions of a weighted alias included (AliasConfiguration's FunctionVersion and
RoutingConfig.AdditionalVersionWeights, AWS Lambda API Reference). A version no alias points to is not
scanned; when the last alias leaves a version, its findings are archived and its cache item deleted.

The versions scanned are remembered in one registry item of the cache table (`<function ARN>#versions`,
a string set), so an alias that moves away (UpdateAlias, DeleteAlias: CloudTrail does not say from
where) still finds the versions to retire. Without a cache table there is no registry: a version is
then retired only when a request for it finds no alias (the inventory's rows, a manual scan).

Lambda tags belong to the function: TagResource takes the function's ARN, and "Lambda does not support
adding tags to aliases or versions" (AWS Lambda API Reference, TagResource and ListTags). The tags
report the worst status and the newest scan across the function's targets (`tag_targets`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from qualys_lambda import publish
from qualys_lambda.aws import Target, error_code, is_transient
from qualys_lambda.cache import VERSIONS_SUFFIX, ScanCache
from qualys_lambda.errors import DestinationError, FunctionGoneError, InvalidEventError, ScannerError, TransientError
from qualys_lambda.events import VERSION, ScanRequest

if TYPE_CHECKING:
    from qualys_lambda.deps import Deps
    from qualys_lambda.scan import Scanner

logger = logging.getLogger(__name__)

# Worst first: the function's QualysScanStatus is the worst of its targets' last results.
STATUS_RANK = {"failed": 3, "partial": 2, "success": 1}


def _call(action: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One Lambda read; a vanished function is FunctionGoneError, throttling transient."""
    try:
        return call()
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise FunctionGoneError(f"{action}: not found") from exc
        if is_transient(exc):
            raise TransientError(f"{action} was throttled") from exc
        raise ScannerError(f"{action} failed: {code}") from exc


def versions_of(alias: dict[str, Any]) -> list[str]:
    """The versions an alias routes to: its FunctionVersion and, during a weighted shift, the other one."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    versions = [str(alias.get("FunctionVersion", "")), *(str(v) for v in weights)]
    # An alias may point at $LATEST, which is the unqualified target already.
    return [v for v in dict.fromkeys(versions) if VERSION.match(v)]


def alias_targets(
    lambda_client: Any, function_name: str, pace: Callable[[], None] = lambda: None
) -> dict[str, tuple[str, ...]]:
    """Version -> the names of the aliases pointing to it, from every ListAliases page.

    The function is named by its name: `lambda_client` is already in the function's account and region.
    """
    targets: dict[str, list[str]] = {}
    marker = ""
    while True:
        pace()
        kwargs: dict[str, str] = {"FunctionName": function_name, **({"Marker": marker} if marker else {})}
        page = _call("ListAliases", lambda: lambda_client.list_aliases(**kwargs))  # noqa: B023 - called at once
        for alias in page.get("Aliases", []):
            for version in versions_of(alias):
                targets.setdefault(version, []).append(str(alias.get("Name", "")))
        marker = page.get("NextMarker") or ""
        if not marker:
            return {version: tuple(sorted(names)) for version, names in targets.items()}


def alias_versions(lambda_client: Any, function_name: str, alias: str) -> list[str]:
    """The versions `alias` points to now (GetAlias); none once the alias is deleted."""
    try:
        return versions_of(_call("GetAlias", lambda: lambda_client.get_alias(FunctionName=function_name, Name=alias)))
    except FunctionGoneError:
        return []


def version_request(request: ScanRequest, version: str) -> ScanRequest:
    """The request for one published version of `request`'s function."""
    return replace(request, function_arn=f"{request.unqualified_arn}:{version}", qualifier=version, alias="")


def path_name(request: ScanRequest) -> str:
    """The function's segment of the S3 prefix: `name` for $LATEST, `name:7` for version 7."""
    return f"{request.function_name}:{request.qualifier}" if request.qualifier else request.function_name


# ---------------------------------------------------------------- the registry of scanned versions
def tracked(cache: ScanCache, function_arn: str) -> set[str]:
    """The versions of the function whose results the scanner holds (the registry lives in cache.py)."""
    return cache.versions(function_arn)


# ---------------------------------------------------------------- the scanner's hooks
def check_version(scanner: Scanner, request: ScanRequest, target: Target) -> dict[str, Any] | None:
    """None when an alias points to the requested version (it is then remembered); otherwise it is not a
    target: its findings and cache item are retired and this is the outcome."""
    aliases = alias_targets(target.client("lambda"), request.function_name).get(request.qualifier, ())
    cache = scanner.deps.cache
    if aliases:
        if cache is not None:
            cache.track_version(request.unqualified_arn, request.qualifier, held=True)
        return None
    archived = scanner._retire(request, target)
    outcome = {"outcome": "not_alias_target", "function_arn": request.function_arn, "archived": archived}
    logger.info("scan skipped", extra={**outcome, "event_id": request.event_id, "trigger": request.event_name})
    return outcome


def retired(scanner: Scanner, request: ScanRequest, target: Target) -> int:
    """After `Scanner._retire` of a target: a version leaves the registry; a function (gone or excluded)
    takes its remembered versions with it. Returns the findings archived here."""
    cache = scanner.deps.cache
    if not request.qualifier:
        return retire_versions(scanner, request, target)
    if cache is not None:
        cache.track_version(request.unqualified_arn, request.qualifier, held=False)
    return 0


def retire_versions(scanner: Scanner, request: ScanRequest, target: Target, keep: frozenset[str] = frozenset()) -> int:
    """Retire every remembered version of the function but `keep`; all of them (and the registry) when the
    function is gone or excluded."""
    cache = scanner.deps.cache
    if cache is None:
        return 0
    archived = 0
    for version in sorted(tracked(cache, request.unqualified_arn) - keep):
        archived += scanner._retire(version_request(request, version), target)
    if not keep:
        cache.forget(request.unqualified_arn + VERSIONS_SUFFIX)
    return archived


def scan_alias(scanner: Scanner, request: ScanRequest, remaining_s: Callable[[], float]) -> dict[str, Any]:
    """An alias event or request: scan the versions the alias points to, then retire the versions no alias
    points to any more (the alias moved away or was deleted)."""
    if not scanner.deps.settings.in_scope(request.account):
        raise InvalidEventError("event account is not in ALLOWED_ACCOUNT_IDS")
    if request.unqualified_arn == scanner.deps.own_function_arn:
        raise InvalidEventError("the scanner does not scan itself")
    target = scanner.deps.aws.target(request.account, request.region)
    lambda_client = target.client("lambda")
    try:
        versions = alias_versions(lambda_client, request.function_name, request.alias)
        live = frozenset(alias_targets(lambda_client, request.function_name))
    except FunctionGoneError:
        # The function is gone with its aliases: its DeleteFunction event retires it and its versions.
        return {"outcome": "retired", "function_arn": request.unqualified_arn, "alias": request.alias}
    scans: list[dict[str, Any]] = []
    failure: Exception | None = None
    for version in versions:
        try:
            scans.append(scanner.scan(version_request(request, version), remaining_s()))
        except Exception as exc:  # the other version and the retirement still run; raised below
            failure = failure or exc
            scans.append({"outcome": "failed"})
    cache = scanner.deps.cache
    left = sorted(tracked(cache, request.unqualified_arn) - live) if cache is not None else []
    archived = retire_versions(scanner, request, target, keep=live)
    if failure is not None:
        raise failure  # SQS retries the event: the versions already scanned are cache hits then
    if scanner.deps.settings.tag_functions and left:
        try:
            retag(scanner.deps, target, request)  # a retired version no longer counts in the function's tags
        except DestinationError as exc:
            logger.error("delivery failed", extra={"function_arn": request.unqualified_arn, "error": str(exc)})
    outcome = {
        "outcome": "alias",
        "function_arn": request.unqualified_arn,
        "alias": request.alias,
        "versions": versions,
        "scans": [s.get("outcome", "") for s in scans],
        "retired": left,
        "archived": archived,
    }
    logger.info("alias handled", extra={**outcome, "event_id": request.event_id, "trigger": request.event_name})
    return outcome


# ---------------------------------------------------------------- the function's tags
def target_results(deps: Deps, target: Target, request: ScanRequest) -> list[tuple[str, str, str]]:
    """(timestamp, status, scan id) of the last result of each of the function's targets but `request`'s,
    from their cache items; none without a cache or when the aliases cannot be read."""
    cache = deps.cache
    if cache is None:
        return []
    base = request.unqualified_arn
    try:
        versions = alias_targets(target.client("lambda"), request.function_name)
        arns = [base, *(f"{base}:{v}" for v in sorted(versions))]
        items = cache.items([arn for arn in arns if arn != request.function_arn])
    except ScannerError as exc:
        logger.warning("other targets unread for tags", extra={"function_arn": base, "error": str(exc)})
        return []
    return [
        (str(i.get("scan_timestamp", "")), str(i.get("status", "")), str(i.get("scan_id", "")))
        for i in items.values()
        if i.get("status") in STATUS_RANK and i.get("scan_timestamp")
    ]


def combine(results: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """(newest timestamp, worst status, scan id of the newest scan) of the targets' results."""
    newest = max(results, key=lambda r: r[0])
    worst = max(results, key=lambda r: STATUS_RANK.get(r[1], 0))
    return newest[0], worst[1], newest[2]


def tag_targets(
    deps: Deps, target: Target, request: ScanRequest, timestamp: str, status: str, scan_id: str, policy: str
) -> None:
    """Tag the function (never a version) with this scan combined with its other targets' last results."""
    newest, worst, newest_id = combine([(timestamp, status, scan_id), *target_results(deps, target, request)])
    publish.tag_function(target.client("lambda"), request.unqualified_arn, newest, worst, newest_id, policy)


def retag(deps: Deps, target: Target, request: ScanRequest) -> None:
    """Tag the function from its targets' cache items alone (after a version was retired)."""
    results = target_results(deps, target, replace(request, function_arn=""))
    if results:
        newest, worst, newest_id = combine(results)
        publish.tag_function(target.client("lambda"), request.unqualified_arn, newest, worst, newest_id)
