"""`make demo`: deploy the scanner with the real `make deploy` to a local AWS emulator and watch it work.

QScanner is SIMULATED (local/qscanner): the Qualys binary is licensed and not in this repository.
Everything runs against a moto server on 127.0.0.1 that this script starts and always stops; no AWS
account is touched. What AWS would do around the scanner (CloudTrail's event, EventBridge's rules,
Lambda's queue poller and runtime, the schedule) is played by local/runtime.py on the deployed stack:
the deployed handler code runs in a child process as Lambda would. Every such stand-in is printed
where it happens. This file is the story: deploy, create a vulnerable function, watch it scanned,
change its configuration (cache), fix its code (rescan), then find and scan what events missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local import runtime
from local.emulator import store_function_code
from local.runtime import DeployedFunction, LambdaContext, PlatformError

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-2"
STACK_NAME = "qscanner"
SAMPLE_FUNCTION = "orders-api"
DEMO_TOKEN = "demo-token-not-a-real-qualys-token"  # noqa: S105 - a placeholder the simulator accepts
FAKE_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id, split so scanners skip this file
FAKE_CREDENTIALS = {**runtime.FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
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
STACK_OUTPUTS = {
    "ScannerFunctionName": "ScannerFunction",
    "ResultsBucketName": "ResultsBucket",
    "ScanCacheTableName": "ScanCacheTable",
    "SNSTopicArn": "NotificationTopic",
    "ScanQueueUrl": "ScanQueue",
    "InventoryQueueUrl": "InventoryQueue",
    "InventoryScheduleRuleName": "InventoryScheduleRule",
}
# The scanner's work root is Lambda's /tmp, mapped to a directory the demo deletes afterwards.
PREPARE_TMP = "from qualys_lambda import handler as h; h.default_scanner(context).work_root = {path!r}"


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


@dataclass
class Demo:
    """The deployed stack, the platform playing AWS around it, and what the user would look at."""

    work: Path
    make: str
    checks: Checks = field(default_factory=Checks)
    session: Any = field(default_factory=lambda: boto3.Session(region_name=REGION))
    resources: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    account: str = ""
    scanner_arn: str = ""
    notification_queue: str = ""
    scan_event_queue: str = ""
    role_arn: str = ""
    noted_findings_filter: bool = False
    function: DeployedFunction | None = None

    def client(self, service: str) -> Any:
        return self.session.client(service)

    # ------------------------------------------------------------ the stack
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
        if not outputs:
            print("note: moto computes no stack outputs for change-set deploys; the same values are read from the")
            print("      stack's resources (output X is the physical id of the resource it references)")
        self.resources = {name: outputs.get(name) or physical.get(res, "") for name, res in STACK_OUTPUTS.items()}
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
        print(f"handler code: s3://{bucket}/{key}")
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
        try:
            self.function = DeployedFunction.fetch(self.session, self.scanner_arn, code, layer_zip, self.work)
        except PlatformError:
            self.checks.check("code in the artifacts bucket is the function's code", False)
            raise
        self.checks.check("code in the artifacts bucket is the function's code", True)
        binary = self.function.layer_dir / "bin" / "qscanner"
        self.function.environment["QSCANNER_PATH"] = str(binary)
        tmp = self.work / "lambda-tmp"
        tmp.mkdir(exist_ok=True)
        self.function.prepare = PREPARE_TMP.format(path=str(tmp))
        executable = binary.is_file() and bool(binary.stat().st_mode & stat.S_IXUSR)
        self.checks.check("layer has an executable bin/qscanner (Lambda: /opt/bin/qscanner)", executable)

    def _layer_from_bucket(self, bucket: str, code_sha256: str) -> bytes:
        for key in runtime.s3_keys(self.session, bucket, "layers/"):
            data = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            if runtime.lambda_sha256(data) == code_sha256:
                return bytes(data)
        raise DemoError("the published layer's zip is not in the artifacts bucket")

    def listen(self) -> None:
        section("4. listeners: SNS, a scan-event rule, Security Hub; the platform takes over the queue")
        self.notification_queue = runtime.subscribe_queue(
            self.session, self.resources["SNSTopicArn"], "demo-scan-notifications"
        )
        print(f"subscribed SQS queue demo-scan-notifications to {self.resources['SNSTopicArn']}")
        for source in runtime.take_over_event_source_mappings(self.session, self.scanner_arn):
            print(f"note: moto cannot run Lambda: the scanner's event source mapping on {source}")
            print("      is disabled and the demo polls that queue and invokes the handler as Lambda's poller would")
        print("note: moto does not invoke Lambda functions; the demo runs the deployed handler with what was routed")
        # A user's own rule on the scanner's `Lambda Scan Completed` events (moto delivers PutEvents to
        # SQS targets synchronously, so the handler's event lands in this queue during the scan).
        sqs, events = self.client("sqs"), self.client("events")
        self.scan_event_queue = sqs.create_queue(QueueName="demo-scan-completed")["QueueUrl"]
        events.put_rule(Name="demo-scan-completed", EventBusName="default", EventPattern=json.dumps(SCAN_EVENT_PATTERN))
        events.put_targets(
            Rule="demo-scan-completed",
            EventBusName="default",
            Targets=[{"Id": "demo-scan-completed", "Arn": runtime.queue_arn(sqs, self.scan_event_queue)}],
        )
        print(f"created rule demo-scan-completed on the default bus: {json.dumps(SCAN_EVENT_PATTERN)} -> SQS")
        securityhub = self.client("securityhub")
        securityhub.enable_security_hub(EnableDefaultStandards=False)
        print(f"enabled Security Hub: {securityhub.describe_hub()['HubArn']}")
        for name, ids in runtime.set_aside_lambda_targets(self.session):
            print(f"note: moto cannot deliver to Lambda targets: {ids} of rule {name} set aside")

    # ------------------------------------------------------------ the platform at work
    def change(self, event_name: str, arn: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A Lambda API call: CloudTrail's event through the stack's rules, the queue, the scanner."""
        event = runtime.cloudtrail_event(event_name, arn, extra, user="demo-developer")
        print("note: moto emits no CloudTrail events; the demo routes the one CloudTrail would write")
        routed = runtime.route(self.session, event)
        if not routed.rules:
            raise DemoError(f"no rule of the stack matched the {event_name} event")
        print(f"EventBridge routed {event_name} (event id {event['id']}) through rule {', '.join(routed.rules)}")
        if not routed.queues:
            return self.invoke(event)
        print(f"the rule's target queue {routed.queues[0].rsplit(':', 1)[-1]} holds it; Lambda's poller hands it over")
        worked = self.work_queue(routed.queues[0])
        if not worked:
            raise DemoError(f"the rule's queue did not receive the {event_name} event")
        return worked[-1][1]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The deployed handler run on a direct event; returns its outcome."""
        assert self.function is not None
        print(f"invoking the deployed handler {self.function.configuration['Handler']} (QSCANNER_PATH -> the layer)")
        return self._outcome(self.function(event, LambdaContext(self.scanner_arn, INVOCATION_BUDGET_MS)))

    def work_queue(self, queue_arn: str) -> list[tuple[str, dict[str, Any]]]:
        """Lambda's poller on the scan queue until it is empty: (message body's function, outcome) per batch."""
        assert self.function is not None
        done = []
        while True:
            context = LambdaContext(self.scanner_arn, INVOCATION_BUDGET_MS)
            polled = runtime.poll(self.session, queue_arn, self.function, context)
            if polled is None:
                return done
            print(f"the poller invoked the deployed handler with the batch of message {polled.delivered[0]}")
            done.append((polled.delivered[0], self._outcome(polled.result)))

    def _outcome(self, result: dict[str, Any]) -> dict[str, Any]:
        """The scan outcome: a direct event's return value, or for a queue batch (whose return value lists
        only failed messages) the outcome the handler's JSON log reports."""
        assert self.function is not None
        logs = self.function.invocations[-1].logs
        for record in logs[-8:]:
            print(f"    log: {json.dumps(record, sort_keys=True)[:300]}")
        print(f"handler returned: {json.dumps(result)}")
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
    def create_sample(self) -> str:
        section("5. a developer creates a function with a vulnerable package and a planted key")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam = self.client("iam")
        role = iam.create_role(RoleName="demo-functions-role", AssumeRolePolicyDocument=json.dumps(trust))
        self.role_arn = role["Role"]["Arn"]
        arn = self._create_function(SAMPLE_FUNCTION, "app.handler", runtime.zip_bytes(SAMPLE_CODE))
        print(f"created {arn}: requirements.txt pins requests==2.19.1; app.py holds the fake key {FAKE_KEY_ID}")
        return arn

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
        result = self.change("CreateFunction20150331", arn)
        self.checks.check("first scan ran", result.get("outcome") == "scanned")
        scan_id = str(result.get("scan_id", ""))

        section("7. what a user checks in AWS after the scan")
        tags = runtime.function_tags(self.session, arn)
        print("function tags:")
        for key in sorted(k for k in tags if k.startswith("QualysScan")):
            print(f"  {key} = {tags[key]}")
        self.checks.check("tag QualysScanStatus = success", tags.get("QualysScanStatus") == "success")
        self.checks.check("tag QualysScanTag = the scan id", bool(scan_id) and tags.get("QualysScanTag") == scan_id)
        self.show_results()
        self.show_notifications(arn)
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
        item = runtime.cache_item(self.session, self.resources["ScanCacheTableName"], {"function_arn": {"S": arn}})
        print(f"DynamoDB cache entry: {json.dumps(item, sort_keys=True, default=str)}")
        self.checks.check("cache entry records the scan", item.get("status") == "success")
        return scan_id

    def show_results(self) -> None:
        bucket = self.resources["ResultsBucketName"]
        keys = runtime.s3_keys(self.session, bucket, "scans/")
        print(f"S3 results in s3://{bucket}:")
        for key in keys:
            print(f"  {key}")
        summary_keys = [k for k in keys if k.endswith("/summary.json")]
        self.checks.check("summary.json in the results bucket", bool(summary_keys))
        if not summary_keys:
            return
        summary = runtime.s3_json(self.session, bucket, summary_keys[0])
        findings = summary["findings"]
        print(f"summary findings: {json.dumps(findings, sort_keys=True)}")
        self.checks.check("summary reports the vulnerable requests package", findings["vulnerabilities"]["total"] > 0)
        self.checks.check("summary reports the planted key", findings["secrets"] > 0)
        sboms = summary.get("sbom") or {}
        print("SBOMs (summary.json `sbom`):")
        for fmt, key in sorted(sboms.items()):
            print(f"  {fmt:9} {key}")
        self.checks.check(
            "SPDX and CycloneDX SBOMs listed in summary.json and stored in the bucket",
            set(sboms) == {"spdx", "cyclonedx"} and all(key in keys for key in sboms.values()),
        )

    def show_notifications(self, arn: str) -> None:
        notifications = runtime.sns_messages(self.session, self.notification_queue)
        for message in notifications:
            body = json.loads(message["Message"])
            attributes = {k: v["Value"] for k, v in message.get("MessageAttributes", {}).items()}
            print(
                f"SNS message: subject {message.get('Subject')!r}, attributes {json.dumps(attributes, sort_keys=True)}"
            )
            print(f"  body: status={body['scan']['status']} findings={json.dumps(body['findings'], sort_keys=True)}")
        self.checks.check("SNS notification received", bool(notifications))
        scan_events = runtime.bodies(runtime.receive_all(self.client("sqs"), self.scan_event_queue))
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

    def configuration_change(self, arn: str) -> None:
        section("8. UpdateFunctionConfiguration (memory 128 -> 256 MB): same code, cache skip expected")
        self.client("lambda").update_function_configuration(FunctionName=SAMPLE_FUNCTION, MemorySize=256)
        result = self.change("UpdateFunctionConfiguration20150331v2", arn, {"memorySize": 256})
        self.checks.check(
            "configuration-only change skipped by the cache (outcome cache_hit)", result.get("outcome") == "cache_hit"
        )

    def code_change(self, arn: str, first_scan_id: str) -> None:
        section("9. UpdateFunctionCode (requests 2.19.1 -> 2.32.3): new CodeSha256, rescan expected")
        code = runtime.zip_bytes({**SAMPLE_CODE, "requirements.txt": FIXED_REQUIREMENTS})
        print(f"requirements.txt: {SAMPLE_CODE['requirements.txt'].strip()} -> {FIXED_REQUIREMENTS.strip()}")
        lambda_client = self.client("lambda")
        lambda_client.update_function_code(FunctionName=SAMPLE_FUNCTION, ZipFile=code)
        store_function_code(lambda_client, self.client("s3"), SAMPLE_FUNCTION, code)
        result = self.change("UpdateFunctionCode20150331v2", arn)
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

    def coverage_setup(self) -> None:
        section("10. coverage: a function the scanner never saw, one opted out by tag")
        self._create_function(LEGACY_FUNCTION, "report.handler", runtime.zip_bytes(LEGACY_CODE))
        print(f"created {LEGACY_FUNCTION} (pins pyyaml==5.3.1); no CloudTrail event is delivered for it: it stands")
        print("      for a function created before the stack, which the event rules never saw")
        code = runtime.zip_bytes(SAMPLE_CODE)
        self._create_function(EXCLUDED_FUNCTION, "app.handler", code, {EXCLUDE_TAG: "true"})
        print(f"created {EXCLUDED_FUNCTION} tagged {EXCLUDE_TAG}=true")
        reasons = self.coverage_report()
        self.checks.check(f"coverage: {SAMPLE_FUNCTION} SCANNED", reasons.get(SAMPLE_FUNCTION) == "SCANNED")
        self.checks.check(f"coverage: {LEGACY_FUNCTION} PENDING", reasons.get(LEGACY_FUNCTION) == "PENDING")
        self.checks.check(
            f"coverage: {EXCLUDED_FUNCTION} EXCLUDED_BY_TAG", reasons.get(EXCLUDED_FUNCTION) == "EXCLUDED_BY_TAG"
        )

    def inventory(self) -> None:
        section("11. the scheduled inventory enqueues what is not covered; the scanner works the queue")
        rule = self.client("events").describe_rule(Name=self.resources["InventoryScheduleRuleName"])
        print(f"note: moto does not fire schedules; the demo delivers the event rule {rule['Name']}")
        print(f"      ({rule.get('ScheduleExpression')}) sends its Lambda target, straight to the handler")
        result = self.invoke(runtime.scheduled_event(rule["Arn"]))
        self.checks.check(
            "the schedule only planned: one inventory unit (this account, this region)",
            result.get("outcome") == "inventory planned" and result.get("units") == 1,
        )

        sqs = self.client("sqs")
        queue_url = self.resources["ScanQueueUrl"]
        queue_arn = runtime.queue_arn(sqs, queue_url)
        units_arn = runtime.queue_arn(sqs, self.resources["InventoryQueueUrl"])
        print("-- Lambda's poller hands the inventory unit (this account, this region) to the scanner")
        context = LambdaContext(self.scanner_arn, INVOCATION_BUDGET_MS)
        polled = runtime.poll(self.session, units_arn, self.function, context)
        unit = self._outcome(polled.result) if polled else {}
        self.checks.check("inventory ran and enqueued scans", int(unit.get("enqueued", 0)) > 0)
        messages = runtime.receive_all(sqs, queue_url, delete=False)
        print(f"scan queue {queue_arn.rsplit(':', 1)[-1]} holds {len(messages)} scan request(s):")
        requested: dict[str, str] = {}
        for message in messages:
            body = json.loads(message["Body"])
            name = str(body["detail"]["functionArn"]).rsplit(":", 1)[-1]
            requested[message["MessageId"]] = name
            print(f"  {body['source']} / {body['detail-type']}: {name} (force={str(body['detail']['force']).lower()})")
        names = set(requested.values())
        self.checks.check(f"inventory enqueued {LEGACY_FUNCTION}", LEGACY_FUNCTION in names)
        self.checks.check(
            f"inventory left {SAMPLE_FUNCTION} (covered) and {EXCLUDED_FUNCTION} (excluded) alone",
            SAMPLE_FUNCTION not in names and EXCLUDED_FUNCTION not in names,
        )
        scanner_name = self.resources["ScannerFunctionName"]
        self.checks.check("the scanner's own function is neither listed nor enqueued", scanner_name not in names)
        print("-- Lambda's poller hands each request to the scanner")
        outcomes = {requested.get(message_id, "?"): outcome for message_id, outcome in self.work_queue(queue_arn)}
        self.checks.check(
            f"{LEGACY_FUNCTION} scanned from the queue", outcomes.get(LEGACY_FUNCTION, {}).get("outcome") == "scanned"
        )
        print("the coverage report again:")
        reasons = self.coverage_report()
        self.checks.check(
            f"coverage after the inventory: {LEGACY_FUNCTION} SCANNED", reasons.get(LEGACY_FUNCTION) == "SCANNED"
        )
        self.checks.check(
            f"coverage after the inventory: {EXCLUDED_FUNCTION} still EXCLUDED_BY_TAG",
            reasons.get(EXCLUDED_FUNCTION) == "EXCLUDED_BY_TAG",
        )

    # ------------------------------------------------------------ what the user runs and reads
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
    arn = demo.create_sample()
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
        with runtime.moto_server(work / "moto.log", REGION) as (url, port, pid):
            print(f"moto server (AWS emulator) listening on {url} (pid {pid})")
            os.environ.update(FAKE_CREDENTIALS)
            os.environ.pop("AWS_PROFILE", None)
            os.environ["AWS_ENDPOINT_URL"] = url
            os.environ["QUALYS_ACCESS_TOKEN"] = DEMO_TOKEN
            os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved.get("PATH", "")])
            try:
                run(Demo(work=work, make=args.make, checks=checks))
            except (DemoError, PlatformError, subprocess.SubprocessError, KeyError, ClientError, BotoCoreError) as exc:
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
                emulator_errors = [
                    line
                    for line in (work / "moto.log").read_text(errors="replace").splitlines()
                    if '" 200 -' not in line and "HTTP/1.1" not in line
                ]
                print("emulator log (last lines):\n  " + "\n  ".join(emulator_errors[-12:]))
        print(f"moto server stopped (pid {pid}); port {port} {'STILL OPEN' if runtime.port_open(port) else 'closed'}")
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
