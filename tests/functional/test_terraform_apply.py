"""Every Terraform example applied on the session's moto server, as a user would on AWS: `terraform init`
(the AWS provider only, from TF_PLUGIN_DIR or a CLI configuration), `apply`, a second `plan` that must
show no changes, a scan through what Terraform deployed, then `destroy`, which must leave nothing.

The scan is the demo's (local/demo.py) on Terraform's resources: a CloudTrail-shaped CreateFunction
event through the deployed rules (and, for the centralized model, the spoke's forward to the hub bus),
the deployed queue, and the deployed handler code and layer run by the local runtime as Lambda would;
then the function's tags, the summary in the results bucket and the SNS notification are checked.

What moto 5.2.1 cannot do, and how these tests cope (without changing the modules):
- it neither stores nor returns a function's DeadLetterConfig and LoggingConfig, nor a StackSet's
  AutoDeployment and Capabilities, returns an SQS RedrivePolicy re-serialised with spaces and a
  stack's CommaDelimitedList parameter as a Python list's repr: the second plan may show exactly
  these differences (MOTO_GAPS; the same JSON, the same list; the StackSet replaced for them alone)
  and, through them, policies, stack outputs and parameters Terraform recomputes at apply ("known
  after apply"); any other change fails the test;
- it treats every bucket-policy statement with a condition it cannot evaluate (aws:SecureTransport,
  aws:PrincipalOrgID) as a Deny, so no object could be read or written: after apply the test deletes
  those bucket policies (moto_denies_conditions) and the second plan must re-create exactly them;
- it runs no Lambda, fires no schedules and fails PutEvents on a rule with a Lambda target: the event
  source mappings are taken over and the inventory rules' Lambda targets set aside (local/runtime.py);
- its DeleteStackInstances ignores DeploymentTargets, so the StackSet's instances in the OU's account
  are deleted by account before `terraform destroy`;
- it reports the hub stack DELETE_COMPLETE but keeps some of its resources (function, table): the
  centralized test checks the stacks' status and what Terraform owns, not those;
- its secrets are per account, so a StackSet member cannot read the administrator's shared secret: the
  StackSet example is checked by its instances and each member scanner's configuration, not a scan.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local import runtime
from local.emulator import store_function_code
from tests.support import account_session, organization_with_member

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = os.environ.get("TERRAFORM", "terraform")
# The Makefile's TF_PLUGIN_DIR (exported by make test); empty: the CLI configuration's provider sources.
PLUGIN_DIR = os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins")
TERRAFORM_TIMEOUT_S = 900
ACCESS_TOKEN = "terraform-apply-test-token-0123456789"
EXTERNAL_ID = "terraform-test-external-id-0123"
# Attributes moto 5.2.1 does not return as AWS does, by resource type (see the module docstring).
MOTO_GAPS = {
    "aws_lambda_function": {"dead_letter_config", "logging_config"},
    "aws_sqs_queue": {"redrive_policy"},
    "aws_cloudformation_stack_set": {"auto_deployment", "capabilities"},
    "aws_cloudformation_stack": {"parameters"},
}
RECOMPUTED = {"policy", "outputs", "parameters"}

# Terraform applies on the moto server take minutes each: left out of make test-fast.
pytestmark = [pytest.mark.server, pytest.mark.deploys, pytest.mark.slow]


def init_flags() -> list[str]:
    """`terraform init` flags that find the AWS provider here, or a skip that says what is missing."""
    if shutil.which(TERRAFORM) is None:
        pytest.skip(f"terraform not found ({TERRAFORM!r} is not on PATH): Terraform examples not applied")
    if PLUGIN_DIR and list(Path(PLUGIN_DIR).glob("*/hashicorp/aws/*")):
        return [f"-plugin-dir={PLUGIN_DIR}"]
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if cli_config and Path(cli_config).is_file():
        return []
    pytest.skip(
        f"no AWS provider for terraform: TF_PLUGIN_DIR={PLUGIN_DIR!r} holds no hashicorp/aws and "
        f"TF_CLI_CONFIG_FILE={cli_config!r} names no file: Terraform examples not applied"
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`make layer package`'s zips (the simulated QScanner in the layer), built once for the module."""
    build = tmp_path_factory.mktemp("build")
    zips = {"layer": build / "qscanner-layer.zip", "code": build / "scanner-lambda.zip"}
    builder = [sys.executable, str(ROOT / "local" / "build.py")]
    subprocess.run([*builder, "layer", "--qscanner", "local/qscanner", "--output", zips["layer"]], cwd=ROOT, check=True)
    subprocess.run([*builder, "package", "--source", "scanner-lambda", "--output", zips["code"]], cwd=ROOT, check=True)
    return zips


