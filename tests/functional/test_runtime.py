"""local/runtime.py, the platform the demo, tests and bench share: routing, Lambda's poller, a deployed function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from local.runtime import LambdaContext, PlatformError
from tests.support import ACCOUNT, REGION, create_function

CLOUDTRAIL_PATTERN = {
    "source": ["aws.lambda"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventName": ["CreateFunction20150331"], "errorCode": [{"exists": False}]},
}
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"


@pytest.fixture
def session(mocked_aws: None) -> Any:
    return boto3.Session(region_name=REGION)


def rule_to_queue(session: Any, name: str, pattern: dict[str, Any]) -> str:
    """A rule on the default bus with an SQS target; returns the queue's URL."""
    sqs, events = session.client("sqs"), session.client("events")
    url = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": runtime.queue_arn(sqs, url)}])
    return str(url)


def test_route_sends_matching_event_to_rule_queue_with_its_envelope(session: Any) -> None:
    url = rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
    event = runtime.cloudtrail_event("CreateFunction20150331", FUNCTION_ARN)

    routed = runtime.route(session, event)

    (body,) = runtime.bodies(runtime.receive_all(session.client("sqs"), url))
    assert routed.rules == ["create"] and routed.functions == []
    assert body == event and body["account"] == ACCOUNT
    assert body["detail"]["responseElements"]["functionArn"] == FUNCTION_ARN


def test_route_skips_failed_call_and_other_event_names(session: Any) -> None:
    url = rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
    failed = runtime.cloudtrail_event("CreateFunction20150331", FUNCTION_ARN)
    failed["detail"]["errorCode"] = "AccessDeniedException"
    other = runtime.cloudtrail_event("DeleteFunction20150331", FUNCTION_ARN)

    routed = [runtime.route(session, failed), runtime.route(session, other)]

    assert [r.rules for r in routed] == [[], []]
    assert runtime.receive_all(session.client("sqs"), url) == []


def test_route_lists_lambda_targets_instead_of_invoking(session: Any) -> None:
    events = session.client("events")
    events.put_rule(Name="manual", EventPattern=json.dumps({"source": ["qualys-lambda.manual"]}))
    events.put_targets(Rule="manual", Targets=[{"Id": "fn", "Arn": FUNCTION_ARN}])
    event = runtime.envelope("qualys-lambda.manual", "Scan Request", {"functionName": "x"}, ACCOUNT, REGION)

    assert runtime.route(session, event).functions == [FUNCTION_ARN]


def send(session: Any, name: str, bodies: list[str]) -> str:
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    return runtime.queue_arn(sqs, url)


def test_poll_deletes_handled_messages_and_redelivers_reported_failures(session: Any) -> None:
    queue = send(session, "scans", ["ok", "fail"])
    seen: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append([r["body"] for r in event["Records"]])
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "fail"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    first = runtime.poll(session, queue, handler, LambdaContext(FUNCTION_ARN), batch_size=10)
    second = runtime.poll(session, queue, handler, LambdaContext(FUNCTION_ARN), batch_size=10)

    assert first is not None and second is not None
    assert sorted(seen[0]) == ["fail", "ok"] and seen[1] == ["fail"]
    assert len(first.deleted) == 1 and first.redelivered == second.redelivered


def test_poll_batch_carries_queue_arn_and_receive_count(session: Any) -> None:
    queue = send(session, "scans", ["a"])
    batches: list[dict[str, Any]] = []

    def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        batches.append(event)
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    runtime.poll(session, queue, failing, LambdaContext(FUNCTION_ARN))
    runtime.poll(session, queue, failing, LambdaContext(FUNCTION_ARN))

    records = [b["Records"][0] for b in batches]
    assert [r["eventSourceARN"] for r in records] == [queue, queue]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["1", "2"]


