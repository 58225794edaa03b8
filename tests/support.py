"""Helpers shared by the tests: events, moto resources, a fake QScanner runner; the platform is local/runtime.py."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from local import runtime
from local.runtime import LambdaContext
from local.runtime import zip_bytes as code_zip
from qualys_lambda.aws import AwsAccess
from qualys_lambda.config import Settings
from qualys_lambda.credentials import SecretReader
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from qualys_lambda.metrics import MetricsSink
from qualys_lambda.qscanner import Runner
from qualys_lambda.runtimes import DEPRECATION_DATES

VULNERABLE_CODE = {
    "app.py": "import requests\nAWS_KEY = 'AKIAIOSFODNN7EXAMPLE'\n",
    "requirements.txt": "requests==2.19.1\n",
}

# The Python runtime Lambda supports longest (runtimes.py's table), so test functions carry no runtime finding.
SUPPORTED_RUNTIME = max((r for r in DEPRECATION_DATES if r.startswith("python")), key=DEPRECATION_DATES.__getitem__)
EVENTS = Path(__file__).parent / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJxdWFseXMtdGVzdCJ9.c2lnbmF0dXJlLXRlc3Qtb25seQ"
SCANNER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:qualys-scanner"
# The single-account scanner's own-account access, which the spoke role grants the hub instead.
SPOKE_ROLE_SIDS = {
    "ReadFunctionsToScan",
    "ReadLayersToScan",
    "TagScannedFunctions",
    "DecryptFunctionCode",
    "PullFunctionImages",
    "GetEcrAuthorizationToken",
    "ListFunctionsForInventory",
    "ImportSecurityHubFindings",
    "ReadSecurityHubFindings",
    "SuppressSecurityHubFindings",
}
SECURITY_HUB_SIDS = {"ImportSecurityHubFindings", "ReadSecurityHubFindings", "SuppressSecurityHubFindings"}


def load_event(name: str, **detail_overrides: Any) -> dict[str, Any]:
    """A JSON event from tests/events, with `detail` keys replaced."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event = copy.deepcopy(event)
    event["detail"].update(detail_overrides)
    return event


def event_for(function_name: str, name: str = "create_function", account: str = ACCOUNT) -> dict[str, Any]:
    """A CloudTrail event naming `function_name` in `account` through requestParameters only."""
    event = load_event(name, responseElements=None, requestParameters={"functionName": function_name})
    event["account"] = account
    event["id"] = str(uuid.uuid4())
    return event


# A secret's own text as QScanner's `Match` carries it; no copy may reach anything the product writes.
PLANTED_SECRET = "AKIA" + "PLANTEDSECRET0042"


def sarif_rule(qid: int, severity: int, cves: list[str], cvss: float = 7.5) -> dict[str, Any]:
    """A SARIF rule as QScanner writes it: the QID's data lives here (Qualys QScanner README v4.8.0)."""
    return {
        "id": str(qid),
        "name": f"QID{qid}",
        "shortDescription": {"text": f"Vulnerability QID {qid}"},
        "properties": {
            "severity": severity,
            "customerSeverity": severity,
            "cve-ids": cves,
            "qds": severity * 19,
            "cvss3Info": {"baseScore": str(cvss), "temporalScore": str(cvss)},
            "category": "Language Specific",
            "typeDetected": "CONFIRMED",
        },
    }


def sarif_result(qid: int, packages: list[tuple[str, str, str]], message: str | None = None) -> dict[str, Any]:
    """A SARIF result: the QID and the vulnerable software (name, installed, fixed); the message is optional."""
    result: dict[str, Any] = {
        "ruleId": str(qid),
        "level": "error",
        "properties": {
            "QID": qid,
            "vulnerableSoftware": [
                {"name": n, "path": f"/var/task/{n}", "installedVersion": i, "fixedVersion": f, "layerSHA": ""}
                for n, i, f in packages
            ],
        },
    }
    if message is not None:
        result["message"] = {"text": message}
    return result


def sarif(severities: list[int]) -> dict[str, Any]:
    """A SARIF report in QScanner's layout with one QID per severity, all affecting `requests 2.19.1`."""
    qids = [100000 + i for i in range(len(severities))]
    rules = [sarif_rule(q, s, [f"CVE-2020-{i:04d}"]) for i, (q, s) in enumerate(zip(qids, severities, strict=True))]
    results = [sarif_result(q, [("requests", "2.19.1", "2.20.0")]) for q in qids]
    return {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "QScanner", "rules": rules}}, "results": results}],
    }


