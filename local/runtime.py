"""The AWS platform around the scanner, played on moto for local runs (`make demo`, tests, bench).

moto stores resources but does not run them: it emits no CloudTrail events, fires no schedules,
polls no queues and runs no Lambda functions. This module does those parts the way AWS does, on top
of any moto (in-process `mock_aws` or a moto server on 127.0.0.1): it routes an event through the
deployed EventBridge rules (their own event patterns) to their targets, hands SQS batches to a
handler with a Lambda-like context and deletes or redelivers messages as Lambda's poller does after
`ReportBatchItemFailures`, builds the schedule's event, runs deployed handler code in a child process
as the Lambda Python runtime would, and reads results back. It knows nothing of the scanner's
findings: callers interpret what they read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parents[1]
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
SERVER_START_S = 30
# Lambda's maximum timeout (AWS Lambda quotas page): the default invocation budget.
LAMBDA_MAX_TIMEOUT_MS = 900_000
# SQS ReceiveMessage returns at most 10 messages per call (Amazon SQS quotas).
SQS_RECEIVE_MAX = 10
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class PlatformError(Exception):
    """The local platform could not do what AWS would have done."""


# ---------------------------------------------------------------- the emulator
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def moto_server(log_path: Path | None = None, region: str = "us-east-1") -> Iterator[tuple[str, int, int]]:
    """A moto server on 127.0.0.1 and a free port: yields (url, port, pid); stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **FAKE_CREDENTIALS, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)  # noqa: S310 - our own http://127.0.0.1
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text()[-500:] if log_path else ""
                    raise PlatformError(f"the moto server did not start {tail}") from None
                time.sleep(0.1)
        yield url, port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if log_path and not isinstance(log, int):
            log.close()


# ---------------------------------------------------------------- code packages
def zip_bytes(files: Mapping[str, str]) -> bytes:
    """A zip package of path -> text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in sorted(files.items()):
            archive.writestr(name, text)
    return buffer.getvalue()


def lambda_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 of a zip: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def extract_zip(data: bytes, target: Path) -> None:
    """Extract like Lambda does, keeping the unix modes (zipfile.extractall drops the executable bit)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = (target / info.filename).resolve()
            if not path.is_relative_to(target.resolve()):
                raise PlatformError(f"zip entry escapes the target directory: {info.filename}")
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


# ---------------------------------------------------------------- events
def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    account: str,
    region: str,
    resources: list[str] | None = None,
) -> dict[str, Any]:
    """The event EventBridge delivers to a target for an entry put on a bus."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": now_iso(),
        "region": region,
        "resources": list(resources or []),
        "detail": dict(detail),
    }


def cloudtrail_event(
    event_name: str, function_arn: str, extra: Mapping[str, Any] | None = None, user: str = "local-developer"
) -> dict[str, Any]:
    """The EventBridge event of a successful Lambda management call, as CloudTrail writes it."""
    _, _, _, region, account, _, name = function_arn.split(":")[:7]
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": account, "userName": user},
        "eventTime": now_iso(),
        "eventSource": "lambda.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/local",
        "requestParameters": {"functionName": name, **(extra or {})},
        "responseElements": {"functionName": name, "functionArn": function_arn},
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return envelope("aws.lambda", CLOUDTRAIL_DETAIL_TYPE, detail, account, region)


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """The event a schedule rule sends its target when it fires."""
    region, account = rule_arn.split(":")[3:5]
    return envelope("aws.events", "Scheduled Event", {}, account, region, [rule_arn])


@dataclass
class Routed:
    """Where EventBridge sent an event: the rules that matched and their targets by kind."""

    rules: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    buses: list[str] = field(default_factory=list)


def matches(pattern: str, event: Mapping[str, Any]) -> bool:
    """Whether an event pattern (JSON text) matches the event, by the emulator's own matcher."""
    return bool(EventPattern.load(pattern).matches_event(dict(event)))


def route(session: Any, event: Mapping[str, Any], bus: str = "default") -> Routed:
    """Send `event` to the targets of every enabled rule of `bus` whose pattern matches, as EventBridge does.

    SQS targets receive the event; Lambda and event-bus targets are returned (moto cannot invoke a
    function, and a forward crosses accounts the caller holds the sessions of).
    """
    events, sqs = session.client("events"), session.client("sqs")
    routed = Routed()
    for page in events.get_paginator("list_rules").paginate(EventBusName=bus):
        for rule in page["Rules"]:
            pattern = rule.get("EventPattern")
            if not pattern or rule.get("State", "ENABLED") != "ENABLED" or not matches(pattern, event):
                continue
            routed.rules.append(rule["Name"])
            for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]:
                arn = target["Arn"]
                service = arn.split(":")[2]
                if service == "sqs":
                    sqs.send_message(QueueUrl=queue_url(sqs, arn), MessageBody=json.dumps(event))
                    routed.queues.append(arn)
                elif service == "lambda":
                    routed.functions.append(arn)
                elif service == "events":
                    routed.buses.append(arn)
    return routed