def test_poll_handler_exception_leaves_batch_on_queue(session: Any) -> None:
    queue = send(session, "scans", ["a"])

    def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        runtime.poll(session, queue, crash, LambdaContext(FUNCTION_ARN))

    sqs = session.client("sqs")
    assert [m["Body"] for m in runtime.receive_all(sqs, runtime.queue_url(sqs, queue))] == ["a"]


def test_poll_empty_queue_invokes_nothing(session: Any) -> None:
    queue = send(session, "empty", [])

    assert runtime.poll(session, queue, lambda event, context: {}, LambdaContext(FUNCTION_ARN)) is None


def test_lambda_context_counts_down_from_its_budget() -> None:
    now = [100.0]
    context = LambdaContext(FUNCTION_ARN, remaining_ms=5_000, clock=lambda: now[0])
    now[0] += 2.0

    assert context.get_remaining_time_in_millis() == 3_000
    assert context.function_name == "orders-api"


def test_scheduled_event_names_its_rule() -> None:
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/inventory"

    event = runtime.scheduled_event(rule)

    assert (event["source"], event["detail-type"], event["resources"]) == ("aws.events", "Scheduled Event", [rule])
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)


HANDLER_CODE = {
    "main.py": (
        "import json, logging, os\n"
        "def run(event, context):\n"
        "    logging.getLogger('fn').info('seen', extra={'outcome': event['n'] * 2})\n"
        "    return {'n': event['n'], 'budget_ok': 0 < context.get_remaining_time_in_millis() <= 60000,\n"
        "            'arn': context.invoked_function_arn, 'marker': os.environ.get('MARKER', '')}\n"
    )
}


def test_deployed_function_runs_its_zip_in_a_child_process_with_context_and_logs(session: Any, tmp_path: Path) -> None:
    code = runtime.zip_bytes(HANDLER_CODE)
    iam = session.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName="worker", Runtime="python3.12", Role=role, Handler="main.run", Code={"ZipFile": code}
    )
    layer = runtime.zip_bytes({"bin/tool": "#!/bin/sh\n"})
    function = runtime.DeployedFunction.fetch(session, "worker", code, layer, tmp_path)
    function.environment["MARKER"] = "set"

    result = function({"n": 21}, LambdaContext(function.configuration["FunctionArn"], remaining_ms=60_000))

    assert result == {"n": 21, "budget_ok": True, "arn": function.configuration["FunctionArn"], "marker": "set"}
    assert {"level": "INFO", "logger": "fn", "message": "seen", "outcome": 42}.items() <= (
        function.invocations[-1].logs[-1].items()
    )
    assert (tmp_path / "opt" / "bin" / "tool").is_file()


def test_deployed_function_refuses_code_that_is_not_deployed(session: Any, resources: Any, tmp_path: Path) -> None:
    create_function("worker", role_arn=resources.role_arn)

    with pytest.raises(PlatformError, match="not worker's deployed code"):
        runtime.DeployedFunction.fetch(session, "worker", runtime.zip_bytes({"x.py": ""}), b"", tmp_path)


def test_set_aside_lambda_targets_keeps_queue_targets(session: Any) -> None:
    rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
    events = session.client("events")
    events.put_rule(Name="inventory", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="inventory", Targets=[{"Id": "fn", "Arn": FUNCTION_ARN}])

    removed = runtime.set_aside_lambda_targets(session)

    assert removed == [("inventory", ["fn"])]
    assert events.list_targets_by_rule(Rule="inventory")["Targets"] == []
    assert len(events.list_targets_by_rule(Rule="create")["Targets"]) == 1


def test_cache_item_reads_plain_values(session: Any, resources: Any) -> None:
    key = {"function_arn": {"S": FUNCTION_ARN}}
    session.client("dynamodb").put_item(TableName=resources.table, Item={**key, "status": {"S": "success"}})

    assert runtime.cache_item(session, resources.table, key) == {"function_arn": FUNCTION_ARN, "status": "success"}
    assert runtime.cache_item(session, resources.table, {"function_arn": {"S": "other"}}) == {}
