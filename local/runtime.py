"""The AWS platform around the scanner, played on moto for local runs (`make demo`, tests, bench).

moto stores resources but does not run them: it emits no CloudTrail events, fires no schedules,
polls no queues and runs no Lambda functions. This module does those parts the way AWS does, on top
of any moto (in-process `mock_aws` or a moto server on 127.0.0.1): it routes an event through the
deployed EventBridge rules (their own event patterns) to their targets, hands SQS batches to a
handler with a Lambda-like context and deletes or redelivers messages as Lambda's poller does after
`ReportBatchItemFailures`, builds the schedule's event, runs deployed handler code in a child process
as the Lambda Python runtime would (local/lambda_runner.py), and reads results back. `Stack` is one
deployed stack seen through all of this. It knows nothing of the scanner's findings: callers
interpret what they read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
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

from local import lambda_runner
from local.build import FIXED_DATE, lambda_sha256
from local.lambda_runner import LAMBDA_MAX_TIMEOUT_MS, LambdaContext, record_fields

ROOT = Path(__file__).resolve().parents[1]
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
SERVER_START_S = 30
# SQS ReceiveMessage returns at most 10 messages per call (Amazon SQS quotas).
SQS_RECEIVE_MAX = 10
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
# The handler's log line for each SQS message's outcome (qualys_lambda.handler.OUTCOME_MESSAGE).
OUTCOME_MESSAGE = "message outcome"

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
        # moto's server with the operations it lacks added (local/moto_extras.py).
        [sys.executable, str(Path(__file__).with_name("moto_extras.py")), "-H", "127.0.0.1", "-p", str(port)],
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


@contextmanager
def emulated_aws(log_path: Path, region: str, **env: str) -> Iterator[dict[str, Any]]:
    """A moto server, with os.environ pointed at it meanwhile (`environment_for`): yields {url, port, pid},
    to which `port_open` (whether anything still listens there) is added once it stopped."""
    info: dict[str, Any] = {}
    try:
        with moto_server(log_path, region) as (url, port, pid):
            info.update(url=url, port=port, pid=pid)
            with environment_for(url, region, **env):
                yield info
    finally:
        if info:
            info["port_open"] = port_open(info["port"])


def log_errors(log_path: Path) -> list[str]:
    """The moto server log's lines other than successful requests."""
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if '" 200 -' not in line and "HTTP/1.1" not in line]