# ---------------------------------------------------------------- SQS and Lambda's poller
def queue_url(sqs: Any, queue_arn: str) -> str:
    """The URL of a queue given its ARN."""
    account, name = queue_arn.split(":")[4:6]
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def queue_arn(sqs: Any, url: str) -> str:
    """The ARN of a queue given its URL."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def receive_all(sqs: Any, url: str, delete: bool = True) -> list[dict[str, Any]]:
    """Every message now on the queue; deleted unless `delete` is false (then they become visible again)."""
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=SQS_RECEIVE_MAX).get("Messages", []):
        messages += batch
    for message in messages:
        if delete:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        else:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return messages


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON bodies of SQS messages."""
    return [json.loads(m["Body"]) for m in messages]


def sqs_batch(messages: list[dict[str, Any]], source_arn: str, receive_count: int = 1) -> dict[str, Any]:
    """The event Lambda's SQS poller invokes a function with for these received messages."""
    region = source_arn.split(":")[3]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {
                "ApproximateReceiveCount": str(receive_count),
                "SentTimestamp": str(int(time.time() * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": source_arn,
            "awsRegion": region,
        }
        for m in messages
    ]
    return {"Records": records}


def bodies_batch(bodies_: list[Mapping[str, Any]], source_arn: str) -> dict[str, Any]:
    """An SQS batch of these bodies without a queue (message ids m-0, m-1, ...)."""
    messages = [
        {"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": json.dumps(b)} for i, b in enumerate(bodies_)
    ]
    return sqs_batch(messages, source_arn)


@dataclass
class LambdaContext:
    """The parts of Lambda's context object a handler reads; the remaining time counts down on `clock`."""

    invoked_function_arn: str
    remaining_ms: int = LAMBDA_MAX_TIMEOUT_MS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    @property
    def function_name(self) -> str:
        return self.invoked_function_arn.split(":")[6]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.remaining_ms - (self.clock() - self._started) * 1000))


@dataclass
class Poll:
    """One batch Lambda's poller handed to the handler, and what became of its messages."""

    result: dict[str, Any]
    delivered: list[str]
    deleted: list[str]
    redelivered: list[str]


def poll(
    session: Any, source_arn: str, handler: Handler, context: Any, batch_size: int = 1, wait_s: int = 0
) -> Poll | None:
    """What Lambda's SQS event source mapping does once: receive a batch, invoke, settle the messages.

    With ReportBatchItemFailures the messages the handler lists in `batchItemFailures` stay on the
    queue (visible again for redelivery) and the others are deleted; an exception leaves the whole
    batch for redelivery. Returns None when the queue is empty.
    """
    sqs = session.client("sqs")
    url = queue_url(sqs, source_arn)
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=batch_size, WaitTimeSeconds=wait_s, AttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return None
    count = max(int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) for m in messages)
    ids = [m["MessageId"] for m in messages]
    try:
        result = handler(sqs_batch(messages, source_arn, count), context) or {}
    except Exception:
        _make_visible(sqs, url, messages)
        raise
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    _make_visible(sqs, url, [m for m in messages if m["MessageId"] in failed])
    return Poll(result, ids, [i for i in ids if i not in failed], [i for i in ids if i in failed])