@dataclass
class Example:
    """One example in a copy of terraform/ and cloudformation/, run with the terraform CLI on the emulator."""

    directory: Path
    env: dict[str, str]
    variables: list[str]
    init_flags: list[str]
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        completed = subprocess.run(
            [TERRAFORM, f"-chdir={self.directory}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT_S,
            check=False,
        )
        self.timings[args[0]] = self.timings.get(args[0], 0.0) + time.monotonic() - started
        assert completed.returncode in ok, f"terraform {args[0]}: {completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        return completed

    def apply(self) -> dict[str, Any]:
        self.run("init", "-input=false", "-no-color", *self.init_flags)
        self.run("apply", "-auto-approve", "-input=false", "-no-color", *self.variables)
        outputs = json.loads(self.run("output", "-json").stdout)
        return {name: value["value"] for name, value in outputs.items()}

    def second_plan_changes(self, deleted_policies: set[str]) -> list[str]:
        """What the second plan would change beyond moto's gaps and the bucket policies the test deleted."""
        planned = self.run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", "-out=second.plan", *self.variables, ok=(0, 2)
        )
        if planned.returncode == 0:
            return []
        plan = json.loads(self.run("show", "-json", "second.plan").stdout)
        unexpected = []
        for change in plan.get("resource_changes", []):
            actions = change["change"]["actions"]
            if actions in (["no-op"], ["read"]):
                continue
            recreated = change["type"] == "aws_s3_bucket_policy" and change["change"]["after"]["bucket"]
            if actions == ["create"] and recreated in deleted_policies:
                continue
            # A replacement forced only by an attribute moto does not return (the StackSet's auto_deployment).
            gaps = MOTO_GAPS.get(change["type"], set())
            if actions == ["delete", "create"] and all(
                path[0] in gaps for path in change["change"].get("replace_paths", [[""]])
            ):
                continue
            if actions != ["update"]:
                unexpected.append(f"{change['address']}: {actions}")
                continue
            unexpected += update_beyond_moto_gaps(change)
        return unexpected

    def destroy(self) -> None:
        self.run("destroy", "-auto-approve", "-input=false", "-no-color", *self.variables)
        print(f"{self.directory.name}: " + ", ".join(f"{step} {s:.0f}s" for step, s in self.timings.items()))


def update_beyond_moto_gaps(change: dict[str, Any]) -> list[str]:
    before, after = change["change"]["before"], change["change"]["after"]
    unknown = change["change"].get("after_unknown", {})
    found = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        # Re-read or recomputed at apply because of a moto gap upstream: unknown, not a value that differs.
        if unknown.get(key) is True and key in RECOMPUTED:
            continue
        if key in MOTO_GAPS.get(change["type"], ()) and same_despite_moto(key, before[key], after[key]):
            continue
        found.append(f"{change['address']}.{key}: {before.get(key)!r} -> {after.get(key)!r}")
    return found


def same_despite_moto(key: str, before: Any, after: Any) -> bool:
    """Whether a gap attribute holds the configured value in moto's rendering."""
    if key == "redrive_policy":  # re-serialised with spaces
        return bool(json.loads(before) == json.loads(after))
    if key == "parameters":  # a CommaDelimitedList returned as a Python list's repr
        return set(before) == set(after) and all(
            before[name] in (value, str(value.split(","))) for name, value in after.items()
        )
    return True  # an attribute moto never returns