def scan_result(secrets: int, failed_scans: tuple[str, ...] = ()) -> dict[str, Any]:
    """A ScanResult.json in QScanner's SchemaVersion 5 layout with `secrets` planted secrets."""
    return {
        "SchemaVersion": 5,
        "QScannerVersion": "4.8.0",
        "ScansPerformed": [
            {"ScanType": t, "ScanDuration": "1s", "Status": "failed" if t in failed_scans else "success"}
            for t in ("pkg", "secret")
        ],
        "Metadata": {},
        "SecretResults": [
            {
                "Target": "app.py",
                "Secrets": [
                    {
                        "RuleID": "aws-access-key-id",
                        "Category": "AWS",
                        "Severity": "CRITICAL",
                        "Title": "AWS Access Key ID",
                        "StartLine": 2 + n,
                        "StartColumn": 10,
                        "EndLine": 2 + n,
                        "Match": PLANTED_SECRET,
                        "Layer": {},
                    }
                    for n in range(secrets)
                ],
            }
        ],
    }


@dataclass
class FakeRunner:
    """Stands in for the QScanner process: records each call, writes the files a real run would."""

    exit_code: int = 0
    severities: list[int] = field(default_factory=lambda: [5, 4, 4, 2])
    secrets: int = 1
    failed_scans: tuple[str, ...] = ()
    sarif_text: str | None = None
    stderr: str = ""
    delay: float = 0.0
    raises: BaseException | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    on_call: Callable[[list[str], dict[str, str]], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self.calls.append({"argv": list(argv), "env": dict(env), "timeout": timeout})
        if self.on_call:
            self.on_call(argv, env)
        if self.delay:
            time.sleep(self.delay)
        if self.raises is not None:
            raise self.raises
        output = Path(argv[argv.index("--output-dir") + 1])
        scan_id = str(uuid.uuid4())
        if self.exit_code in (0, 40, 41, 42, 43):
            result = scan_result(self.secrets, self.failed_scans)
            (output / f"{scan_id}-ScanResult.json").write_text(json.dumps(result))
        if self.exit_code in (0, 41, 42, 43):
            text = self.sarif_text if self.sarif_text is not None else json.dumps(sarif(self.severities))
            (output / f"{scan_id}-Report.sarif.json").write_text(text)
        return subprocess.CompletedProcess(argv, self.exit_code, stdout="", stderr=self.stderr)


def lambda_context(invoked_function_arn: str = SCANNER_ARN, remaining_ms: int = 900_000) -> LambdaContext:
    """The local runtime's Lambda context for the scanner, its clock frozen so timings are exact."""
    return LambdaContext(invoked_function_arn, remaining_ms, clock=lambda: 0.0)


class CloudFormationLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long JSON form."""


def _construct_short_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)
TEMPLATES = Path(__file__).parent.parent / "cloudformation"


def _unquote(text: str) -> str:
    # python-hcl2 8.x keeps string literals quoted ('"US2"') and expressions as '${...}'.
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def hcl_clean(value: Any) -> Any:
    """Parsed HCL with quotes removed and the parser's __is_block__ / __comments__ markers dropped."""
    if isinstance(value, dict):
        return {_unquote(k): hcl_clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [hcl_clean(item) for item in value]
    return _unquote(value) if isinstance(value, str) else value


def load_template(name: str) -> dict[str, Any]:
    """A CloudFormation template of cloudformation/ as a dict, short tags expanded (a copy: callers may edit it)."""
    path = TEMPLATES / name
    return copy.deepcopy(_parsed_template(path, path.stat().st_mtime_ns))


@functools.cache
def _parsed_template(path: Path, _mtime_ns: int) -> dict[str, Any]:
    # Parsed once per version of the file: every moto fixture reads the cache table's key schema from it.
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


HANDLER_ZIP = {"lambda_function.py": "def lambda_handler(event, context):\n    return {}\n"}


def admin_artifacts(session: Any, region: str, stack: str) -> dict[str, str]:
    """What `make deploy-hub` / `make deploy-stackset` put in a region first: code, secret, layer."""
    bucket = f"{stack}-artifacts-{session.client('sts').get_caller_identity()['Account']}-{region}"
    s3 = session.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="scanner-lambda/abc.zip", Body=code_zip(HANDLER_ZIP))
    secret = session.client("secretsmanager", region_name=region).create_secret(
        Name=f"{stack}/qualys", SecretString=json.dumps({"qualys_pod": "US2", "qualys_access_token": TOKEN})
    )
    layer = session.client("lambda", region_name=region).publish_layer_version(
        LayerName=f"{stack}-qscanner", Content={"ZipFile": code_zip(HANDLER_ZIP)}
    )
    return {
        "QualysSecretArn": secret["ARN"],
        "QScannerLayerArn": layer["LayerVersionArn"],
        "CodeS3Bucket": bucket,
        "CodeS3Key": "scanner-lambda/abc.zip",
    }


def create_stack(session: Any, name: str, template: str, parameters: dict[str, str]) -> dict[str, str]:
    """Create a stack from cloudformation/<template> (moto creates it synchronously); returns its outputs."""
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=(TEMPLATES / template).read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def template_with_trail_on(name: str) -> str:
    """The template's text with CreateCloudTrail defaulting to true, for tools that only evaluate defaults."""
    text, count = re.subn(
        r'(  CreateCloudTrail:\n    Type: String\n    Default: )"false"', r'\1"true"', (TEMPLATES / name).read_text()
    )
    assert count == 1, f"{name} has no CreateCloudTrail parameter defaulting to false"
    return text


CHECKOV = Path(__file__).parent.parent / ".venv-checkov" / "bin" / "checkov"


def run_checkov(workdir: Path, framework: str, targets: list[str]) -> subprocess.CompletedProcess[str]:
    """checkov on `targets` (files, or directories for terraform) given relative to `workdir`.

    Relative paths keep the result independent of where the repository is cloned: checkov's
    hard-coded secret check (CKV_AWS_45) also reads the file path, and an absolute path such as
    /check/work/main/cloudformation/stackset is 40 characters that look like an AWS secret key.
    """
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: `make test` creates .venv-checkov")
    flag = "-d" if framework == "terraform" else "-f"
    argv = [str(CHECKOV), *(a for target in targets for a in (flag, target)), "--framework", framework]
    # --skip-download: no call to the Prisma Cloud API (there is no network in CI).
    argv += ["--compact", "--quiet", "--skip-download"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=workdir, env=env, timeout=300)


def cache_table_definition() -> dict[str, Any]:
    """The cache table's key schema and attributes, taken from the single-account template."""
    resources = load_template("single-account-native.yaml")["Resources"]
    table = next(r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table")["Properties"]
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "ttl_attribute": table["TimeToLiveSpecification"]["AttributeName"],
    }


@dataclass
class Resources:
    """The AWS resources a scanner deployment has, in moto."""

    bucket: str
    table: str
    topic_arn: str
    queue_url: str
    secret_arn: str
    role_arn: str

    def messages(self) -> list[dict[str, Any]]:
        """SNS notifications received by the topic's SQS subscription (envelopes parsed, consumed)."""
        return runtime.sns_messages(boto3.Session(region_name=REGION), self.queue_url)

    def summary(self) -> dict[str, Any]:
        """The one summary.json in the results bucket."""
        session = boto3.Session(region_name=REGION)
        (key,) = [k for k in runtime.s3_keys(session, self.bucket) if k.endswith("/summary.json")]
        summary: dict[str, Any] = runtime.s3_json(session, self.bucket, key)
        return summary


RESULTS_KEY = "arn:aws:kms:us-east-1:123456789012:key/results-bucket-key"


def create_role(name: str = "function-role") -> str:
    """An IAM role functions can be created with."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def make_resources() -> Resources:
    """Bucket, cache table (from the template's key schema), topic with an SQS subscriber, secret, role."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="qualys-results")
    # KMS default encryption as the templates configure it: objects must get it, not an override.
    s3.put_bucket_encryption(
        Bucket="qualys-results",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": RESULTS_KEY}}
            ]
        },
    )
    definition = cache_table_definition()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="qualys-scan-cache",
        KeySchema=definition["KeySchema"],
        AttributeDefinitions=definition["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName="qualys-scan-cache",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": definition["ttl_attribute"]},
    )
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="qualys-results")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="qualys/qscanner", SecretString=json.dumps({"qualys_pod": "US2", "qualys_access_token": TOKEN})
    )["ARN"]
    return Resources("qualys-results", "qualys-scan-cache", topic_arn, queue_url, secret_arn, create_role())