@contextmanager
def environment_for(url: str, region: str, **extra: str) -> Iterator[None]:
    """os.environ pointed at the emulator meanwhile: its endpoint, fake credentials and no profile, the
    venv's bin (the aws CLI) first on PATH, and `extra`; restored afterwards."""
    saved = dict(os.environ)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update({**FAKE_CREDENTIALS, "AWS_REGION": region, "AWS_DEFAULT_REGION": region, **extra})
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved.get("PATH", "")])
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---------------------------------------------------------------- code packages
def zip_bytes(files: Mapping[str, str]) -> bytes:
    """A zip package of path -> text, the same bytes for the same files (so the same CodeSha256), whenever
    it is built: entries carry a fixed timestamp, not the current time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE), text)
    return buffer.getvalue()


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


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    """The INFO and higher log records of this process meanwhile, as the runner's JSON lines show them."""
    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record_fields(record))

    # The Lambda runtime's root logger logs INFO and higher; restored afterwards.
    root, level = logging.getLogger(), logging.getLogger().level
    collect = Collect(logging.INFO)
    root.addHandler(collect)
    root.setLevel(min(level, logging.INFO) or logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(collect)
        root.setLevel(level)


def message_outcomes(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The handler's outcome line of each SQS message among an invocation's log records."""
    return [record for record in logs if record.get("message") == OUTCOME_MESSAGE]


@dataclass
class Poll:
    """One batch Lambda's poller handed to the handler, and what became of its messages."""

    result: dict[str, Any]
    delivered: list[str]
    deleted: list[str]
    redelivered: list[str]
    # The handler's outcome line for each message of the batch.
    outcomes: list[dict[str, Any]] = field(default_factory=list)


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
        with captured_logs() as logs:
            result = handler(sqs_batch(messages, source_arn, count), context) or {}
    except Exception:
        _make_visible(sqs, url, messages)
        raise
    if isinstance(handler, DeployedFunction):
        logs = handler.invocations[-1].logs
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    _make_visible(sqs, url, [m for m in messages if m["MessageId"] in failed])
    deleted, redelivered = [i for i in ids if i not in failed], [i for i in ids if i in failed]
    return Poll(result, ids, deleted, redelivered, message_outcomes(logs))


def drain(
    session: Any, source_arn: str, handler: Handler, new_context: Callable[[], Any], batch_size: int = 1
) -> list[Poll]:
    """Lambda's poller until the queue is empty, a fresh context per invocation. A message the handler
    reports failed stops the drain (Lambda would retry it until the queue's redrive policy gives up)."""
    polls = []
    while polled := poll(session, source_arn, handler, new_context(), batch_size):
        polls.append(polled)
        if polled.redelivered:
            failed = [o for o in polled.outcomes if o.get("message_id") in polled.redelivered]
            raise PlatformError(f"the handler failed messages of {source_arn}: {json.dumps(failed, default=str)}")
    return polls


def _make_visible(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    # Instead of waiting out the visibility timeout: the next poll sees them again.
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


# ---------------------------------------------------------------- a deployed function, run as Lambda would
@dataclass
class Invocation:
    """One run of a deployed handler: its return value and its JSON log records."""

    result: dict[str, Any]
    logs: list[dict[str, Any]]


@dataclass
class DeployedFunction:
    """A function's deployed code and layer, extracted locally, run in a fresh process per invocation
    by local/lambda_runner.py. Environment values under Lambda's /opt point into the extracted layer."""

    configuration: dict[str, Any]
    code_dir: Path
    layer_dir: Path
    # The directory standing for the function's /tmp (the scanner's work root); none: the real /tmp.
    work_root: Path | None = None
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

    @property
    def environment(self) -> dict[str, str]:
        """The function's environment variables, with Lambda's /opt (where layers are mounted) mapped."""
        variables = self.configuration.get("Environment", {}).get("Variables", {})
        return {str(k): self._local_path(str(v)) for k, v in variables.items()}

    def _local_path(self, value: str) -> str:
        return str(self.layer_dir / value.removeprefix("/opt/")) if value.startswith("/opt/") else value

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Invoke with `event` (a cold start); returns the handler's result, failing as Lambda reports."""
        region = self.configuration["FunctionArn"].split(":")[3]
        env = {
            **self.environment,
            **FAKE_CREDENTIALS,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": self.configuration["FunctionName"],
            "LANG": "C.UTF-8",
            # The layer's scripts run with the venv's python3 (boto3 inside), as the runtime's would.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        if os.environ.get("AWS_ENDPOINT_URL"):
            env.setdefault("AWS_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"])
        argv = [sys.executable, "-I", lambda_runner.__file__, str(self.code_dir), self.configuration["FunctionArn"]]
        argv += [str(context.get_remaining_time_in_millis()), self.configuration["Handler"]]
        if self.work_root:
            argv += ["--work-root", str(self.work_root)]
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


def _log_record(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        return {"message": line}
    return record if isinstance(record, dict) else {"message": line}


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


def rule_to_queue(session: Any, name: str, pattern: Mapping[str, Any], bus: str = "default") -> str:
    """A new SQS queue and a rule of `bus` sending the events `pattern` matches to it; returns its URL."""
    sqs, events = session.client("sqs"), session.client("events")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": name, "Arn": queue_arn(sqs, url)}])
    return url


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


def security_hub_findings(session: Any, product_arn: str, resource_id: str) -> list[dict[str, Any]]:
    """A product's Security Hub findings on one resource (moto's get_findings ignores Filters, so the
    same filter is applied here to what it returns)."""
    filters = {
        "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
        "ResourceId": [{"Value": resource_id, "Comparison": "EQUALS"}],
    }
    found = []
    for page in session.client("securityhub").get_paginator("get_findings").paginate(Filters=filters):
        for finding in page["Findings"]:
            resources = {r.get("Id") for r in finding.get("Resources", [])}
            if finding.get("ProductArn") == product_arn and resource_id in resources:
                found.append(finding)
    return found


def finding_summary(finding: Mapping[str, Any]) -> dict[str, Any]:
    """A Security Hub finding (ASFF) flattened: severity, record state, title, first vulnerability (id,
    package, fixed version), product fields and resource ids."""
    vulnerability = (finding.get("Vulnerabilities") or [{}])[0]
    package = (vulnerability.get("VulnerablePackages") or [{}])[0]
    return {
        "severity": finding["Severity"]["Label"],
        "state": finding.get("RecordState", ""),
        "workflow": (finding.get("Workflow") or {}).get("Status", "NEW"),
        "title": finding["Title"],
        "cve": vulnerability.get("Id", ""),
        "package": f"{package.get('Name', '')} {package.get('Version', '')}".strip(),
        "fixed_in": package.get("FixedInVersion", ""),
        "product_fields": dict(finding.get("ProductFields", {})),
        "resources": [r["Id"] for r in finding.get("Resources", [])],
    }


# ---------------------------------------------------------------- a deployed stack
# The scanner stack's outputs that report one of its resources' physical id (`!Ref` in the templates'
# Outputs): output name -> logical id.
SCANNER_OUTPUTS = {
    "ScannerFunctionName": "ScannerFunction",
    "ResultsBucketName": "ResultsBucket",
    "ScanCacheTableName": "ScanCacheTable",
    "SNSTopicArn": "NotificationTopic",
    "ScanQueueUrl": "ScanQueue",
    "InventoryQueueUrl": "InventoryQueue",
    "InventoryScheduleRuleName": "InventoryScheduleRule",
}


def _no_note(text: str) -> None:
    """Where a caller does not print the platform's notes."""


@dataclass
class Stack:
    """A stack deployed on the emulator, with the platform's work around it: its outputs, its function's
    deployed code and layer, its queues and rules taken over from moto. Each time the emulator falls
    short of AWS and something else is done instead, `on_note` is told (the demo prints it)."""

    session: Any
    name: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    on_note: Callable[[str], None] = _no_note

    @classmethod
    def read(
        cls,
        session: Any,
        name: str,
        output_resources: Mapping[str, str] = SCANNER_OUTPUTS,
        on_note: Callable[[str], None] = _no_note,
    ) -> Stack:
        """The stack's status, parameters, outputs and resources. moto computes no outputs for stacks
        deployed through change sets: each output in `output_resources` is then its resource's physical id."""
        cloudformation = session.client("cloudformation")
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        physical = {
            summary["LogicalResourceId"]: summary.get("PhysicalResourceId", "")
            for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
            for summary in page["StackResourceSummaries"]
        }
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
        if not outputs and output_resources:
            on_note("moto computes no stack outputs for change-set deploys: each is read from the stack's resources")
        for output, logical_id in output_resources.items():
            outputs[output] = outputs.get(output) or physical.get(logical_id, "")
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        return cls(session, name, stack["StackStatus"], parameters, outputs, physical, on_note)

    def function_arn(self, output: str = "ScannerFunctionName") -> str:
        configuration = self.session.client("lambda").get_function_configuration(FunctionName=self.outputs[output])
        return str(configuration["FunctionArn"])

    def deployed_function(self, work: Path, output: str = "ScannerFunctionName") -> DeployedFunction:
        """The function's code (the CodeS3Bucket/CodeS3Key parameters) and layer (QScannerLayerArn), as
        deployed, extracted under `work`; its /tmp is work/tmp."""
        s3 = self.session.client("s3")
        bucket = self.parameters["CodeS3Bucket"]
        code = s3.get_object(Bucket=bucket, Key=self.parameters["CodeS3Key"])["Body"].read()
        layer_name, version = self.parameters["QScannerLayerArn"].split(":")[6:8]
        layer = self.session.client("lambda").get_layer_version(LayerName=layer_name, VersionNumber=int(version))
        location = layer["Content"].get("Location", "")
        if location.startswith("https://"):
            with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 - https checked
                layer_zip = response.read()
        else:
            self.on_note(f"moto gives the layer no download URL ({location!r}): its zip is the artifacts bucket's")
            self.on_note("object that make deploy uploaded, matched by the layer's CodeSha256")
            layer_zip = self._object_with_sha256(bucket, "layers/", layer["Content"]["CodeSha256"])
        function = DeployedFunction.fetch(self.session, self.outputs[output], code, layer_zip, work)
        function.work_root = work / "tmp"
        function.work_root.mkdir(exist_ok=True)
        return function

    def _object_with_sha256(self, bucket: str, prefix: str, code_sha256: str) -> bytes:
        for key in s3_keys(self.session, bucket, prefix):
            data = self.session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            if lambda_sha256(data) == code_sha256:
                return bytes(data)
        raise PlatformError(f"no object under s3://{bucket}/{prefix} has CodeSha256 {code_sha256}")

    def take_over(self, output: str = "ScannerFunctionName") -> list[str]:
        """Disable the function's event source mappings and set the bus's Lambda targets aside, which
        moto cannot run; the caller polls the queues (returned) and invokes instead."""
        sources = take_over_event_source_mappings(self.session, self.outputs[output])
        for source in sources:
            self.on_note(f"moto cannot run Lambda: the mapping on {source} is disabled; the queue is polled instead")
        for rule, ids in set_aside_lambda_targets(self.session):
            self.on_note(f"moto cannot deliver to Lambda targets: {ids} of rule {rule} set aside")
        return sources

    def route(self, event: Mapping[str, Any], bus: str = "default") -> Routed:
        """`route` through the stack's (and the bus's) rules; moto emits no CloudTrail events itself."""
        if event.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE:
            self.on_note("moto emits no CloudTrail events; the event CloudTrail would write is routed")
        return route(self.session, event, bus)

    def queue_arn(self, output: str) -> str:
        """The ARN of the queue whose URL is the output."""
        return queue_arn(self.session.client("sqs"), self.outputs[output])

    def drain(
        self, source_arn: str, function: DeployedFunction, budget_ms: int = LAMBDA_MAX_TIMEOUT_MS, batch_size: int = 1
    ) -> list[Poll]:
        """The queue polled through the deployed handler until it is empty, each invocation given `budget_ms`."""
        invoked = str(function.configuration["FunctionArn"])
        return drain(self.session, source_arn, function, lambda: LambdaContext(invoked, budget_ms), batch_size)

    def findings(self, function_arn: str) -> list[dict[str, Any]]:
        """The stack's own Security Hub findings (the account's default product) on the function, flattened."""
        region, account = function_arn.split(":")[3:5]
        product = f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        return [finding_summary(f) for f in security_hub_findings(self.session, product, function_arn)]