@pytest.fixture(scope="module")
def terraform_init() -> list[str]:
    """The init flags, or the module's tests skipped with the reason before anything is built."""
    return init_flags()


@pytest.fixture
def example(terraform_init: list[str], emulator: str, artifacts: dict[str, Path], tmp_path: Path) -> Iterator[Any]:
    """A factory of examples in a private copy of the repository's terraform/ and cloudformation/."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "terraform", copy / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    shutil.copytree(ROOT / "cloudformation", copy / "cloudformation", ignore=shutil.ignore_patterns("src"))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_REGION": "us-east-1",
        "CHECKPOINT_DISABLE": "1",  # no version check call to HashiCorp
        "TF_IN_AUTOMATION": "1",
        "TF_VAR_external_id": EXTERNAL_ID,
        **runtime.FAKE_CREDENTIALS,
        **{k: v for k, v in os.environ.items() if k == "TF_CLI_CONFIG_FILE"},
    }
    zips = [f"-var=layer_zip_path={artifacts['layer']}", f"-var=code_zip_path={artifacts['code']}"]
    made: list[Example] = []

    def make(name: str, *variables: str) -> Example:
        made.append(Example(copy / "terraform" / "examples" / name, env, [*zips, *variables], terraform_init))
        return made[-1]

    yield make


def moto_denies_conditions(session: Any) -> set[str]:
    """Delete the bucket policies whose conditions moto reads as a Deny (see the module docstring)."""
    s3 = session.client("s3")
    deleted = set()
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"])
        except ClientError:
            continue
        if any("Condition" in statement for statement in policy["Statement"]):
            s3.delete_bucket_policy(Bucket=bucket["Name"])
            deleted.add(bucket["Name"])
    return deleted


@dataclass
class Scan:
    """A function created and scanned through a deployed scanner, and what the scan left."""

    tags: dict[str, str]
    summaries: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    batch: runtime.Poll


def scan_through(session: Any, scanner: str, artifacts: dict[str, Path], work: Path, hub_bus: str = "") -> Scan:
    """A new function's CreateFunction event through the deployed rules, queue and handler."""
    lambda_client = session.client("lambda")
    configuration = lambda_client.get_function_configuration(FunctionName=scanner)
    variables = configuration["Environment"]["Variables"]
    session.client("secretsmanager").put_secret_value(
        SecretId=variables["QUALYS_SECRET_ARN"],
        SecretString=json.dumps({"qualys_pod": "US2", "qualys_access_token": ACCESS_TOKEN}),
    )
    notifications = runtime.subscribe_queue(session, variables["SNS_TOPIC_ARN"], "terraform-test-notifications")
    mappings = session.client("lambda").list_event_source_mappings(FunctionName=configuration["FunctionArn"])
    events = session.client("events")
    lambda_targets = {
        rule["Name"]: events.list_targets_by_rule(Rule=rule["Name"])["Targets"] for rule in events.list_rules()["Rules"]
    }
    runtime.take_over_event_source_mappings(session, configuration["FunctionArn"])
    runtime.set_aside_lambda_targets(session)
    role = session.client("iam").create_role(RoleName="terraform-test-fn", AssumeRolePolicyDocument="{}")["Role"]
    code = runtime.zip_bytes({"app.py": "def handler(event, context):\n    return event\n"})
    target = lambda_client.create_function(
        FunctionName="orders-api", Runtime="python3.12", Role=role["Arn"], Handler="app.handler", Code={"ZipFile": code}
    )["FunctionArn"]
    store_function_code(lambda_client, session.client("s3"), "orders-api", code)

    event = runtime.cloudtrail_event("CreateFunction20150331", target)
    routed = runtime.route(session, event)
    if hub_bus:
        assert [arn.rsplit("/", 1)[1] for arn in routed.buses] == [hub_bus]  # the spoke forwards to the hub
        routed = runtime.route(session, event, hub_bus)
    (queue,) = routed.queues
    function = runtime.DeployedFunction.fetch(
        session, scanner, artifacts["code"].read_bytes(), artifacts["layer"].read_bytes(), work
    )
    function.environment["QSCANNER_PATH"] = str(function.layer_dir / "bin" / "qscanner")
    (work / "lambda-tmp").mkdir()
    function.work_root = work / "lambda-tmp"
    batch = runtime.poll(session, queue, function, runtime.LambdaContext(configuration["FunctionArn"]))
    assert batch is not None

    # The deployment as it was, for destroy: the mappings enabled, the schedule's targets back.
    for mapping in mappings["EventSourceMappings"]:
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    for rule, targets in lambda_targets.items():
        kept = {t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]}
        if missing := [t for t in targets if t["Id"] not in kept]:
            events.put_targets(Rule=rule, Targets=missing)
    bucket = variables["RESULTS_S3_BUCKET"]
    summaries = [
        runtime.s3_json(session, bucket, k)
        for k in runtime.s3_keys(session, bucket, "scans/")
        if k.endswith("/summary.json")
    ]
    return Scan(
        runtime.function_tags(session, target),
        summaries,
        runtime.sns_messages(session, notifications),
        batch,
    )