def create_function(
    name: str = "orders-api",
    files: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    layers: list[str] | None = None,
    region: str = REGION,
    client: Any = None,
    role_arn: str | None = None,
    runtime: str = SUPPORTED_RUNTIME,
    zip_file: bytes | None = None,
) -> str:
    """A zip function in moto (`zip_file`, else `files` zipped; on a supported runtime unless told, so no
    runtime finding); returns its ARN."""
    lambda_client = client or boto3.client("lambda", region_name=region)
    kwargs: dict[str, Any] = {}
    if layers:
        kwargs["Layers"] = layers
    response = lambda_client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role_arn or f"arn:aws:iam::{ACCOUNT}:role/function-role",
        Handler="app.handler",
        Code={"ZipFile": zip_file or code_zip(files or VULNERABLE_CODE)},
        Tags=tags or {},
        **kwargs,
    )
    return str(response["FunctionArn"])


def settings_for(resources: Resources, **overrides: Any) -> Settings:
    """Scanner settings pointing at the moto resources."""
    env = {
        "QUALYS_SECRET_ARN": resources.secret_arn,
        "RESULTS_S3_BUCKET": resources.bucket,
        "SNS_TOPIC_ARN": resources.topic_arn,
        "SCAN_CACHE_TABLE": resources.table,
        "QSCANNER_PATH": "/opt/bin/qscanner",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


def make_deps(
    settings: Settings,
    runner: Runner,
    work_root: Path | str,
    *,
    access: AwsAccess | None = None,
    own_function_arn: str = SCANNER_ARN,
    region: str = REGION,
    metrics: MetricsSink | None = None,
) -> Deps:
    """The scanner's dependencies on moto: `ACCOUNT`'s own access unless given, the settings' secret."""
    secrets = SecretReader(boto3.client("secretsmanager", region_name=region), settings.qualys_secret_arn)
    deps = Deps(settings, access or AwsAccess(ACCOUNT), secrets, runner, own_function_arn, str(work_root))
    # The inventory's pace is still computed (InventoryPacedMilliseconds), but nothing waits for it on moto.
    deps.sleep = lambda _seconds: None
    if metrics is not None:
        deps.metrics = metrics
    return deps


def sts_denying_assume_role(role_arn: str, external_id: str) -> tuple[Any, Any]:
    """An STS client whose AssumeRole of `role_arn` with `external_id` answers AccessDenied, and its Stubber.

    moto does not evaluate trust policies; on AWS the role's sts:ExternalId condition gives this answer.
    """
    from botocore.stub import Stubber

    sts = boto3.client("sts", region_name=REGION)
    stubber = Stubber(sts)
    stubber.add_client_error(
        "assume_role",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform: sts:AssumeRole",
        http_status_code=403,
        expected_params={"RoleArn": role_arn, "RoleSessionName": "qualys-lambda-scanner", "ExternalId": external_id},
    )
    return sts, stubber


def organization_with_member(organizations: Any) -> tuple[str, str, str]:
    """A new organization, an OU and a member account in that OU: their ids."""
    org = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    member = organizations.create_account(AccountName="team-a", Email="team-a@example.com")["CreateAccountStatus"][
        "AccountId"
    ]
    organizations.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    return org, ou, member


def account_session(account: str, role_name: str = "OrganizationAccountAccessRole", region: str = REGION) -> Any:
    """A boto3 session acting in `account` (moto files assumed-role keys under the role's account)."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


@contextlib.contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """DynamoDB applies each conditional write atomically; moto does not, so concurrent claims can both win.

    Serialising moto's item writes restores the service's guarantee for tests that race threads.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    originals = {name: getattr(DynamoHandler, name) for name in ("put_item", "update_item", "delete_item")}

    def serialised(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any) -> Any:
            with lock:
                return original(self)

        return write

    for name, original in originals.items():
        setattr(DynamoHandler, name, serialised(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoHandler, name, original)


def schedule_event(account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
    """The inventory's EventBridge schedule event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "account": account,
        "region": region,
        "detail": {},
    }


def drain_units(
    scanner: Any, queue_url: str, context: Any = None, sqs: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runtime's Lambda poller on the inventory queue through the real handler, one message per invocation,
    until it is empty (continuations included). Returns (unit outcomes, the other messages' outcomes)."""
    context = context or lambda_context()
    session = boto3.Session(region_name=REGION)
    source_arn = runtime.queue_arn(sqs or session.client("sqs"), queue_url)
    polls = runtime.drain(session, source_arn, lambda event, ctx: handle(event, ctx, scanner), lambda: context)
    outcomes = [outcome for polled in polls for outcome in polled.outcomes]
    units = [o for o in outcomes if o.get("outcome") == "inventory unit"]
    return units, [o for o in outcomes if o.get("outcome") != "inventory unit"]


def run_inventory(scanner: Any, queue_url: str, context: Any = None) -> dict[str, Any]:
    """The schedule, then every unit it planned: the inventory's totals summed over its units."""
    planned = handle(schedule_event(), context or lambda_context(), scanner)
    outcomes, _others = drain_units(scanner, queue_url, context)
    return {
        "planned": planned,
        "units": outcomes,
        "functions": sum(o["functions"] for o in outcomes),
        "enqueued": sum(o["enqueued"] for o in outcomes),
        "totals": {key: sum(o["totals"][key] for o in outcomes) for key in outcomes[0]["totals"]},
    }


PAGE_SIZE = 50  # what real ListFunctions returns per page


class PagedLambda:
    """moto's Lambda client with ListFunctions paged by `size` like the real API (moto returns one page);
    records the Marker of every call."""

    def __init__(self, client: Any, size: int = PAGE_SIZE) -> None:
        self.client = client
        self.size = size
        self.markers: list[str] = []

    def list_functions(self, Marker: str = "") -> dict[str, Any]:
        self.markers.append(Marker)
        everything = self.client.list_functions()["Functions"]
        start = int(Marker or 0)
        page: dict[str, Any] = {"Functions": everything[start : start + self.size]}
        if start + self.size < len(everything):
            page["NextMarker"] = str(start + self.size)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


# ---------------------------------------------------------------- daily inventories on a simulated clock
# The inventory's schedule fires at 06:00 each day; the scans it queues run two hours later (a busy queue),
# so a retry "1 day after the last attempt" falls due two hours after the next day's inventory.
DAY_0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SCAN_LAG = timedelta(hours=2)
# The scan queue's redrive policy, as the templates set it: the dead-letter queue after 3 receives.
MAX_RECEIVES = 3


def scan_queues() -> dict[str, str]:
    """The scan queue (dead-letter queue after 3 receives), its DLQ and the inventory queue."""
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="scan-dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": runtime.queue_arn(sqs, dlq), "maxReceiveCount": str(MAX_RECEIVES)}
    scan = sqs.create_queue(QueueName="scan-requests", Attributes={"RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    units = sqs.create_queue(QueueName="inventory-units")["QueueUrl"]
    return {"SCAN_QUEUE_URL": scan, "INVENTORY_QUEUE_URL": units, "dlq": dlq}


def drain_scans(scanner: Any, scan_queue: str) -> list[runtime.Poll]:
    """Lambda's poller on the scan queue until it is empty: a failed message is received again, until the
    redrive policy moves it to the dead-letter queue (moto applies it on the receive after the third)."""
    session = boto3.Session(region_name=REGION)
    source = runtime.queue_arn(session.client("sqs"), scan_queue)
    polls = []
    while polled := runtime.poll(session, source, lambda event, ctx: handle(event, ctx, scanner), lambda_context()):
        polls.append(polled)
    return polls


def daily_inventories(
    scanner: Any,
    urls: dict[str, str],
    days: range,
    run_count: Callable[[], int],
    before: Callable[[int], None] = lambda day: None,
) -> list[int]:
    """One scheduled inventory a day at 06:00 (simulated clock), then its scans two hours later; returns
    the QScanner runs each day cost. `before(day)` runs first each day."""
    per_day = []
    for day in days:
        before(day)
        started = run_count()
        scanner.clock = lambda day=day: DAY_0 + timedelta(days=day)
        run_inventory(scanner, urls["INVENTORY_QUEUE_URL"])
        scanner.clock = lambda day=day: DAY_0 + timedelta(days=day) + SCAN_LAG
        drain_scans(scanner, urls["SCAN_QUEUE_URL"])
        per_day.append(run_count() - started)
    return per_day
