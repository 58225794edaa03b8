"""`make demo`: deploy the scanner with the real `make deploy` to a local AWS emulator and watch it work.

QScanner is SIMULATED (local/qscanner): the Qualys binary is licensed and not in this repository.
Everything runs against a moto server on 127.0.0.1 that this script starts and always stops; no AWS
account is touched. moto does not emit CloudTrail events, fire schedules or run Lambda functions, so the
demo writes the CloudTrail event itself, routes it through the stack's EventBridge rule to a capture
queue, and runs the deployed handler code (downloaded from the artifacts bucket) in a subprocess, as
Lambda would; the inventory's scheduled event goes to the handler the same way. Security Hub findings,
the `Lambda Scan Completed` event and the coverage report (the real CLI) are read back from the
emulator. Every such stand-in is printed where it happens.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from local.emulator import store_function_code

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-2"
STACK_NAME = "qscanner"
SAMPLE_FUNCTION = "orders-api"
DEMO_TOKEN = "demo-token-not-a-real-qualys-token"  # noqa: S105 - a placeholder the simulator accepts
FAKE_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id, split so scanners skip this file
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
SAMPLE_CODE = {
    "app.py": (
        "import requests\n\n"
        f"AWS_ACCESS_KEY_ID = '{FAKE_KEY_ID}'  # planted for the demo: a fake, documented example key\n\n\n"
        "def handler(event, context):\n"
        "    return requests.get('https://example.com', timeout=5).status_code\n"
    ),
    "requirements.txt": "requests==2.19.1\n",
}
# The code change of step 9: requests upgraded past the advisory's fixed version (2.20.0).
FIXED_REQUIREMENTS = "requests==2.32.3\n"
# Step 10's functions: one that predates the scanner (no CloudTrail event ever reached it) and one
# its owner opted out with the exclusion tag.
LEGACY_FUNCTION = "legacy-report"
LEGACY_CODE = {
    "report.py": "import yaml\n\n\ndef handler(event, context):\n    return yaml.safe_dump(event)\n",
    "requirements.txt": "pyyaml==5.3.1\n",
}
EXCLUDED_FUNCTION = "payments-sandbox"
EXCLUDE_TAG = "QualysScanExclude"
# The deploy's extra stack parameters (the Makefile's PARAMETERS variable).
STACK_PARAMETERS = "EnableSecurityHub=true"
SCAN_EVENT_PATTERN = {"source": ["qualys-lambda"], "detail-type": ["Lambda Scan Completed"]}
INVOCATION_BUDGET_MS = 900_000
EVENT_WAIT_S = 10
SERVER_START_S = 30

# Runs the deployed handler the way the Lambda Python runtime would: the code directory on sys.path,
# a context object, the event on stdin. The scanner's work root is Lambda's /tmp, mapped to a
# directory the demo deletes afterwards.
RUNNER = """
import json, logging, sys, time
code_dir, work_root, function_arn, budget_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, code_dir)
STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

class JsonFormatter(logging.Formatter):
    # Lambda's JSON log format: level, logger, message and the `extra` keys as fields.
    def format(self, record):
        fields = {k: v for k, v in vars(record).items() if k not in STANDARD}
        return json.dumps({"level": record.levelname, "logger": record.name, "message": record.getMessage(), **fields},
                          default=str)

log_handler = logging.StreamHandler(sys.stderr)
log_handler.setFormatter(JsonFormatter())
logging.basicConfig(level=logging.INFO, handlers=[log_handler])
logging.getLogger("botocore").setLevel(logging.WARNING)
import lambda_function
from qualys_lambda import handler

class Context:
    invoked_function_arn = function_arn
    function_name = function_arn.rsplit(":", 1)[-1]
    aws_request_id = "demo-request"
    _deadline = time.monotonic() + budget_ms / 1000
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

context = Context()
handler.default_scanner(context).work_root = work_root
result = lambda_function.lambda_handler(json.load(sys.stdin), context)
print(json.dumps(result))
"""


class DemoError(Exception):
    """A step of the demo could not run."""


@dataclass
class Checks:
    """Expected effects, each recorded as passed or failed; the demo exits non-zero on any failure."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, label: str, ok: bool) -> bool:
        self.results.append((label, ok))
        print(f"  [{'ok' if ok else 'MISSING'}] {label}")
        return ok

    @property
    def passed(self) -> bool:
        return all(ok for _, ok in self.results)


def section(title: str) -> None:
    print(f"\n===== {title} " + "=" * max(0, 72 - len(title)), flush=True)


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
def moto_server(log_path: Path) -> Iterator[tuple[str, int]]:
    """A moto server on 127.0.0.1 and a free port; stopped (and its port checked closed) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **FAKE_CREDENTIALS},
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)  # noqa: S310 - our own http://127.0.0.1
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise DemoError(f"the moto server did not start (log: {log_path.read_text()[-500:]})") from None
                time.sleep(0.1)
        print(f"moto server (AWS emulator) listening on {url} (pid {process.pid})")
        yield url, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(f"moto server stopped (pid {process.pid}); port {port} {'STILL OPEN' if port_open(port) else 'closed'}")


def zip_bytes(files: Mapping[str, str]) -> bytes:
    """A zip of path -> text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in sorted(files.items()):
            archive.writestr(name, text)
    return buffer.getvalue()


