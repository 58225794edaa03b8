"""The demo's chapters on findings a team can act on: suppressions as code, what a rescan says changed,
an accepted finding suppressed, and a function URL raising the priority (docs/findings.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local import runtime
from local.demo_common import LEGACY_FUNCTION, REGION, ROOT, SAMPLE_FUNCTION, DemoError, print_findings, section
from local.runtime import LambdaContext

if TYPE_CHECKING:
    from local.demo import Story

# The team's suppressions live in a bucket of their own, named at deploy time (SuppressionsUri).
SUPPRESSIONS_BUCKET = "qscanner-demo-suppressions"
SUPPRESSIONS_URI = f"s3://{SUPPRESSIONS_BUCKET}/suppressions/suppressions.json"
# The team accepted legacy-report's PyYAML finding: report.py loads only trusted YAML.
ACCEPTED_RULE = "pyyaml-trusted-input"
ACCEPTED_QID = "900002"


def accept(story: Story, work: Path, make: str) -> None:
    """Before any scan: the team's rule, validated and uploaded by `make suppressions`."""
    section("4b. the team's assessed findings, as code: make suppressions validates and uploads them")
    story.client("s3").create_bucket(
        Bucket=SUPPRESSIONS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    expires = (datetime.now(UTC).date() + timedelta(days=90)).isoformat()
    rule = {
        "id": ACCEPTED_RULE,
        "cve": "CVE-2020-14343",
        "functions": [LEGACY_FUNCTION],
        "reason": "report.py loads only the team's own YAML, with safe_load",
        "expires": expires,
        "vex_justification": "vulnerable_code_cannot_be_controlled_by_adversary",
    }
    path = work / "suppressions.json"
    path.write_text(json.dumps({"suppressions": [rule]}, indent=2))
    print(f"{path.name}: {json.dumps(rule)}")
    argv = [make, "--no-print-directory", "-s", "suppressions", f"FILE={path}", f"AWS_REGION={REGION}"]
    argv += [f"SUPPRESSIONS_BUCKET={SUPPRESSIONS_BUCKET}", f"AWS={Path(sys.executable).parent / 'aws'}"]
    print("$ " + " ".join(argv[:1] + argv[3:]))
    completed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    print(completed.stdout.rstrip())
    ok = completed.returncode == 0 and f"SuppressionsUri={SUPPRESSIONS_URI}" in completed.stdout
    story.check("suppressions_uploaded", ok, "make suppressions validated and uploaded the rule", err=completed.stderr)


def show_changes(story: Story) -> None:
    """After the code change: what the rescan says changed, in the summary and the SNS attributes."""
    summary, attributes = last_notification(story, SAMPLE_FUNCTION)
    changes = summary["findings"]["changes"]
    print(f"what changed since the first scan (summary findings.changes): {json.dumps(changes)}")
    print(f"SNS attributes: {json.dumps(attributes, sort_keys=True)}")
    ok = (changes["new"], changes["fixed"]) == (["900003"], ["900001"])
    story.check("changes", ok, "one new (urllib3, QID 900003) and one fixed (requests, QID 900001)", **changes)
    ok = (attributes.get("new_findings"), attributes.get("new_max_severity")) == ("1", "medium")
    story.check("new_attributes", ok, "SNS new_findings = 1, new_max_severity = medium", **attributes)
    story.priority_before_url = attributes.get("priority", "")


def last_notification(story: Story, function_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The newest SNS message about `function_name` (summary, attributes); earlier ones are consumed."""
    found: tuple[dict[str, Any], dict[str, str]] = ({}, {})
    for message in runtime.sns_messages(story.stack.session, story.notification_queue):
        body = json.loads(message["Message"])
        if body["function"]["name"] == function_name:
            found = (body, {k: v["Value"] for k, v in message.get("MessageAttributes", {}).items()})
    if not found[0]:
        raise DemoError(f"no SNS message about {function_name}")
    return found


def show_suppressed(story: Story) -> None:
    section(f"12. {LEGACY_FUNCTION}'s PyYAML finding: the team's rule suppresses it")
    summary, attributes = last_notification(story, LEGACY_FUNCTION)
    print(f"summary findings.suppressed: {json.dumps(summary['findings']['suppressed'])}")
    print(f"SNS attributes: {json.dumps(attributes, sort_keys=True)}")
    rules = [(s["qid"], s["rule"]) for s in summary["findings"]["suppressed"]]
    story.check("suppressed", rules == [(ACCEPTED_QID, ACCEPTED_RULE)], "the summary names the rule", rules=rules)
    ok = attributes.get("new_max_severity") != "critical" and attributes.get("max_severity") == "critical"
    story.check("suppressed_not_new", ok, "the critical stays out of new_max_severity", **attributes)
    arn = summary["function"]["arn"]
    views = story.stack.findings(arn)
    print(f"Security Hub findings for {LEGACY_FUNCTION}:")
    print_findings(views)
    ok = any(
        v["product_fields"].get("qualys-lambda/Qid") == ACCEPTED_QID and v["workflow"] == "SUPPRESSED" for v in views
    )
    story.check("hub_suppressed", ok, "Security Hub: the PyYAML finding SUPPRESSED", findings=views)
    vex_key = (summary.get("s3") or {}).get("openvex_key", "")
    story.check("openvex", bool(vex_key), "OpenVEX document beside the summary", key=vex_key)


def public_url(story: Story, arn: str) -> None:
    section(f"13. a function URL with AuthType NONE on {SAMPLE_FUNCTION}: anyone can invoke it")
    url = story.client("lambda").create_function_url_config(FunctionName=SAMPLE_FUNCTION, AuthType="NONE")
    print(f"created {url['FunctionUrl']} (AuthType NONE)")
    event = runtime.envelope(
        "qualys-lambda.manual",
        "Scan Request",
        {"functionName": SAMPLE_FUNCTION, "force": True},
        arn.split(":")[4],
        REGION,
    )
    print(f"a manual, forced scan request goes straight to the deployed handler: {json.dumps(event['detail'])}")
    result = story.function(event, LambdaContext(story.scanner_arn))
    print(f"handler returned: {json.dumps(result)}")
    summary, attributes = last_notification(story, SAMPLE_FUNCTION)
    print(f"summary function.exposure: {json.dumps(summary['function']['exposure'])}")
    print(f"summary priority: {json.dumps(summary['priority'])}")
    ok = (story.priority_before_url, attributes.get("priority")) == ("P2", "P1")
    label = "the public URL raises the priority from P2 to P1"
    story.check("priority_raised", ok, label, before=story.priority_before_url, after=attributes.get("priority"))
