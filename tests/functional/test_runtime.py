"""local/runtime.py, the platform the demo, tests and bench share: routing, Lambda's poller, a deployed function."""

from __future__ import annotations

import json
import logging
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


def test_route_sends_matching_event_to_rule_queue_with_its_envelope(session: Any) -> None:
    url = runtime.rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
    event = runtime.cloudtrail_event("CreateFunction20150331", FUNCTION_ARN)

    routed = runtime.route(session, event)

    (body,) = runtime.bodies(runtime.receive_all(session.client("sqs"), url))
    assert routed.rules == ["create"] and routed.functions == []
    assert body == event and body["account"] == ACCOUNT
    assert body["detail"]["responseElements"]["functionArn"] == FUNCTION_ARN


def test_route_skips_failed_call_and_other_event_names(session: Any) -> None:
    url = runtime.rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
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
        "            'arn': context.invoked_function_arn, 'marker': os.environ.get('MARKER', ''),\n"
        "            'tool': os.environ.get('TOOL', '')}\n"
    )
}


def test_deployed_function_runs_its_zip_in_a_child_process_with_context_and_logs(session: Any, tmp_path: Path) -> None:
    code = runtime.zip_bytes(HANDLER_CODE)
    iam = session.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName="worker",
        Runtime="python3.12",
        Role=role,
        Handler="main.run",
        Code={"ZipFile": code},
        Environment={"Variables": {"MARKER": "set", "TOOL": "/opt/bin/tool"}},
    )
    layer = runtime.zip_bytes({"bin/tool": "#!/bin/sh\n"})
    function = runtime.DeployedFunction.fetch(session, "worker", code, layer, tmp_path)

    result = function({"n": 21}, LambdaContext(function.configuration["FunctionArn"], remaining_ms=60_000))

    arn = function.configuration["FunctionArn"]
    # Lambda mounts the layer at /opt: the function's /opt paths lead into the extracted layer.
    tool = str(tmp_path / "opt" / "bin" / "tool")
    assert result == {"n": 21, "budget_ok": True, "arn": arn, "marker": "set", "tool": tool}
    assert {"level": "INFO", "logger": "fn", "message": "seen", "outcome": 42}.items() <= (
        function.invocations[-1].logs[-1].items()
    )
    assert (tmp_path / "opt" / "bin" / "tool").is_file()


def test_deployed_function_refuses_code_that_is_not_deployed(session: Any, resources: Any, tmp_path: Path) -> None:
    create_function("worker", role_arn=resources.role_arn)

    with pytest.raises(PlatformError, match="not worker's deployed code"):
        runtime.DeployedFunction.fetch(session, "worker", runtime.zip_bytes({"x.py": ""}), b"", tmp_path)


def test_set_aside_lambda_targets_keeps_queue_targets(session: Any) -> None:
    runtime.rule_to_queue(session, "create", CLOUDTRAIL_PATTERN)
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


def outcome_logging_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler that logs an outcome line per message, as the scanner's does, and fails the body "fail"."""
    failures = []
    for record in event["Records"]:
        failed = record["body"] == "fail"
        outcome = {"message_id": record["messageId"], "outcome": "failed" if failed else "done", "n": 1}
        logging.getLogger("fn").info(runtime.OUTCOME_MESSAGE, extra=outcome)
        failures += [{"itemIdentifier": record["messageId"]}] if failed else []
    return {"batchItemFailures": failures}


def test_drain_returns_each_messages_outcome_line_until_the_queue_is_empty(session: Any) -> None:
    queue = send(session, "scans", ["a", "b", "c"])
    contexts: list[Any] = []  # the objects, not their id(): a freed context's id can be reused

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        contexts.append(context)
        return outcome_logging_handler(event, context)

    polls = runtime.drain(session, queue, handler, lambda: LambdaContext(FUNCTION_ARN))

    outcomes = [o for p in polls for o in p.outcomes]
    assert len(polls) == 3 and len({id(c) for c in contexts}) == 3
    assert sorted(o["message_id"] for o in outcomes) == sorted(m for p in polls for m in p.deleted)
    assert {(o["outcome"], o["n"], o["logger"]) for o in outcomes} == {("done", 1, "fn")}
    sqs = session.client("sqs")
    assert runtime.receive_all(sqs, runtime.queue_url(sqs, queue)) == []


def test_drain_stops_on_a_failed_message_and_leaves_it_on_the_queue(session: Any) -> None:
    queue = send(session, "scans", ["fail"])

    with pytest.raises(PlatformError, match='"outcome": "failed"'):
        runtime.drain(session, queue, outcome_logging_handler, lambda: LambdaContext(FUNCTION_ARN))

    sqs = session.client("sqs")
    assert [m["Body"] for m in runtime.receive_all(sqs, runtime.queue_url(sqs, queue))] == ["fail"]


QUEUE_TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "stacked"}}},
}


def test_stack_read_takes_outputs_moto_did_not_compute_from_the_resources(session: Any) -> None:
    session.client("cloudformation").create_stack(StackName="plain", TemplateBody=json.dumps(QUEUE_TEMPLATE))
    notes: list[str] = []

    stack = runtime.Stack.read(session, "plain", {"QueueUrl": "Queue"}, on_note=notes.append)

    url = session.client("sqs").get_queue_url(QueueName="stacked")["QueueUrl"]
    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs == {"QueueUrl": url} and stack.physical_ids == {"Queue": url}
    assert stack.queue_arn("QueueUrl") == f"arn:aws:sqs:{REGION}:{ACCOUNT}:stacked"
    assert notes and "no stack outputs" in notes[0]
