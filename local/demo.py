"""`make demo`: deploy the scanner with the real `make deploy` to a local AWS emulator and watch it work.

QScanner is SIMULATED (local/qscanner): the Qualys binary is licensed and not in this repository. All
runs on a moto server on 127.0.0.1 that this script starts and always stops. What AWS does around the
scanner (CloudTrail, EventBridge, Lambda's poller and runtime, the schedule) is local/runtime.py's, each
stand-in printed as a `note:`. The story: deploy, create a vulnerable function, watch it scanned, change
its configuration (cache), change its code (a rescan with one new and one fixed finding), find what
events missed (a finding the team accepted comes back suppressed), open a function URL (the priority
rises). Checks: JSON (DEMO_CHECKS).
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local import demo_aliases, demo_findings, runtime
from local.demo_common import (
    LEGACY_FUNCTION,
    REGION,
    ROOT,
    SAMPLE_FUNCTION,
    Checks,
    DemoError,
    note,
    print_findings,
    sample,
    section,
)
from local.demo_findings import SUPPRESSIONS_URI
from local.emulator import create_zip_function, lambda_role, store_function_code
from local.runtime import DeployedFunction, LambdaContext, PlatformError

STACK_NAME = "qscanner"
DEMO_TOKEN = "demo-token-not-a-real-qualys-token"  # noqa: S105 - a placeholder the simulator accepts
# The code change: requests fixed (QID 900001 fixed), urllib3 added in a vulnerable version (900003 new).
CHANGED_REQUIREMENTS = "requests==2.32.3\nurllib3==1.24.1\n"
EXCLUDED_FUNCTION = "payments-sandbox"
EXCLUDE_TAG = "QualysScanExclude"
# The deploy's extra stack parameters (the Makefile's PARAMETERS variable).
STACK_PARAMETERS = f"EnableSecurityHub=true SuppressionsUri={SUPPRESSIONS_URI}"
SCAN_EVENT_PATTERN = {"source": ["qualys-lambda"], "detail-type": ["Lambda Scan Completed"]}
# Where the checks are written as JSON (local/README.md describes it); the DEMO_CHECKS variable moves it.
CHECKS_FILE = ROOT / "build" / "demo-checks.json"


def deploy(work: Path, make: str, checks: Checks) -> Story:
    """Steps 1-3: the real `make deploy`, what it left behind, the deployed handler code and layer."""
    section("1. make deploy (the real target) against the emulator")
    argv = [make, "--no-print-directory", "deploy", f"AWS_REGION={REGION}", f"STACK_NAME={STACK_NAME}"]
    argv += ["QUALYS_POD=US2", "QSCANNER=local/qscanner", f"AWS={Path(sys.executable).parent / 'aws'}"]
    argv += [f"BUILD={work / 'build'}", f"PARAMETERS={STACK_PARAMETERS}"]
    print("$ " + " ".join(argv[:1] + argv[2:]) + "   # QUALYS_ACCESS_TOKEN=<demo token> in the environment")
    started = time.monotonic()
    completed = subprocess.run(argv, cwd=ROOT, env=os.environ.copy(), check=False)
    print(f"(make deploy took {time.monotonic() - started:.1f}s)")
    if completed.returncode != 0:
        raise DemoError(f"make deploy failed with exit code {completed.returncode}")

    section("2. what make deploy left behind")
    session = boto3.Session(region_name=REGION)
    stack = runtime.Stack.read(session, STACK_NAME, on_note=note)
    scanner_arn = stack.function_arn()
    variables = session.client("lambda").get_function_configuration(FunctionName=scanner_arn)["Environment"]
    print(f"stack {STACK_NAME}: {stack.status}")
    print("\n".join(f"  {name:38} {stack.outputs[name]}" for name in runtime.SCANNER_OUTPUTS))
    print(f"  {'scanner environment':38} {json.dumps(variables['Variables'], sort_keys=True)}")
    secret = session.client("secretsmanager").get_secret_value(SecretId=stack.parameters["QualysSecretArn"])
    stored = json.loads(secret["SecretString"])
    print(f"  {'secret':38} {secret['Name']}: qualys_pod={stored['qualys_pod']}, qualys_access_token=<hidden>")
    checks.check("stack", stack.status.endswith("_COMPLETE"), "stack deployed", status=stack.status)
    checks.check("secret", stored.get("qualys_access_token") == DEMO_TOKEN, "secret holds the demo token")
    checks.check("scanner", bool(scanner_arn), "scanner function exists", arn=scanner_arn)
    hub = variables["Variables"].get("ENABLE_SECURITY_HUB", "")
    label = "scanner deployed with ENABLE_SECURITY_HUB=true (PARAMETERS=EnableSecurityHub=true)"
    checks.check("security_hub_enabled", hub == "true", label, ENABLE_SECURITY_HUB=hub)

    section("3. the deployed handler code and the published QScanner layer")
    print(f"handler code: s3://{stack.parameters['CodeS3Bucket']}/{stack.parameters['CodeS3Key']}")
    print(f"layer: {stack.parameters['QScannerLayerArn']}")
    label = "code in the artifacts bucket is the function's code"
    try:
        function = stack.deployed_function(work)
    except PlatformError:
        checks.check("deployed_code", False, label)
        raise
    checks.check("deployed_code", True, label)
    binary = Path(function.environment["QSCANNER_PATH"])
    print(f"QSCANNER_PATH=/opt/bin/qscanner is the layer's {binary}")
    executable = binary.is_file() and bool(binary.stat().st_mode & stat.S_IXUSR)
    checks.check("layer", executable, "layer has an executable bin/qscanner (Lambda: /opt/bin/qscanner)")
    return Story(stack, function, scanner_arn, checks.check)


@dataclass
class Story:
    """The deployed scanner at work, played step by step, and what a user would look at."""

    stack: runtime.Stack
    function: DeployedFunction
    scanner_arn: str
    check: Callable[..., bool]  # Checks.check
    notification_queue: str = ""
    scan_event_queue: str = ""
    role_arn: str = ""
    priority_before_url: str = ""

    def client(self, service: str) -> Any:
        return self.stack.session.client(service)

    def listen(self) -> None:
        section("4. listeners: SNS, a scan-event rule, Security Hub; the platform takes over the queue")
        topic = self.stack.outputs["SNSTopicArn"]
        self.notification_queue = runtime.subscribe_queue(self.stack.session, topic, "demo-scan-notifications")
        print(f"subscribed SQS queue demo-scan-notifications to {topic}")
        # A user's own rule on the scanner's `Lambda Scan Completed` events (moto delivers PutEvents to
        # SQS targets synchronously, so the handler's event lands in this queue during the scan).
        self.scan_event_queue = runtime.rule_to_queue(self.stack.session, "demo-scan-completed", SCAN_EVENT_PATTERN)
        print(f"created rule demo-scan-completed on the default bus: {json.dumps(SCAN_EVENT_PATTERN)} -> SQS")
        securityhub = self.client("securityhub")
        securityhub.enable_security_hub(EnableDefaultStandards=False)
        print(f"enabled Security Hub: {securityhub.describe_hub()['HubArn']}")
        self.stack.take_over()

    def change(self, event_name: str, arn: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A Lambda API call: CloudTrail's event through the stack's rules, the queue, the scanner."""
        event = runtime.cloudtrail_event(event_name, arn, extra, user="demo-developer")
        routed = self.stack.route(event)
        if not routed.queues:
            raise DemoError(f"no rule of the stack sent the {event_name} event to a queue")
        print(f"EventBridge routed {event_name} (event id {event['id']}) through rule {', '.join(routed.rules)}")
        print(f"the rule's target queue {routed.queues[0].rsplit(':', 1)[-1]} holds it; Lambda's poller hands it over")
        return self.work_queue(routed.queues[0])[-1]

    def work_queue(self, queue_arn: str) -> list[dict[str, Any]]:
        """Lambda's poller on the queue until it is empty: the handler's outcome line of each message."""
        outcomes = []
        for polled in self.stack.drain(queue_arn, self.function):
            for o in polled.outcomes:
                print(f"the poller invoked the deployed handler with message {o['message_id']}: {o['outcome']}")
            outcomes += polled.outcomes
        return outcomes

    def create(self, name: str, handler: str, files: Mapping[str, str], tags: Mapping[str, str] | None = None) -> str:
        return create_zip_function(self.stack.session, name, handler, runtime.zip_bytes(files), self.role_arn, tags)

    # ------------------------------------------------------------ the story
    def create_sample(self) -> str:
        section("5. a developer creates a function with a vulnerable package and a planted key")
        self.role_arn = lambda_role(self.stack.session, "demo-functions-role")
        arn = self.create(SAMPLE_FUNCTION, "app.handler", sample(SAMPLE_FUNCTION))
        print(f"created {arn} (local/demo-functions): requests==2.19.1 and a planted key in app.py (a fake)")
        return arn

    def first_scan(self, arn: str) -> str:
        section("6. CreateFunction -> EventBridge rule -> scanner (QScanner SIMULATED)")
        result = self.change("CreateFunction20150331", arn)
        scan_id = str(result.get("scan_id", ""))
        self.check("first_scan", result.get("outcome") == "scanned", "first scan ran", outcome=result)

        section("7. what a user checks in AWS after the scan")
        tags = {k: v for k, v in runtime.function_tags(self.stack.session, arn).items() if k.startswith("QualysScan")}
        print("function tags:\n" + "\n".join(f"  {key} = {tags[key]}" for key in sorted(tags)))
        ok = tags.get("QualysScanStatus") == "success" and bool(scan_id) and tags.get("QualysScanTag") == scan_id
        self.check("tags", ok, "tags QualysScanStatus = success, QualysScanTag = the scan id", tags=tags)
        self.show_results()
        self.show_notifications(arn)
        views = self.stack.findings(arn)
        print(f"Security Hub findings for {SAMPLE_FUNCTION} (get_findings; moto ignores Filters: applied here):")
        print_findings(views)
        cve = [v for v in views if v["cve"] == "CVE-2018-18074" and (v["state"], v["severity"]) == ("ACTIVE", "HIGH")]
        self.check("hub_findings", bool(cve), "Security Hub: the requests CVE, ACTIVE, HIGH", findings=views)
        secret = [v for v in views if v["state"] == "ACTIVE" and "Secret" in v["title"]]
        self.check("hub_secret", bool(secret), "Security Hub: the planted key, ACTIVE")
        table = self.stack.outputs["ScanCacheTableName"]
        item = runtime.cache_item(self.stack.session, table, {"function_arn": {"S": arn}})
        print(f"DynamoDB cache entry: {json.dumps(item, sort_keys=True, default=str)}")
        self.check("cache", item.get("status") == "success", "cache entry records the scan", status=item.get("status"))
        return scan_id

    def show_results(self) -> None:
        bucket = self.stack.outputs["ResultsBucketName"]
        keys = runtime.s3_keys(self.stack.session, bucket, "scans/")
        print(f"S3 results in s3://{bucket}:\n" + "\n".join(f"  {key}" for key in keys))
        summaries = [k for k in keys if k.endswith("/summary.json")]
        if not self.check("summary", bool(summaries), "summary.json in the results bucket", keys=keys):
            return
        summary = runtime.s3_json(self.stack.session, bucket, summaries[0])
        findings, sboms = summary["findings"], summary.get("sbom") or {}
        print(f"summary findings: {json.dumps(findings, sort_keys=True)}")
        total = findings["vulnerabilities"]["total"]
        self.check("vulnerabilities", total > 0, "summary reports the vulnerable requests package", total=total)
        self.check("secrets", findings["secrets"] > 0, "summary reports the planted key", **findings)
        print("SBOMs (summary.json `sbom`):\n" + "\n".join(f"  {f:9} {k}" for f, k in sorted(sboms.items())))
        ok = set(sboms) == {"spdx", "cyclonedx"} and all(key in keys for key in sboms.values())
        self.check("sbom", ok, "SPDX and CycloneDX SBOMs listed in summary.json and stored", sbom=sboms)

    def show_notifications(self, arn: str) -> None:
        notifications = runtime.sns_messages(self.stack.session, self.notification_queue)
        for message in notifications:
            body = json.loads(message["Message"])
            attributes = {k: v["Value"] for k, v in message.get("MessageAttributes", {}).items()}
            print(f"SNS message: subject {message.get('Subject')!r}, attributes {json.dumps(attributes)}")
            print(f"  body: status={body['scan']['status']} findings={json.dumps(body['findings'], sort_keys=True)}")
        subjects = [m.get("Subject") for m in notifications]
        self.check("sns", bool(notifications), "SNS notification received", subjects=subjects)
        scan_events = [
            {"detail-type": e["detail-type"], "source": e["source"], **e["detail"]["function"]}
            | {"max_severity": e["detail"]["findings"]["max_severity"]}
            for e in runtime.bodies(runtime.receive_all(self.client("sqs"), self.scan_event_queue))
        ]
        for event in scan_events:
            print(f"scan event via rule demo-scan-completed: {json.dumps(event)}")
        ok = any(e["detail-type"] == "Lambda Scan Completed" and e["arn"] == arn for e in scan_events)
        self.check("scan_event", ok, "`Lambda Scan Completed` event reached the demo's rule", events=scan_events)

    def configuration_change(self, arn: str) -> None:
        section("8. UpdateFunctionConfiguration (memory 128 -> 256 MB): same code, cache skip expected")
        self.client("lambda").update_function_configuration(FunctionName=SAMPLE_FUNCTION, MemorySize=256)
        result = self.change("UpdateFunctionConfiguration20150331v2", arn, {"memorySize": 256})
        self.check("cache_hit", result.get("outcome") == "cache_hit", "skipped by the cache", outcome=result)

    def code_change(self, arn: str, first_scan_id: str) -> None:
        section("9. UpdateFunctionCode (requests fixed, urllib3 added): new CodeSha256, rescan expected")
        files = sample(SAMPLE_FUNCTION)
        code = runtime.zip_bytes({**files, "requirements.txt": CHANGED_REQUIREMENTS})
        print(f"requirements.txt: {files['requirements.txt'].strip()} -> {' '.join(CHANGED_REQUIREMENTS.split())}")
        self.client("lambda").update_function_code(FunctionName=SAMPLE_FUNCTION, ZipFile=code)
        store_function_code(self.client("lambda"), self.client("s3"), SAMPLE_FUNCTION, code)
        result = self.change("UpdateFunctionCode20150331v2", arn)
        new_id = str(result.get("scan_id", ""))
        print(f"scan ids: first {first_scan_id}, after the code change {new_id}")
        ok = result.get("outcome") == "scanned" and bool(new_id) and new_id != first_scan_id
        self.check("rescan", ok, "code change rescanned (a new scan id)", first=first_scan_id, second=new_id)
        views = self.stack.findings(arn)
        for state in ("ACTIVE", "ARCHIVED"):
            print(f"Security Hub findings for {SAMPLE_FUNCTION} after the rescan, {state}:")
            print_findings([v for v in views if v["state"] == state])
        ok = any(v["cve"] == "CVE-2018-18074" and v["state"] == "ARCHIVED" for v in views)
        self.check("cve_archived", ok, "the fixed requests CVE is ARCHIVED after the rescan", findings=views)
        secret = any(v["state"] == "ACTIVE" and "Secret" in v["title"] for v in views)
        self.check("secret_active", secret, "the planted key (not fixed) stays ACTIVE")
        demo_findings.show_changes(self)

    def coverage_setup(self) -> None:
        section("10. coverage: a function the scanner never saw, one opted out by tag")
        self.create(LEGACY_FUNCTION, "report.handler", sample(LEGACY_FUNCTION))
        print(f"created {LEGACY_FUNCTION} (pins pyyaml==5.3.1) with no CloudTrail event: it predates the stack")
        self.create(EXCLUDED_FUNCTION, "app.handler", sample(SAMPLE_FUNCTION), {EXCLUDE_TAG: "true"})
        print(f"created {EXCLUDED_FUNCTION} tagged {EXCLUDE_TAG}=true")
        reasons = self.coverage_report()
        expected = {SAMPLE_FUNCTION: "SCANNED", LEGACY_FUNCTION: "PENDING", EXCLUDED_FUNCTION: "EXCLUDED_BY_TAG"}
        self.check("coverage_before", reasons == expected, f"coverage: {expected}", reasons=reasons)

    def inventory(self) -> None:
        section("11. the scheduled inventory enqueues what is not covered; the scanner works the queue")
        rule = self.client("events").describe_rule(Name=self.stack.outputs["InventoryScheduleRuleName"])
        note(f"moto fires no schedules: the event of rule {rule['Name']} goes straight to the deployed handler")
        result = self.function(runtime.scheduled_event(rule["Arn"]), LambdaContext(self.scanner_arn))
        print(f"handler returned: {json.dumps(result)}")  # a direct invocation returns its outcome
        ok = result.get("outcome") == "inventory planned" and result.get("units") == 1
        self.check("inventory_planned", ok, "the schedule only planned: one inventory unit", result=result)
        print("-- Lambda's poller hands the inventory unit (this account, this region) to the scanner")
        enqueued = sum(int(u.get("enqueued", 0)) for u in self.work_queue(self.stack.queue_arn("InventoryQueueUrl")))
        self.check("inventory_ran", enqueued > 0, "inventory ran and enqueued scans", enqueued=enqueued)
        queue_url = self.stack.outputs["ScanQueueUrl"]
        requests = [
            {"source": b["source"], "detail-type": b["detail-type"], **b["detail"]}
            for b in runtime.bodies(runtime.receive_all(self.client("sqs"), queue_url, delete=False))
        ]
        print(f"scan queue {queue_url.rsplit('/', 1)[-1]} holds {len(requests)} scan request(s):")
        print("\n".join(f"  {r['source']} / {r['detail-type']}: {r['functionArn']}" for r in requests))
        names = {str(r["functionArn"]).rsplit(":", 1)[-1] for r in requests}
        self.check("inventory_requests", names == {LEGACY_FUNCTION}, f"enqueued {LEGACY_FUNCTION}", requests=requests)
        print(f"  (not {SAMPLE_FUNCTION}: covered; not {EXCLUDED_FUNCTION}: excluded; not the scanner itself)")
        print("-- Lambda's poller hands each request to the scanner")
        scans = {o["function_arn"]: o["outcome"] for o in self.work_queue(self.stack.queue_arn("ScanQueueUrl"))}
        ok = list(scans.values()) == ["scanned"] and next(iter(scans)).endswith(f":{LEGACY_FUNCTION}")
        self.check("legacy_scanned", ok, f"{LEGACY_FUNCTION} scanned from the queue", outcomes=scans)
        print("the coverage report again:")
        reasons = self.coverage_report()
        expected = {SAMPLE_FUNCTION: "SCANNED", LEGACY_FUNCTION: "SCANNED", EXCLUDED_FUNCTION: "EXCLUDED_BY_TAG"}
        self.check("coverage_after", reasons == expected, f"coverage then: {expected}", reasons=reasons)

    def coverage_report(self) -> dict[str, str]:
        """Run the real coverage CLI (`--json`) against the emulator; prints its rows, returns {function: reason}."""
        name = self.stack.outputs["ScannerFunctionName"]
        argv = [sys.executable, "-m", "qualys_lambda.cli", "coverage", "--function-name", name, "--json"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUALYS_")}  # it needs no token
        env.update({"PYTHONPATH": str(ROOT / "scanner-lambda"), "LANG": "C.UTF-8"})
        print(f"$ python -m qualys_lambda.cli coverage --function-name {name} --json   # PYTHONPATH=scanner-lambda")
        completed = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)
        if completed.returncode != 0:
            raise DemoError(f"the coverage report failed: {completed.stderr.strip()[-300:]}")
        report = json.loads(completed.stdout)
        for row in sorted(report["functions"], key=lambda r: r["function_name"]):
            print(f"  {row['function_name']:20} {row['reason']:16} {row['status'] or '-':8} {row['last_scan'] or '-'}")
        print(f"  totals: {json.dumps(report['totals'], sort_keys=True)}")
        return {row["function_name"]: row["reason"] for row in report["functions"]}