def lambda_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 of a zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def extract_zip(data: bytes, target: Path) -> None:
    """Extract like Lambda does, keeping the unix modes (zipfile.extractall drops the executable bit)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = (target / info.filename).resolve()
            if not path.is_relative_to(target.resolve()):
                raise DemoError(f"zip entry escapes the target directory: {info.filename}")
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


def cloudtrail_event(event_name: str, function_arn: str, account: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The `detail` CloudTrail writes for a Lambda management call."""
    name = function_arn.rsplit(":", 1)[-1]
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": account, "userName": "demo-developer"},
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "lambda.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/demo",
        "requestParameters": {"functionName": name, **extra},
        "responseElements": {"functionName": name, "functionArn": function_arn, "runtime": "python3.12"},
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


@dataclass
class Demo:
    """The deployed stack's pieces and the clients to look at them."""

    work: Path
    make: str
    checks: Checks = field(default_factory=Checks)
    resources: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    account: str = ""
    scanner_arn: str = ""
    capture_queue: str = ""
    notification_queue: str = ""
    scan_event_queue: str = ""
    role_arn: str = ""
    noted_findings_filter: bool = False
    poller_queues: set[str] = field(default_factory=set)
    noted_account: bool = False
    code_dir: Path | None = None
    layer_dir: Path | None = None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    # ------------------------------------------------------------ deploy
    def deploy(self) -> None:
        section("1. make deploy (the real target) against the emulator")
        argv = [
            self.make,
            "--no-print-directory",
            "deploy",
            f"AWS_REGION={REGION}",
            f"STACK_NAME={STACK_NAME}",
            "QUALYS_POD=US2",
            "QSCANNER=local/qscanner",
            f"AWS={Path(sys.executable).parent / 'aws'}",
            f"BUILD={self.work / 'build'}",
            f"PARAMETERS={STACK_PARAMETERS}",
        ]
        print("$ " + " ".join(argv[:1] + argv[2:]) + "   # QUALYS_ACCESS_TOKEN=<demo token> in the environment")
        started = time.monotonic()
        completed = subprocess.run(argv, cwd=ROOT, env=os.environ.copy(), check=False)
        print(f"(make deploy took {time.monotonic() - started:.1f}s)")
        if completed.returncode != 0:
            raise DemoError(f"make deploy failed with exit code {completed.returncode}")

    def read_stack(self) -> None:
        section("2. what make deploy left behind")
        cloudformation = self.client("cloudformation")
        stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        self.parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
        summaries = cloudformation.list_stack_resources(StackName=STACK_NAME)["StackResourceSummaries"]
        physical = {s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries}
        wanted = {
            "ScannerFunctionName": "ScannerFunction",
            "CreateFunctionRuleName": "CreateFunctionRule",
            "UpdateFunctionCodeRuleName": "UpdateFunctionCodeRule",
            "UpdateFunctionConfigurationRuleName": "UpdateFunctionConfigurationRule",
            "ResultsBucketName": "ResultsBucket",
            "ScanCacheTableName": "ScanCacheTable",
            "SNSTopicArn": "NotificationTopic",
            "ScanQueueUrl": "ScanQueue",
            "InventoryScheduleRuleName": "InventoryScheduleRule",
        }
        if not outputs:
            print("note: moto computes no stack outputs for change-set deploys; the same values are read from the")
            print("      stack's resources (output X is the physical id of the resource it references)")
        self.resources = {name: outputs.get(name) or physical.get(logical, "") for name, logical in wanted.items()}
        self.account = self.client("sts").get_caller_identity()["Account"]
        config = self.client("lambda").get_function_configuration(FunctionName=self.resources["ScannerFunctionName"])
        self.scanner_arn = config["FunctionArn"]
        print(f"stack {STACK_NAME}: {stack['StackStatus']}")
        for name, value in self.resources.items():
            print(f"  {name:38} {value}")
        print(f"  {'scanner environment':38} {json.dumps(config['Environment']['Variables'], sort_keys=True)}")
        secret = self.client("secretsmanager").get_secret_value(SecretId=self.parameters["QualysSecretArn"])
        stored = json.loads(secret["SecretString"])
        print(f"  {'secret':38} {secret['Name']}: qualys_pod={stored['qualys_pod']}, qualys_access_token=<hidden>")
        self.checks.check("stack deployed", stack["StackStatus"].endswith("_COMPLETE"))
        self.checks.check("secret holds the demo token", stored.get("qualys_access_token") == DEMO_TOKEN)
        self.checks.check("scanner function exists", bool(self.scanner_arn))
        self.checks.check(
            "scanner deployed with ENABLE_SECURITY_HUB=true (PARAMETERS=EnableSecurityHub=true)",
            config["Environment"]["Variables"].get("ENABLE_SECURITY_HUB") == "true",
        )

    def fetch_deployed_code(self) -> None:
        section("3. the deployed handler code and the published QScanner layer")
        s3 = self.client("s3")
        bucket, key = self.parameters["CodeS3Bucket"], self.parameters["CodeS3Key"]
        code = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        deployed_sha = self.client("lambda").get_function_configuration(FunctionName=self.scanner_arn)["CodeSha256"]
        print(f"handler code: s3://{bucket}/{key}")
        self.checks.check("code in the artifacts bucket is the function's code", lambda_sha256(code) == deployed_sha)
        self.code_dir = self.work / "task"
        extract_zip(code, self.code_dir)

        layer_arn = self.parameters["QScannerLayerArn"]
        layer_name, version = layer_arn.split(":")[6], int(layer_arn.split(":")[7])
        layer = self.client("lambda").get_layer_version(LayerName=layer_name, VersionNumber=version)["Content"]
        location = layer.get("Location", "")
        if location.startswith("https://"):
            with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 - https checked
                layer_zip = response.read()
        else:
            print(f"note: moto gives the layer no download URL (Location={location!r}); its zip is taken from the")
            print("      artifacts bucket, where make deploy uploaded it, matched by the layer's CodeSha256")
            layer_zip = self._layer_from_bucket(bucket, layer["CodeSha256"])
        print(f"layer: {layer_arn}")
        self.layer_dir = self.work / "opt"
        extract_zip(layer_zip, self.layer_dir)
        binary = self.layer_dir / "bin" / "qscanner"
        executable = binary.is_file() and bool(binary.stat().st_mode & stat.S_IXUSR)
        self.checks.check("layer has an executable bin/qscanner (Lambda: /opt/bin/qscanner)", executable)

    def _layer_from_bucket(self, bucket: str, code_sha256: str) -> bytes:
        s3 = self.client("s3")
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="layers/").get("Contents", []):
            data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if lambda_sha256(data) == code_sha256:
                return bytes(data)
        raise DemoError("the published layer's zip is not in the artifacts bucket")

    # ------------------------------------------------------------ plumbing for events
    def listen(self) -> None:
        section("4. listeners: SNS, a capture queue on the scanner's rules, a scan-event rule, Security Hub")
        sqs, sns, events = self.client("sqs"), self.client("sns"), self.client("events")
        self.notification_queue = sqs.create_queue(QueueName="demo-scan-notifications")["QueueUrl"]
        sns.subscribe(
            TopicArn=self.resources["SNSTopicArn"], Protocol="sqs", Endpoint=self._queue_arn(self.notification_queue)
        )
        print(f"subscribed SQS queue demo-scan-notifications to {self.resources['SNSTopicArn']}")
        self.capture_queue = sqs.create_queue(QueueName="demo-scanner-events")["QueueUrl"]
        for rule in ("CreateFunctionRuleName", "UpdateFunctionCodeRuleName", "UpdateFunctionConfigurationRuleName"):
            events.put_targets(
                Rule=self.resources[rule],
                Targets=[{"Id": "demo-capture", "Arn": self._queue_arn(self.capture_queue)}],
            )
            print(f"added target demo-capture (SQS) to rule {self.resources[rule]}")
        lambda_client = self.client("lambda")
        mappings = lambda_client.list_event_source_mappings()["EventSourceMappings"]
        for mapping in [m for m in mappings if m.get("FunctionArn") == self.scanner_arn]:
            # moto would try to run the function in Docker when a message arrives; the demo plays
            # Lambda's queue poller instead (receive, invoke the handler with the batch, delete).
            lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            self.poller_queues.add(mapping["EventSourceArn"])
            print(f"note: moto cannot run Lambda: the scanner's event source mapping on {mapping['EventSourceArn']}")
            print("      is disabled and the demo polls that queue and invokes the handler as Lambda's poller would")
        print("note: moto does not invoke Lambda functions; the demo runs the deployed handler with what was routed")
        # A user's own rule on the scanner's `Lambda Scan Completed` events (moto delivers PutEvents to
        # SQS targets synchronously, so the handler's event lands in this queue during the scan).
        self.scan_event_queue = sqs.create_queue(QueueName="demo-scan-completed")["QueueUrl"]
        events.put_rule(Name="demo-scan-completed", EventBusName="default", EventPattern=json.dumps(SCAN_EVENT_PATTERN))
        events.put_targets(
            Rule="demo-scan-completed",
            EventBusName="default",
            Targets=[{"Id": "demo-scan-completed", "Arn": self._queue_arn(self.scan_event_queue)}],
        )
        print(f"created rule demo-scan-completed on the default bus: {json.dumps(SCAN_EVENT_PATTERN)} -> SQS")
        securityhub = self.client("securityhub")
        securityhub.enable_security_hub(EnableDefaultStandards=False)
        print(f"enabled Security Hub: {securityhub.describe_hub()['HubArn']}")
        # moto's PutEvents fails (NotImplementedError) when any rule it evaluates has a Lambda target, and
        # it evaluates schedule rules for every event: the demo's events and the scanner's own result
        # events would fail. Those targets are set aside for the demo (the emulator is discarded after).
        for name, targets in self._set_aside_lambda_targets():
            ids = [t["Id"] for t in targets]
            print(f"note: moto cannot deliver to Lambda targets: {ids} of rule {name} set aside")

    def _queue_arn(self, url: str) -> str:
        attributes = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def _receive(self, queue_url: str, event_id: str) -> dict[str, Any] | None:
        """The message of `queue_url` whose body carries the CloudTrail event `event_id`."""
        sqs = self.client("sqs")
        deadline = time.monotonic() + EVENT_WAIT_S
        while time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
                body = json.loads(message["Body"])
                if body.get("detail", {}).get("eventID") == event_id:
                    if "account" not in body:
                        if not self.noted_account:
                            print("note: moto's SQS delivery drops the envelope's `account`; the demo puts it back")
                            self.noted_account = True
                        body["account"] = self.account
                    message["Body"] = json.dumps(body)
                    return dict(message)
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return None

    def _set_aside_lambda_targets(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Remove every Lambda target from the default bus's rules; returns them for restoring."""
        events = self.client("events")
        removed = []
        for rule in events.list_rules(EventBusName="default")["Rules"]:
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            lambda_targets = [t for t in targets if ":lambda:" in t["Arn"]]
            if lambda_targets:
                events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in lambda_targets])
                removed.append((rule["Name"], lambda_targets))
        return removed

    def deliver(
        self, event_name: str, rule: str, function_arn: str, extra: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], Callable[[dict[str, Any]], None]]:
        """Route the CloudTrail event through the stack's rule; returns the scanner's event and an ack."""
        detail = cloudtrail_event(event_name, function_arn, self.account, extra or {})
        print("note: moto emits no CloudTrail events; the demo puts the one CloudTrail would write on the bus")
        events = self.client("events")
        rule_name = self.resources[rule]
        stack_targets = [t for t in events.list_targets_by_rule(Rule=rule_name)["Targets"] if t["Id"] != "demo-capture"]
        entry = {"Source": "aws.lambda", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}
        response = events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise DemoError(f"put_events failed: {response['Entries']}")
        captured = self._receive(self.capture_queue, detail["eventID"])
        if captured is None:
            raise DemoError(f"the scanner's rule did not route the {event_name} event")
        routed = json.loads(captured["Body"])
        print(f"EventBridge routed {event_name} (event id {routed['id']}) through rule {rule_name}")

        # The stack's rule targets a queue the scanner consumes (Lambda polls it), or the scanner itself.
        queue_targets = [t["Arn"] for t in stack_targets if t["Arn"].split(":")[2] == "sqs"]
        if not queue_targets:
            return routed, lambda result: None
        sqs = self.client("sqs")
        queue_arn = queue_targets[0]
        queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        message = self._receive(queue_url, detail["eventID"])
        if message is None:
            raise DemoError(f"the rule's queue {queue_arn} did not receive the {event_name} event")
        queue_name = queue_arn.rsplit(":", 1)[-1]
        print(f"the rule's target queue {queue_name} holds it; Lambda's poller hands it over as a batch")
        return self._poller_batch(queue_arn, queue_url, message)

    def _poller_batch(
        self, queue_arn: str, queue_url: str, message: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[dict[str, Any]], None]]:
        """The SQS batch Lambda's poller would invoke the scanner with (BatchSize 1), and its ack."""
        sqs = self.client("sqs")
        batch = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": REGION,
                }
            ]
        }

        def acknowledge(result: dict[str, Any]) -> None:
            # The poller deletes the messages the handler did not report as failed.
            if not result.get("batchItemFailures"):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

        return batch, acknowledge

    def invoke(self, delivered: tuple[dict[str, Any], Callable[[dict[str, Any]], None]]) -> dict[str, Any]:
        """Run the deployed lambda_function.lambda_handler in a fresh Python process (a cold start).

        Returns the scan outcome: the handler's return value for a direct event, or, for a queue batch
        (whose return value lists only failed messages), the outcome its JSON log reports.
        """
        assert self.code_dir is not None and self.layer_dir is not None
        event, acknowledge = delivered
        configuration = self.client("lambda").get_function_configuration(FunctionName=self.scanner_arn)
        env = {str(k): str(v) for k, v in configuration["Environment"]["Variables"].items()}
        env.update(FAKE_CREDENTIALS)
        env.update(
            {
                "QSCANNER_PATH": str(self.layer_dir / "bin" / "qscanner"),
                "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
                "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
                # The simulated QScanner is a Python script: python3 must be the venv's (boto3 inside).
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                "LANG": "C.UTF-8",
            }
        )
        work_root = self.work / "lambda-tmp"
        work_root.mkdir(exist_ok=True)
        argv = [
            sys.executable,
            "-I",
            "-c",
            RUNNER,
            str(self.code_dir),
            str(work_root),
            self.scanner_arn,
            str(INVOCATION_BUDGET_MS),
        ]
        print(f"invoking the deployed handler {configuration['Handler']} (QSCANNER_PATH -> the extracted layer)")
        completed = subprocess.run(
            argv,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=env,
            cwd=self.code_dir,
            timeout=120,
            check=False,
        )
        logs = []
        for line in completed.stderr.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                record = {"message": line}
            if isinstance(record, dict):
                logs.append(record)
        for record in logs[-8:]:
            print(f"    log: {json.dumps(record, sort_keys=True)[:300]}")
        if completed.returncode != 0 or not completed.stdout.strip():
            raise DemoError(f"the handler failed (exit code {completed.returncode})")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"handler returned: {json.dumps(result)}")
        acknowledge(result)
        # A rejected request is logged without an `outcome` field: its warning stands for one.
        reported = [
            r if "outcome" in r else {"outcome": "rejected", **r}
            for r in logs
            if "outcome" in r or r.get("message") == "event rejected"
        ]
        outcome = result if "outcome" in result else (reported[-1] if reported else result)
        print(f"scan outcome: {outcome.get('outcome')} (scan id {outcome.get('scan_id', '-')})")
        return outcome

    # ------------------------------------------------------------ the story
    def create_sample(self) -> tuple[str, bytes]:
        section("5. a developer creates a function with a vulnerable package and a planted key")
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        self.role_arn = iam.create_role(RoleName="demo-functions-role", AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        code = zip_bytes(SAMPLE_CODE)
        arn = self._create_function(SAMPLE_FUNCTION, "app.handler", code)
        print(f"created {arn}: requirements.txt pins requests==2.19.1; app.py holds the fake key {FAKE_KEY_ID}")
        return arn, code

    def _create_function(self, name: str, handler: str, code: bytes, tags: Mapping[str, str] | None = None) -> str:
        """Create a function and put its zip where the simulated QScanner downloads it from."""
        lambda_client = self.client("lambda")
        arn = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role_arn,
            Handler=handler,
            Code={"ZipFile": code},
            MemorySize=128,
            Tags=dict(tags or {}),
        )["FunctionArn"]
        store_function_code(lambda_client, self.client("s3"), name, code)
        return str(arn)

    def first_scan(self, arn: str) -> str:
        section("6. CreateFunction -> EventBridge rule -> scanner (QScanner SIMULATED)")
        result = self.invoke(self.deliver("CreateFunction20150331", "CreateFunctionRuleName", arn))
        self.checks.check("first scan ran", result.get("outcome") == "scanned")
        scan_id = str(result.get("scan_id", ""))

        section("7. what a user checks in AWS after the scan")
        tags = self.client("lambda").list_tags(Resource=arn).get("Tags", {})
        print("function tags:")
        for key in sorted(k for k in tags if k.startswith("QualysScan")):
            print(f"  {key} = {tags[key]}")
        self.checks.check("tag QualysScanStatus = success", tags.get("QualysScanStatus") == "success")
        self.checks.check("tag QualysScanTag = the scan id", bool(scan_id) and tags.get("QualysScanTag") == scan_id)

        s3 = self.client("s3")
        bucket = self.resources["ResultsBucketName"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="scans/").get("Contents", [])]
        print(f"S3 results in s3://{bucket}:")
        for key in keys:
            print(f"  {key}")
        summary_keys = [k for k in keys if k.endswith("/summary.json")]
        self.checks.check("summary.json in the results bucket", bool(summary_keys))
        if summary_keys:
            summary = json.loads(s3.get_object(Bucket=bucket, Key=summary_keys[0])["Body"].read())
            findings = summary["findings"]
            print(f"summary findings: {json.dumps(findings, sort_keys=True)}")
            total = findings["vulnerabilities"]["total"]
            self.checks.check("summary reports the vulnerable requests package", total > 0)
            self.checks.check("summary reports the planted key", findings["secrets"] > 0)
            sboms = summary.get("sbom") or {}
            print("SBOMs (summary.json `sbom`):")
            for fmt, key in sorted(sboms.items()):
                print(f"  {fmt:9} {key}")
            self.checks.check(
                "SPDX and CycloneDX SBOMs listed in summary.json and stored in the bucket",
                set(sboms) == {"spdx", "cyclonedx"} and all(key in keys for key in sboms.values()),
            )

        notifications = self._notifications()
        for message in notifications:
            body = json.loads(message["Message"])
            attributes = {k: v["Value"] for k, v in message.get("MessageAttributes", {}).items()}
            subject = message.get("Subject")
            print(f"SNS message: subject {subject!r}, attributes {json.dumps(attributes, sort_keys=True)}")
            print(f"  body: status={body['scan']['status']} findings={json.dumps(body['findings'], sort_keys=True)}")
        self.checks.check("SNS notification received", bool(notifications))

        scan_events = self._scan_events()
        for event in scan_events:
            detail = event.get("detail", {})
            print(
                f"scan event via rule demo-scan-completed: detail-type {event.get('detail-type')!r}, "
                f"source {event.get('source')}, function {detail['function']['name']}, "
                f"max_severity {detail['findings']['max_severity']}"
            )
        self.checks.check(
            "`Lambda Scan Completed` event reached the demo's rule",
            any(
                e.get("detail-type") == "Lambda Scan Completed" and e["detail"]["function"]["arn"] == arn
                for e in scan_events
            ),
        )

        hub_findings = self._findings(arn)
        print(f"Security Hub findings for {SAMPLE_FUNCTION} (get_findings):")
        self._print_findings(hub_findings)
        requests_finding = [f for f in hub_findings if self._finding_ref(f).startswith("CVE-2018-18074")]
        self.checks.check(
            "Security Hub lists the requests CVE as an ACTIVE HIGH finding",
            any(f["RecordState"] == "ACTIVE" and f["Severity"]["Label"] == "HIGH" for f in requests_finding),
        )
        self.checks.check(
            "Security Hub lists the planted key as an ACTIVE finding",
            any(f["RecordState"] == "ACTIVE" and "Secret" in f["Title"] for f in hub_findings),
        )

        item = self._cache_item(arn)
        print(f"DynamoDB cache entry: {json.dumps(item, sort_keys=True, default=str)}")
        self.checks.check("cache entry records the scan", item.get("status") == "success")
        return scan_id

    def configuration_change(self, arn: str) -> None:
        section("8. UpdateFunctionConfiguration (memory 128 -> 256 MB): same code, cache skip expected")
        self.client("lambda").update_function_configuration(FunctionName=SAMPLE_FUNCTION, MemorySize=256)
        result = self.invoke(
            self.deliver(
                "UpdateFunctionConfiguration20150331v2", "UpdateFunctionConfigurationRuleName", arn, {"memorySize": 256}
            )
        )
        self.checks.check(
            "configuration-only change skipped by the cache (outcome cache_hit)", result.get("outcome") == "cache_hit"
        )

    def code_change(self, arn: str, first_scan_id: str) -> None:
        section("9. UpdateFunctionCode (requests 2.19.1 -> 2.32.3): new CodeSha256, rescan expected")
        files = {**SAMPLE_CODE, "requirements.txt": FIXED_REQUIREMENTS}
        code = zip_bytes(files)
        print(f"requirements.txt: {SAMPLE_CODE['requirements.txt'].strip()} -> {FIXED_REQUIREMENTS.strip()}")
        lambda_client = self.client("lambda")
        lambda_client.update_function_code(FunctionName=SAMPLE_FUNCTION, ZipFile=code)
        store_function_code(lambda_client, self.client("s3"), SAMPLE_FUNCTION, code)
        result = self.invoke(self.deliver("UpdateFunctionCode20150331v2", "UpdateFunctionCodeRuleName", arn))
        new_id = str(result.get("scan_id", ""))
        print(f"scan ids: first {first_scan_id}, after the code change {new_id}")
        self.checks.check(
            "code change rescanned (a new scan id)",
            result.get("outcome") == "scanned" and bool(new_id) and new_id != first_scan_id,
        )
        hub_findings = self._findings(arn)
        for state in ("ACTIVE", "ARCHIVED"):
            print(f"Security Hub findings for {SAMPLE_FUNCTION} after the rescan, {state}:")
            self._print_findings([f for f in hub_findings if f.get("RecordState") == state])
        states = {self._finding_ref(f): f.get("RecordState") for f in hub_findings}
        self.checks.check(
            "the fixed requests CVE is ARCHIVED after the rescan",
            any(ref.startswith("CVE-2018-18074") and state == "ARCHIVED" for ref, state in states.items()),
        )
        self.checks.check(
            "the planted key (not fixed) stays ACTIVE",
            any(f.get("RecordState") == "ACTIVE" and "Secret" in f["Title"] for f in hub_findings),
        )

    # ------------------------------------------------------------ coverage
    def coverage_setup(self) -> None:
        section("10. coverage: a function the scanner never saw, one opted out by tag")
        self._create_function(LEGACY_FUNCTION, "report.handler", zip_bytes(LEGACY_CODE))
        print(f"created {LEGACY_FUNCTION} (pins pyyaml==5.3.1); no CloudTrail event is delivered for it: it stands")
        print("      for a function created before the stack, which the event rules never saw")
        self._create_function(EXCLUDED_FUNCTION, "app.handler", zip_bytes(SAMPLE_CODE), {EXCLUDE_TAG: "true"})
        print(f"created {EXCLUDED_FUNCTION} tagged {EXCLUDE_TAG}=true")
        reasons = self.coverage_report()
        self.checks.check(f"coverage: {SAMPLE_FUNCTION} SCANNED", reasons.get(SAMPLE_FUNCTION) == "SCANNED")
        self.checks.check(f"coverage: {LEGACY_FUNCTION} PENDING", reasons.get(LEGACY_FUNCTION) == "PENDING")
        self.checks.check(
            f"coverage: {EXCLUDED_FUNCTION} EXCLUDED_BY_TAG", reasons.get(EXCLUDED_FUNCTION) == "EXCLUDED_BY_TAG"
        )

    def inventory(self) -> None:
        section("11. the scheduled inventory enqueues what is not covered; the scanner works the queue")
        events = self.client("events")
        rule = events.describe_rule(Name=self.resources["InventoryScheduleRuleName"])
        print(f"note: moto does not fire schedules; the demo delivers the event rule {rule['Name']}")
        print(f"      ({rule.get('ScheduleExpression')}) sends its Lambda target, straight to the handler")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [rule["Arn"]],
            "detail": {},
        }
        result = self.invoke((event, lambda result: None))
        self.checks.check(
            "the schedule only planned: one inventory unit (this account, this region)",
            result.get("outcome") == "inventory planned" and result.get("units") == 1,
        )

        queue_url = self.resources["ScanQueueUrl"]
        queue_arn = self._queue_arn(queue_url)
        enqueued = 0
        for unit in self._drain(queue_url, int(result.get("units", 0))):
            body = json.loads(unit["Body"])
            print(f"-- Lambda's poller hands the inventory unit {body['account']} / {body['region']} to the scanner")
            enqueued += int(self.invoke(self._poller_batch(queue_arn, queue_url, unit)).get("enqueued", 0))
        self.checks.check("inventory ran and enqueued scans", enqueued > 0)
        messages = self._drain(queue_url, enqueued)
        print(f"scan queue {queue_arn.rsplit(':', 1)[-1]} holds {len(messages)} scan request(s):")
        requested: dict[str, dict[str, Any]] = {}
        for message in messages:
            body = json.loads(message["Body"])
            name = str(body["detail"]["functionArn"]).rsplit(":", 1)[-1]
            requested[name] = message
            print(f"  {body['source']} / {body['detail-type']}: {name} (force={str(body['detail']['force']).lower()})")
        self.checks.check(f"inventory enqueued {LEGACY_FUNCTION}", LEGACY_FUNCTION in requested)
        self.checks.check(
            f"inventory left {SAMPLE_FUNCTION} (covered) and {EXCLUDED_FUNCTION} (excluded) alone",
            SAMPLE_FUNCTION not in requested and EXCLUDED_FUNCTION not in requested,
        )
        self.checks.check(
            "the scanner's own function is neither listed nor enqueued",
            self.resources["ScannerFunctionName"] not in requested,
        )
        for name, message in sorted(requested.items()):
            print(f"-- Lambda's poller hands the {name} request to the scanner")
            outcome = self.invoke(self._poller_batch(queue_arn, queue_url, message))
            if name == LEGACY_FUNCTION:
                self.checks.check(f"{LEGACY_FUNCTION} scanned from the queue", outcome.get("outcome") == "scanned")

        print("the coverage report again:")
        reasons = self.coverage_report()
        self.checks.check(
            f"coverage after the inventory: {LEGACY_FUNCTION} SCANNED", reasons.get(LEGACY_FUNCTION) == "SCANNED"
        )
        self.checks.check(
            f"coverage after the inventory: {EXCLUDED_FUNCTION} still EXCLUDED_BY_TAG",
            reasons.get(EXCLUDED_FUNCTION) == "EXCLUDED_BY_TAG",
        )

    def coverage_report(self) -> dict[str, str]:
        """Run the real coverage CLI against the emulator; prints its table, returns {function: reason}."""
        name = self.resources["ScannerFunctionName"]
        argv = [sys.executable, "-m", "qualys_lambda.cli", "coverage", "--function-name", name]
        env = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            "PYTHONPATH": str(ROOT / "scanner-lambda"),
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
        }
        print(f"$ python -m qualys_lambda.cli coverage --function-name {name}   # PYTHONPATH=scanner-lambda, emulator")
        completed = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)
        if completed.returncode != 0:
            raise DemoError(f"the coverage report failed: {completed.stderr.strip()[-300:]}")
        lines = completed.stdout.rstrip().splitlines()
        for line in lines:
            print(f"  {line}" if line else "")
        reasons: dict[str, str] = {}
        header = lines[0].split() if lines else []
        if header[:4] == ["FUNCTION", "ACCOUNT", "REGION", "REASON"]:
            for line in lines[1:]:
                if not line.strip():
                    break
                cells = line.split()
                reasons[cells[0]] = cells[3]
        return reasons

    # ------------------------------------------------------------ reading results back
    def _scan_events(self) -> list[dict[str, Any]]:
        """The `Lambda Scan Completed` events the demo's rule delivered so far (the queue is emptied)."""
        return [json.loads(m["Body"]) for m in self._drain(self.scan_event_queue, 1, delete=True)]

    def _drain(self, queue_url: str, expected: int, delete: bool = False) -> list[dict[str, Any]]:
        """Receive until `expected` messages arrived (or the wait ends); deleted only when `delete`."""
        sqs = self.client("sqs")
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + EVENT_WAIT_S
        while time.monotonic() < deadline:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in batch.get("Messages", []):
                if delete:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                received.append(message)
            if len(received) >= expected and not batch.get("Messages"):
                break
        return received

    def _findings(self, function_arn: str) -> list[dict[str, Any]]:
        """The scanner's Security Hub findings on `function_arn`, as get_findings returns them."""
        product = f"arn:aws:securityhub:{REGION}:{self.account}:product/{self.account}/default"
        filters = {
            "ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
            "ResourceId": [{"Value": function_arn, "Comparison": "EQUALS"}],
        }
        if not self.noted_findings_filter:
            print("note: moto's get_findings ignores Filters; the demo applies the same filter to what it returns")
            self.noted_findings_filter = True
        found = []
        for page in self.client("securityhub").get_paginator("get_findings").paginate(Filters=filters):
            for finding in page["Findings"]:
                resources = {r.get("Id") for r in finding.get("Resources", [])}
                if finding.get("ProductArn") == product and function_arn in resources:
                    found.append(finding)
        return found

    @staticmethod
    def _finding_ref(finding: Mapping[str, Any]) -> str:
        """`CVE (QID n)` of a vulnerability finding; empty for a secret."""
        vulnerabilities = finding.get("Vulnerabilities") or []
        if not vulnerabilities:
            return ""
        qid = finding.get("ProductFields", {}).get("qualys-lambda/Qid", "?")
        return f"{vulnerabilities[0]['Id']} (QID {qid})"

    def _print_findings(self, findings: list[dict[str, Any]]) -> None:
        if not findings:
            print("  (none)")
        ranks = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4}
        for finding in sorted(findings, key=lambda f: (ranks.get(f["Severity"]["Label"], 9), f["Title"])):
            print(f"  {finding['Severity']['Label']:<8} {finding.get('RecordState', '?'):<8} {finding['Title']}")
            vulnerabilities = finding.get("Vulnerabilities") or []
            if vulnerabilities:
                packages = "; ".join(
                    f"{p.get('Name')} {p.get('Version')}, fixed in {p.get('FixedInVersion') or '-'}"
                    for p in vulnerabilities[0].get("VulnerablePackages", [])
                )
                print(f"{'':20}{self._finding_ref(finding)}; package {packages or '-'}")
            else:
                print(f"{'':20}no CVE/QID (a secret): {finding.get('Description', '')}")
            print(f"{'':20}resource {', '.join(r['Id'] for r in finding.get('Resources', []))}")

    def _notifications(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + EVENT_WAIT_S
        while time.monotonic() < deadline and not received:
            batch = sqs.receive_message(QueueUrl=self.notification_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in batch.get("Messages", []):
                sqs.delete_message(QueueUrl=self.notification_queue, ReceiptHandle=message["ReceiptHandle"])
                received.append(json.loads(message["Body"]))
        return received

    def _cache_item(self, arn: str) -> dict[str, Any]:
        table = self.resources["ScanCacheTableName"]
        item = self.client("dynamodb").get_item(TableName=table, Key={"function_arn": {"S": arn}}).get("Item", {})
        deserializer = TypeDeserializer()
        return {k: deserializer.deserialize(v) for k, v in item.items()}


def banner() -> None:
    print("#" * 78)
    print("# qualys-lambda demo: QScanner is SIMULATED (local/qscanner), not the Qualys binary.")
    print("# Findings come from a small bundled advisory list; everything runs on a local emulator (moto).")
    print("#" * 78)


def run(demo: Demo) -> None:
    """Deploy to the emulator and play the scanner's story, recording checks on `demo.checks`."""
    demo.deploy()
    demo.read_stack()
    demo.fetch_deployed_code()
    demo.listen()
    arn, _ = demo.create_sample()
    first = demo.first_scan(arn)
    demo.configuration_change(arn)
    demo.code_change(arn, first)
    demo.coverage_setup()
    demo.inventory()


def main(argv: Sequence[str]) -> int:
    """Run the demo; exit code 0 only when every expected effect was seen."""
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--make", default="make", help="the make program to run `make deploy` with")
    args = parser.parse_args(argv)
    started = time.monotonic()
    banner()
    work = Path(tempfile.mkdtemp(prefix="qualys-lambda-demo-"))
    checks = Checks()
    error = ""
    saved = dict(os.environ)
    try:
        with moto_server(work / "moto.log") as (url, _port):
            os.environ.update(FAKE_CREDENTIALS)
            os.environ.pop("AWS_PROFILE", None)
            os.environ["AWS_ENDPOINT_URL"] = url
            os.environ["QUALYS_ACCESS_TOKEN"] = DEMO_TOKEN
            os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved.get("PATH", "")])
            try:
                run(Demo(work=work, make=args.make, checks=checks))
            except (DemoError, subprocess.SubprocessError, KeyError, ClientError, BotoCoreError) as exc:
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
                emulator_errors = [
                    line
                    for line in (work / "moto.log").read_text(errors="replace").splitlines()
                    if '" 200 -' not in line and "HTTP/1.1" not in line
                ]
                print("emulator log (last lines):\n  " + "\n  ".join(emulator_errors[-12:]))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
    section("summary")
    print("QScanner was SIMULATED: findings come from local/qscanner's bundled advisories, not from Qualys.")
    for label, ok in checks.results:
        print(f"  [{'ok' if ok else 'MISSING'}] {label}")
    if error:
        print(f"  [FAILED] the demo stopped: {error}")
    passed = checks.passed and not error and bool(checks.results)
    print(
        f"demo {'PASSED' if passed else 'FAILED'} in {time.monotonic() - started:.1f}s; emulator stopped, "
        f"temporary files removed ({work} exists: {work.exists()})"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