def _make_visible(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    # Instead of waiting out the visibility timeout: the next poll sees them again.
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


# ---------------------------------------------------------------- a deployed function, run as Lambda would
# Runs a handler the way the Lambda Python runtime does: the code directory on sys.path, a context
# object, the event on stdin, logs in Lambda's JSON format on stderr, the result on stdout.
RUNNER = """
import json, logging, sys, time
code_dir, function_arn, budget_ms, handler_name, prepare = sys.argv[1:3] + [int(sys.argv[3])] + sys.argv[4:6]
sys.path.insert(0, code_dir)
STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

class JsonFormatter(logging.Formatter):
    def format(self, record):
        fields = {k: v for k, v in vars(record).items() if k not in STANDARD}
        return json.dumps({"level": record.levelname, "logger": record.name, "message": record.getMessage(), **fields},
                          default=str)

log_handler = logging.StreamHandler(sys.stderr)
log_handler.setFormatter(JsonFormatter())
logging.basicConfig(level=logging.INFO, handlers=[log_handler])
logging.getLogger("botocore").setLevel(logging.WARNING)
import importlib
module_name, function_name = handler_name.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function_name)

class Context:
    invoked_function_arn = function_arn
    function_name = function_arn.rsplit(":", 1)[-1]
    aws_request_id = "local-request"
    _deadline = time.monotonic() + budget_ms / 1000
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

context = Context()
exec(prepare)  # the caller's setup, e.g. where the function's /tmp is
print(json.dumps(handler(json.load(sys.stdin), context)))
"""


@dataclass
class Invocation:
    """One run of a deployed handler: its return value and its JSON log records."""

    result: dict[str, Any]
    logs: list[dict[str, Any]]


@dataclass
class DeployedFunction:
    """A function's deployed code and layer, extracted locally, run in a fresh process per invocation."""

    configuration: dict[str, Any]
    code_dir: Path
    layer_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    # Python run in the child after the handler's import, with `context` in scope.
    prepare: str = ""
    invocations: list[Invocation] = field(default_factory=list)

    @classmethod
    def fetch(cls, session: Any, function_name: str, code: bytes, layer: bytes, work: Path) -> DeployedFunction:
        """Extract `code` (the function's zip) to work/task and `layer` to work/opt, as Lambda does."""
        configuration = session.client("lambda").get_function_configuration(FunctionName=function_name)
        if lambda_sha256(code) != configuration["CodeSha256"]:
            raise PlatformError(f"the code given is not {function_name}'s deployed code")
        extract_zip(code, work / "task")
        extract_zip(layer, work / "opt")
        return cls(dict(configuration), work / "task", work / "opt")

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Invoke with `event` (a cold start); returns the handler's result, failing as Lambda reports."""
        env = {str(k): str(v) for k, v in self.configuration.get("Environment", {}).get("Variables", {}).items()}
        env.update(
            {
                **FAKE_CREDENTIALS,
                "AWS_REGION": self.configuration["FunctionArn"].split(":")[3],
                "AWS_DEFAULT_REGION": self.configuration["FunctionArn"].split(":")[3],
                "AWS_LAMBDA_FUNCTION_NAME": self.configuration["FunctionName"],
                "LANG": "C.UTF-8",
                # The layer's scripts run with the venv's python3 (boto3 inside), as the runtime's would.
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                **self.environment,
            }
        )
        if os.environ.get("AWS_ENDPOINT_URL"):
            env.setdefault("AWS_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"])
        argv = [
            sys.executable,
            "-I",
            "-c",
            RUNNER,
            str(self.code_dir),
            self.configuration["FunctionArn"],
            str(context.get_remaining_time_in_millis()),
            self.configuration["Handler"],
            self.prepare,
        ]
        completed = subprocess.run(
            argv, input=json.dumps(event), capture_output=True, text=True, env=env, cwd=self.code_dir, timeout=120
        )
        logs = [_log_record(line) for line in completed.stderr.splitlines()]
        if completed.returncode != 0 or not completed.stdout.strip():
            self.invocations.append(Invocation({}, logs))
            raise PlatformError(f"the handler failed (exit code {completed.returncode}): {completed.stderr[-300:]}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        self.invocations.append(Invocation(result, logs))
        return result


def take_over_event_source_mappings(session: Any, function_arn: str) -> list[str]:
    """Disable the function's SQS event source mappings (moto would run the function in Docker on a
    message); the caller then plays the poller with `poll`. Returns the queues' ARNs."""
    lambda_client = session.client("lambda")
    sources = []
    for mapping in lambda_client.list_event_source_mappings(FunctionName=function_arn)["EventSourceMappings"]:
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        sources.append(str(mapping["EventSourceArn"]))
    return sources


def set_aside_lambda_targets(session: Any, bus: str = "default") -> list[tuple[str, list[str]]]:
    """Remove the Lambda targets of the bus's rules: moto's PutEvents fails on any rule with one
    (it evaluates schedule rules for every event). Returns (rule, target ids) removed."""
    events = session.client("events")
    removed = []
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        ids = [t["Id"] for t in targets if ":lambda:" in t["Arn"]]
        if ids:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=ids)
            removed.append((str(rule["Name"]), ids))
    return removed


def _log_record(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        return {"message": line}
    return record if isinstance(record, dict) else {"message": line}


# ---------------------------------------------------------------- reading results back
def function_tags(session: Any, function_arn: str) -> dict[str, str]:
    """The function's tags."""
    return dict(session.client("lambda").list_tags(Resource=function_arn).get("Tags", {}))


def s3_keys(session: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under `prefix`."""
    keys: list[str] = []
    for page in session.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def s3_json(session: Any, bucket: str, key: str) -> Any:
    """An S3 object's JSON content."""
    return json.loads(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def subscribe_queue(session: Any, topic_arn: str, name: str) -> str:
    """A new SQS queue subscribed to the topic (SNS envelopes, not raw); returns its URL."""
    sqs = session.client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    session.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, url))
    return url


def sns_messages(session: Any, url: str) -> list[dict[str, Any]]:
    """The SNS envelopes a subscribed queue received (consumed)."""
    return bodies(receive_all(session.client("sqs"), url))


def cache_item(session: Any, table: str, key: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (empty when absent); `key` in DynamoDB's attribute-value form."""
    item = session.client("dynamodb").get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item", {})
    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