def empty_bucket(session: Any, bucket: str) -> None:
    """What the README's "Destroying" asks before terraform destroy deletes a results bucket: every version out."""
    s3 = session.client("s3")
    versions = s3.list_object_versions(Bucket=bucket)
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def assert_scanned(scan: Scan) -> None:
    assert scan.batch.redelivered == [] and len(scan.batch.deleted) == 1
    assert scan.tags["QualysScanStatus"] == "success"
    (summary,) = scan.summaries
    assert summary["function"]["name"] == "orders-api"
    assert scan.tags["QualysScanTag"] == summary["scan"]["scan_id"]
    (notification,) = scan.notifications
    assert "orders-api" in notification["Subject"]
    assert ACCESS_TOKEN not in json.dumps([summary, notification])


def assert_nothing_left(session: Any, scanned: bool = True) -> None:
    """Only the test's own function (scanned) is left in the region."""
    functions = [f["FunctionName"] for f in session.client("lambda").list_functions()["Functions"]]
    assert functions == (["orders-api"] if scanned else [])
    assert not session.client("secretsmanager").list_secrets()["SecretList"]
    assert not session.client("dynamodb").list_tables()["TableNames"]
    stacks = session.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)


def test_single_region_example_applies_plans_clean_scans_and_destroys(
    example: Any, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    region = "us-east-2"
    session = boto3.Session(region_name=region)
    deployment = example("single-region-native", f"-var=aws_region={region}")

    outputs = deployment.apply()
    deleted = moto_denies_conditions(session)
    changes = deployment.second_plan_changes(deleted)
    scan = scan_through(session, outputs["scanner_function_name"], artifacts, tmp_path / "work")
    empty_bucket(session, outputs["results_bucket_name"])
    deployment.destroy()

    assert changes == []
    assert deleted == {outputs["results_bucket_name"]}  # its TLS-only policy
    assert_scanned(scan)
    assert scan.summaries[0]["s3"]["prefix"].startswith(f"scans/123456789012/{region}/orders-api/")
    assert_nothing_left(session)


def test_multi_region_example_applies_plans_clean_scans_in_each_region_and_destroys(
    example: Any, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    deployment = example("single-account-multi-region")

    outputs = deployment.apply()
    deleted = moto_denies_conditions(boto3.Session(region_name="us-east-1"))
    changes = deployment.second_plan_changes(deleted)
    region = "us-west-2"  # one region scanned: each is the same module
    session = boto3.Session(region_name=region)
    scanner = outputs["scanner_function_arns"][region]
    scan = scan_through(session, scanner, artifacts, tmp_path / "work")
    empty_bucket(session, scan.summaries[0]["s3"]["bucket"])
    deployment.destroy()

    assert changes == []
    assert sorted(outputs["scanner_function_arns"]) == ["eu-west-1", "us-east-1", "us-west-2"]
    assert len(deleted) == 3  # each region's results bucket
    assert_scanned(scan)
    assert scan.summaries[0]["function"]["region"] == region
    for name in outputs["scanner_function_arns"]:
        assert_nothing_left(boto3.Session(region_name=name), scanned=name == region)


def test_centralized_example_applies_plans_clean_scans_spoke_function_through_hub_and_destroys(
    example: Any, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    region = "us-east-2"
    session = boto3.Session(region_name=region)
    deployment = example(
        "centralized-hub-spoke", f"-var=aws_region={region}", '-var=spoke_account_ids=["123456789012"]'
    )

    outputs = deployment.apply()
    deleted = moto_denies_conditions(session)
    changes = deployment.second_plan_changes(deleted)
    hub = outputs["hub_stack_outputs"]
    scan = scan_through(session, hub["ScannerFunctionName"], artifacts, tmp_path / "work", hub["HubEventBusName"])
    deployment.destroy()

    assert changes == []
    assert outputs["hub_event_bus_arn"] == hub["HubEventBusArn"]
    assert_scanned(scan)
    # What Terraform owns is gone and both stacks are deleted; moto 5.2.1 keeps some of the hub stack's
    # resources (its function, its table) after reporting DELETE_COMPLETE, so those are not checked.
    stacks = {
        s["StackName"]: s["StackStatus"] for s in session.client("cloudformation").list_stacks()["StackSummaries"]
    }
    assert stacks == {"qscanner-hub": "DELETE_COMPLETE", "qscanner-spoke": "DELETE_COMPLETE"}
    assert not session.client("secretsmanager").list_secrets()["SecretList"]
    buckets = [b["Name"] for b in session.client("s3").list_buckets()["Buckets"]]
    assert not [b for b in buckets if b.startswith("qscanner-artifacts-")]


def test_stackset_example_applies_plans_clean_deploys_each_member_and_destroys(
    example: Any, artifacts: dict[str, Path]
) -> None:
    admin = boto3.Session(region_name="us-east-1")
    org, ou, member = organization_with_member(admin.client("organizations"))
    admin_account = admin.client("sts").get_caller_identity()["Account"]
    deployment = example(
        "organization-stackset", f"-var=organization_id={org}", f'-var=organizational_unit_ids=["{ou}"]'
    )

    outputs = deployment.apply()
    deleted = moto_denies_conditions(admin)
    changes = deployment.second_plan_changes(deleted)
    cloudformation = admin.client("cloudformation")
    stackset = cloudformation.describe_stack_set(StackSetName="qscanner")["StackSet"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stackset["Parameters"]}
    instances = cloudformation.list_stack_instances(StackSetName="qscanner")["Summaries"]
    overrides = [
        cloudformation.describe_stack_instance(
            StackSetName="qscanner", StackInstanceAccount=i["Account"], StackInstanceRegion=i["Region"]
        )["StackInstance"].get("ParameterOverrides")
        for i in instances
    ]
    scanners = {region: member_scanner(member, region) for region in outputs["instance_regions"]}
    # The administrator's secret each member scanner names, found by that partial ARN in its region.
    secret_arns = {
        region: admin.client("secretsmanager", region_name=region).describe_secret(
            SecretId=scanner["Environment"]["Variables"]["QUALYS_SECRET_ARN"]
        )["ARN"]
        for region, scanner in scanners.items()
    }
    # The layer version the template derives in each region (moto's member functions do not list
    # another account's layers).
    layers = {
        region: admin.client("lambda", region_name=region).get_layer_version(
            LayerName="qscanner-qscanner", VersionNumber=int(values["QScannerLayerVersion"])
        )["LayerVersionArn"]
        for region in scanners
    }
    # moto's DeleteStackInstances ignores DeploymentTargets (the OUs Terraform names): by account, as AWS
    # would for the OU's accounts, so that Terraform's DeleteStackSet then finds the StackSet empty.
    cloudformation.delete_stack_instances(
        StackSetName="qscanner", Accounts=[member], Regions=sorted(scanners), RetainStacks=False
    )
    deployment.destroy()

    assert changes == []
    assert len(deleted) == 2  # each region's artifacts bucket: organization read and TLS only
    assert sorted((i["Account"], i["Region"], i["Status"]) for i in instances) == [
        (member, "eu-west-1", "CURRENT"),
        (member, "us-east-1", "CURRENT"),
    ]
    # One set of values for every region, the same as make deploy-stackset's; no instance overrides them.
    assert not any(overrides)
    assert {
        k: values[k] for k in ("ArtifactsAccountId", "ArtifactsName", "QScannerLayerVersion", "QualysSecretName")
    } == {
        "ArtifactsAccountId": admin_account,
        "ArtifactsName": "qscanner",
        "QScannerLayerVersion": "1",
        "QualysSecretName": "qscanner/qualys-org",
    }
    code_sha256 = runtime.lambda_sha256(artifacts["code"].read_bytes())
    for region, scanner in scanners.items():
        assert scanner["FunctionArn"].startswith(f"arn:aws:lambda:{region}:{member}:function:")
        assert scanner["CodeSha256"] == code_sha256  # make package's bytes, through the shared bucket
        assert layers[region] == f"arn:aws:lambda:{region}:{admin_account}:layer:qscanner-qscanner:1"
        # Each member scanner resolves its own region's shared secret (a partial ARN, by name).
        secret_arn = scanner["Environment"]["Variables"]["QUALYS_SECRET_ARN"]
        assert secret_arn == f"arn:aws:secretsmanager:{region}:{admin_account}:secret:qscanner/qualys-org"
        assert secret_arns[region] == outputs["qualys_secret_arns"][region]
    assert [s["Status"] for s in cloudformation.list_stack_sets()["Summaries"]] in ([], ["DELETED"])
    for region in scanners:
        assert not account_session(member, region=region).client("lambda").list_functions()["Functions"]


def test_stackset_example_refuses_layer_versions_that_differ_by_region(
    example: Any, artifacts: dict[str, Path]
) -> None:
    admin = boto3.Session(region_name="us-east-1")
    org, ou, _ = organization_with_member(admin.client("organizations"))
    # eu-west-1 already has a version of the layer: Terraform's is 2 there and 1 in us-east-1.
    admin.client("lambda", region_name="eu-west-1").publish_layer_version(
        LayerName="qscanner-qscanner", Content={"ZipFile": artifacts["layer"].read_bytes()}
    )
    deployment = example(
        "organization-stackset", f"-var=organization_id={org}", f'-var=organizational_unit_ids=["{ou}"]'
    )

    deployment.run("init", "-input=false", "-no-color", *deployment.init_flags)
    failed = deployment.run("apply", "-auto-approve", "-input=false", "-no-color", *deployment.variables, ok=(1,))
    stack_sets = admin.client("cloudformation").list_stack_sets()["Summaries"]
    # No destroy: the next test's emulator fixture empties moto, and a destroy after this refused
    # apply stalled on moto past the 900 s timeout when run after the other StackSet test.

    assert "The QScanner layer versions differ by region" in " ".join(failed.stderr.split())
    assert '{"eu-west-1":"2","us-east-1":"1"}' in failed.stderr
    assert stack_sets == []


def member_scanner(account: str, region: str) -> dict[str, Any]:
    """The configuration of the StackSet's scanner in a member account and region."""
    functions = account_session(account, region=region).client("lambda").list_functions()["Functions"]
    (scanner,) = [f for f in functions if "QUALYS_SECRET_ARN" in f.get("Environment", {}).get("Variables", {})]
    return dict(scanner)