def run(work: Path, make: str, checks: Checks) -> None:
    """Deploy to the emulator and play the scanner's story, recording checks."""
    story = deploy(work, make, checks)
    story.listen()
    demo_findings.accept(story, work, make)
    arn = story.create_sample()
    first = story.first_scan(arn)
    story.configuration_change(arn)
    story.code_change(arn, first)
    story.coverage_setup()
    story.inventory()
    demo_findings.show_suppressed(story)
    demo_findings.public_url(story, arn)
    demo_aliases.alias_on_old_version(story)


def main(argv: Sequence[str]) -> int:
    """Run the demo; exit code 0 only when every expected effect was seen."""
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--make", default="make", help="the make program to run `make deploy` with")
    args = parser.parse_args(argv)
    checks_file = Path(os.environ.get("DEMO_CHECKS") or CHECKS_FILE)
    started = time.monotonic()
    print("#" * 78 + "\n# qualys-lambda demo: QScanner is SIMULATED (local/qscanner), not the Qualys binary.")
    print(
        "# Findings come from a small bundled advisory list; everything runs on a local emulator (moto).\n" + "#" * 78
    )
    work = Path(tempfile.mkdtemp(prefix="qualys-lambda-demo-"))
    checks, error, emulator = Checks(), "", {}
    try:
        with runtime.emulated_aws(work / "moto.log", REGION, QUALYS_ACCESS_TOKEN=DEMO_TOKEN) as emulator:
            print(f"moto server (AWS emulator) listening on {emulator['url']} (pid {emulator['pid']})")
            run(work, args.make, checks)
    except (DemoError, PlatformError, subprocess.SubprocessError, KeyError, ClientError, BotoCoreError) as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        print("emulator log (last lines):\n  " + "\n  ".join(runtime.log_errors(work / "moto.log")[-12:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if emulator:
        state = "STILL OPEN" if emulator["port_open"] else "closed"
        print(f"moto server stopped (pid {emulator['pid']}); port {emulator['port']} {state}")
    section("summary")
    print("QScanner was SIMULATED: findings come from local/qscanner's bundled advisories, not from Qualys.")
    for result in checks.results:
        print(f"  [{'ok' if result['ok'] else 'MISSING'}] {result['label']}")
    if error:
        print(f"  [FAILED] the demo stopped: {error}")
    passed = bool(checks.results) and all(r["ok"] for r in checks.results) and not error
    seconds = round(time.monotonic() - started, 1)
    report = {"passed": passed, "qscanner": "SIMULATED (local/qscanner)", "error": error, "seconds": seconds}
    report |= {"emulator": emulator, "work_dir": str(work), "work_dir_removed": not work.exists()}
    checks_file.parent.mkdir(parents=True, exist_ok=True)
    checks_file.write_text(json.dumps({**report, "checks": checks.results}, indent=2, default=str) + "\n")
    print(f"demo {'PASSED' if passed else 'FAILED'} in {seconds}s; emulator stopped, temporary files removed")
    print(f"({work} exists: {work.exists()}); checks written to {checks_file}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
