"""Event parsing: every accepted shape, every rejected one."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from qualys_lambda.deps import Deps
from qualys_lambda.errors import InvalidEventError
from qualys_lambda.events import parse_event, sqs_records
from qualys_lambda.handler import handle_one
from tests.support import ACCOUNT, load_event

ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-api"


@pytest.mark.parametrize(
    ("name", "event_name"),
    [
        ("create_function", "CreateFunction20150331"),
        ("update_function_code", "UpdateFunctionCode20150331v2"),
        ("update_function_configuration", "UpdateFunctionConfiguration20150331v2"),
    ],
)
def test_parse_event_each_cloudtrail_shape_resolves_function(name: str, event_name: str) -> None:
    request = parse_event(load_event(name))
    assert (request.function_arn, request.function_name, request.event_name) == (ARN, "orders-api", event_name)
    assert (request.account, request.region, request.partition, request.force) == (ACCOUNT, "us-east-1", "aws", False)


@pytest.mark.parametrize(
    "reference",
    [
        "orders-api",
        "orders-api:prod",
        f"{ACCOUNT}:function:orders-api",
        f"{ACCOUNT}:function:orders-api:7",
        ARN,
        f"{ARN}:$LATEST",
        f"{ARN}:live",
    ],
)
def test_parse_event_function_events_drop_qualifier(reference: str) -> None:
    event = load_event("update_function_configuration", requestParameters={"functionName": reference})
    assert parse_event(event).function_arn == ARN


@pytest.mark.parametrize(
    ("reference", "arn", "qualifier", "alias"),
    [
        (f"{ARN}:7", f"{ARN}:7", "7", ""),
        (f"{ACCOUNT}:function:orders-api:12", f"{ARN}:12", "12", ""),
        ("orders-api:3", f"{ARN}:3", "3", ""),
        (f"{ARN}:$LATEST", ARN, "", ""),
        (f"{ARN}:live", ARN, "", "live"),
        ("orders-api:v2-canary", ARN, "", "v2-canary"),
    ],
)
def test_scan_request_keeps_a_version_and_names_an_alias(reference: str, arn: str, qualifier: str, alias: str) -> None:
    event = load_event("manual_scan")
    event["detail"] = {"functionArn": reference}
    request = parse_event(event)
    assert (request.function_arn, request.qualifier, request.alias) == (arn, qualifier, alias)
    assert request.unqualified_arn == ARN


@pytest.mark.parametrize(
    ("name", "detail", "alias"),
    [
        ("create_alias", {}, "live"),
        ("update_alias", {}, "live"),
        ("delete_alias", {}, "live"),
        ("delete_alias", {"requestParameters": {"functionName": ARN, "name": "blue"}}, "blue"),
    ],
)
def test_alias_events_name_their_alias(name: str, detail: dict[str, Any], alias: str) -> None:
    request = parse_event(load_event(name, **detail))
    assert (request.alias, request.qualifier, request.function_arn) == (alias, "", ARN)


@pytest.mark.parametrize(
    "parameters",
    [{"functionName": "orders-api", "name": "7"}, {"functionName": "orders-api", "name": "a;b"}, {"name": "live"}],
)
def test_delete_alias_without_a_valid_alias_is_rejected(parameters: dict[str, str]) -> None:
    with pytest.raises(InvalidEventError, match="alias"):
        parse_event(load_event("delete_alias", requestParameters=parameters))


def test_publish_version_names_its_version_and_delete_function_a_qualifier_its_version() -> None:
    published = parse_event(load_event("publish_version"))
    deleted = parse_event(
        load_event(
            "create_function",
            eventName="DeleteFunction20150331",
            responseElements=None,
            requestParameters={"functionName": "orders-api", "qualifier": "4"},
        )
    )
    assert (published.function_arn, published.qualifier) == (f"{ARN}:1", "1")
    assert (deleted.function_arn, deleted.qualifier) == (f"{ARN}:4", "4")


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-3", "aws")]
)
def test_parse_event_partition_follows_region(region: str, partition: str) -> None:
    event = load_event("update_function_configuration")
    event["region"] = region
    request = parse_event(event)
    assert request.function_arn == f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:orders-api"


def test_parse_event_response_arn_wins_over_request_name() -> None:
    event = load_event("create_function", requestParameters={"functionName": "other"})
    assert parse_event(event).function_name == "orders-api"


def test_parse_event_manual_request_forces_scan() -> None:
    request = parse_event(load_event("manual_scan"))
    assert request.force and request.event_name == "ManualScan" and request.function_arn == ARN


def _mutated(change: Any) -> dict[str, Any]:
    event = load_event("create_function")
    change(event)
    return event


REJECTED = {
    "not-an-object": (["a"], "not a JSON object"),
    "missing-detail": (_mutated(lambda e: e.pop("detail")), "no detail"),
    "wrong-source": (_mutated(lambda e: e.update(source="aws.s3")), "source or detail-type"),
    "unknown-event-name": (_mutated(lambda e: e["detail"].update(eventName="TagResource20170331v2")), "event name"),
    "failed-api-call": (_mutated(lambda e: e["detail"].update(errorCode="AccessDenied")), "API call failed"),
    "shell-metacharacters": (
        _mutated(lambda e: e["detail"].update(responseElements=None, requestParameters={"functionName": "x;rm -rf /"})),
        "not a Lambda function",
    ),
    "other-service-arn": (
        _mutated(lambda e: e["detail"]["responseElements"].update(functionArn="arn:aws:s3:::orders-api")),
        "not a Lambda function",
    ),
    "unknown-partition": (
        _mutated(lambda e: e["detail"]["responseElements"].update(functionArn=ARN.replace("arn:aws:", "arn:aws-x:"))),
        "not a Lambda function",
    ),
    "arn-in-other-account": (
        _mutated(lambda e: e["detail"]["responseElements"].update(functionArn=ARN.replace(ACCOUNT, "999999999999"))),
        "outside the event's account",
    ),
    "no-function": (
        _mutated(lambda e: e["detail"].update(responseElements=None, requestParameters=None)),
        "names no function",
    ),
    "bad-account": (_mutated(lambda e: e.update(account="12345")), "12-digit"),
    "bad-region": (_mutated(lambda e: e.update(region="us-east-1; ls")), "not an AWS region"),
    "bad-event-id": (_mutated(lambda e: e.update(id="$(reboot)")), "event id"),
    "wrong-event-source": (_mutated(lambda e: e["detail"].update(eventSource="evil.example.com")), "event source"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_parse_event_rejects_invalid_input(case: str) -> None:
    event, message = REJECTED[case]
    with pytest.raises(InvalidEventError, match=message):
        parse_event(event)


def test_sqs_records_parses_bodies_and_ignores_other_events() -> None:
    batch = {
        "Records": [
            {"messageId": "1", "eventSource": "aws:sqs", "body": '{"a": 1}'},
            {"messageId": "2", "eventSource": "aws:sqs", "body": "{bad"},
        ]
    }
    assert sqs_records(batch) == [("1", {"a": 1}), ("2", None)]
    assert sqs_records(load_event("create_function")) is None


def test_parse_event_manual_request_for_function_in_another_account_targets_that_account() -> None:
    spoke_arn = "arn:aws:lambda:eu-west-1:222222222222:function:payments"
    request = parse_event(load_event("manual_scan", functionName=None, functionArn=spoke_arn))
    assert (request.function_arn, request.account, request.region) == (spoke_arn, "222222222222", "eu-west-1")


def test_parse_event_cloudtrail_arn_in_other_account_still_rejected() -> None:
    event = load_event("create_function")
    event["detail"]["responseElements"]["functionArn"] = ARN.replace(ACCOUNT, "222222222222")
    with pytest.raises(InvalidEventError, match="outside the event's account"):
        parse_event(event)


def _with_type(path: tuple[str, ...], value: Any, name: str = "create_function") -> dict[str, Any]:
    event = load_event(name)
    holder = event
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return event


# Every field the parser reads, given a JSON object or list where it expects a string (or an object
# where it expects one): each is rejected as bad input, never a TypeError that Lambda would retry.
WRONG_TYPES = {
    "source-object": (("source",), {"a": 1}, "create_function"),
    "source-list": (("source",), ["aws.lambda"], "create_function"),
    "detail-type-list": (("detail-type",), ["AWS API Call via CloudTrail"], "create_function"),
    "detail-list": (("detail",), [1], "create_function"),
    "account-list": (("account",), ["123456789012"], "create_function"),
    "region-object": (("region",), {"name": "us-east-1"}, "create_function"),
    "id-number-list": (("id",), [1, 2], "create_function"),
    "event-name-list": (("detail", "eventName"), ["CreateFunction20150331"], "create_function"),
    "event-source-object": (("detail", "eventSource"), {"x": "lambda.amazonaws.com"}, "create_function"),
    "error-code-object": (("detail", "errorCode"), {"code": "AccessDenied"}, "create_function"),
    "request-parameters-list": (("detail", "requestParameters"), ["orders-api"], "create_function"),
    "response-elements-string": (("detail", "responseElements"), "orders-api", "create_function"),
    "function-arn-object": (("detail", "responseElements", "functionArn"), {"arn": ARN}, "create_function"),
    "manual-source-list": (("source",), ["qualys-lambda.manual"], "manual_scan"),
    "manual-function-name-list": (("detail", "functionName"), ["orders-api"], "manual_scan"),
    "manual-function-arn-object": (("detail", "functionArn"), {}, "manual_scan"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_parse_event_field_of_wrong_json_type_rejected_as_invalid_event(case: str) -> None:
    path, value, name = WRONG_TYPES[case]
    with pytest.raises(InvalidEventError):
        parse_event(_with_type(path, value, name))


def test_handler_event_with_object_source_rejected_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = handle_one(cast(Deps, None), _with_type(("source",), {"nested": ["x"]}), 60.0)
    assert outcome == {"outcome": "rejected", "reason": "event field source is not a string"}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", "event rejected")]


def test_sqs_records_body_not_text_becomes_none() -> None:
    batch = {"Records": [{"messageId": ["1"], "eventSource": "aws:sqs", "body": {"source": "aws.lambda"}}]}
    assert sqs_records(batch) == [("", None)]
