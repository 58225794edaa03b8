"""Both multi-account models deployed to moto with several accounts, then scanned with the real scanner code.

Centralized: the hub stack in one account, the spoke stack in two others; each spoke's event reaches the
hub bus, the hub rule puts it on the hub's scan queue, and the hub's scanner code, configured from the
deployed hub function's environment, handles the SQS batch and scans the spoke's function with the
spoke role's credentials. The scheduled inventory lists the spokes through the same role and fills the
scan queue; a manual request on the hub's default bus reaches the queue too. StackSet: instances in
two accounts of an OU and two regions, each with its own scanner configuration.

What moto cannot do, and how the tests get around it:
- it rewrites `account` to the bus owner on cross-account put_events, so `deliver_to_bus` routes the
  event through the hub's deployed rules with the local runtime (local/runtime.py), as EventBridge does;
- it matches a schedule rule (no event pattern) against every event put on its bus, such as the scan
  events the scanner puts on the default bus, and then fails on the rule's Lambda target; on AWS a
  schedule rule matches no put events, so the fixtures set the inventory rules' Lambda targets aside;
- it would run the scanner in Docker for every message on the scan queue (the event source mapping),
  so the fixture disables the mapping and the tests play Lambda's poller: the runtime's `sqs_batch`
  turns the queue's messages into the SQS event Lambda would pass to the handler;
- it ignores the bus policy, trust policies and IAM conditions: those are checked on the deployed
  documents (and in tests/unit/test_multi_account_templates.py), a wrong ExternalId with botocore's
  Stubber;
- it keeps each account's secrets apart without resource policies, so the StackSet member reads the
  administrator's shared secret through an administrator-account client.
"""

from __future__ import annotations

import ast
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime
from qualys_lambda import aws as aws_module
from qualys_lambda.aws import AwsAccess
from qualys_lambda.config import Settings
from qualys_lambda.deps import Deps
from qualys_lambda.errors import TargetAccessError
from qualys_lambda.handler import handle
from tests.support import (
    SECURITY_HUB_SIDS,
    SPOKE_ROLE_SIDS,
    TEMPLATES,
    FakeRunner,
    account_session,
    admin_artifacts,
    code_zip,
    create_stack,
    drain_units,
    event_for,
    lambda_context,
    make_deps,
    schedule_event,
    sts_denying_assume_role,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto")

REGION = "us-east-1"
HUB = "123456789012"
SPOKES = ("111111111111", "222222222222")
OUTSIDER = "333333333333"
ORG_ID = "o-exampleorg01"
EXTERNAL_ID = "test-external-id-4f1c9a7e2b"
SPOKE_ROLE = "QualysScannerSpokeRole"


def deliver_to_bus(account: str, bus_name: str, event: dict[str, Any]) -> list[str]:
    """What EventBridge does with an event that reached `account`'s bus, played by the local runtime:
    the matching rules' queues receive it; returns the Lambda functions it would invoke."""
    session = boto3.Session(region_name=REGION) if account == HUB else account_session(account)
    return runtime.route(session, event, bus_name).functions


def set_aside_schedule_targets(account: str, region: str) -> None:
    """On AWS a schedule rule matches no put events; moto matches it to every event (such as the scan
    events the scanner puts) and then fails on its Lambda target, so that target is set aside."""
    session = boto3.Session(region_name=region) if account == HUB else account_session(account, region=region)
    runtime.set_aside_lambda_targets(session)


def receive_all(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, received and deleted (what Lambda's poller does after a success)."""
    return runtime.receive_all(boto3.client("sqs", region_name=REGION), queue_url)


def inline_statements(iam: Any, role_name: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        # moto stores a CloudFormation inline policy as the repr of its dict, with None for AWS::NoValue.
        parsed = ast.literal_eval(document) if isinstance(document, str) else document
        statements += [s for s in parsed["Statement"] if s is not None]
    return statements


@dataclass
class Organisation:
    """The hub and two spokes, deployed."""

    hub: dict[str, str]
    spokes: dict[str, dict[str, str]]
    hub_function_arn: str
    hub_env: dict[str, str]


@pytest.fixture(scope="module")
def organisation(moto_module: None) -> Iterator[Organisation]:
    """`make deploy-hub` in HUB, `make deploy-spoke` in each spoke; the scan queue's mapping disabled."""
    hub_session = boto3.Session(region_name=REGION)
    hub = create_stack(
        hub_session,
        "qscanner-hub",
        "centralized-hub.yaml",
        {
            **admin_artifacts(hub_session, REGION, "qscanner-hub"),
            "OrganizationId": ORG_ID,
            "AllowedAccountIds": ",".join(SPOKES),
            "ExternalId": EXTERNAL_ID,
            "SpokeRoleName": SPOKE_ROLE,
        },
    )
    spokes = {
        account: create_stack(
            account_session(account),
            "qscanner-spoke",
            "centralized-spoke.yaml",
            {
                "HubEventBusArn": hub["HubEventBusArn"],
                "HubScannerRoleArn": hub["ScannerRoleArn"],
                "ExternalId": EXTERNAL_ID,
                "SpokeRoleName": SPOKE_ROLE,
                "SpokeRoleRegion": REGION,
            },
        )
        for account in SPOKES
    }
    # The tests play Lambda's poller (see the module docstring).
    sources = runtime.take_over_event_source_mappings(hub_session, hub["ScannerFunctionName"])
    assert sorted(sources) == sorted([hub["ScanQueueArn"], hub["InventoryQueueArn"]])
    configuration = hub_session.client("lambda").get_function_configuration(FunctionName=hub["ScannerFunctionName"])
    env = {k: str(v) for k, v in configuration["Environment"]["Variables"].items()}
    set_aside_schedule_targets(HUB, REGION)
    yield Organisation(hub, spokes, configuration["FunctionArn"], env)


def hub_scanner(org: Organisation, runner: FakeRunner, work: Path, **env: str) -> Deps:
    """The hub's scanner code with the deployed hub function's settings (what Lambda would build)."""
    settings = Settings.from_env({**org.hub_env, **env})
    access = AwsAccess(HUB, settings.cross_account_role_name, settings.cross_account_external_id)
    return make_deps(settings, runner, work, access=access, own_function_arn=org.hub_function_arn)


def spoke_function(account: str) -> tuple[str, str]:
    """A new function in a spoke account: (name, arn)."""
    session = account_session(account)
    role = session.client("iam").create_role(RoleName=f"fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
    name = f"payments-{uuid.uuid4().hex[:8]}"
    arn = session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": "print('hi')\n", "requirements.txt": "requests==2.19.1\n"})},
    )["FunctionArn"]
    return name, arn


def queued_event(org: Organisation, account: str, function_name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The spoke's CreateFunction event sent to the hub bus as EventBridge would: the scan-queue messages
    the hub rule produced, and the functions it invoked directly."""
    event = event_for(function_name, account=account)
    invoked = deliver_to_bus(HUB, org.hub["HubEventBusName"], event)
    return receive_all(org.hub["ScanQueueUrl"]), invoked


def handle_queued(org: Organisation, messages: list[dict[str, Any]], scanner: Deps) -> dict[str, Any]:
    """The hub scanner invoked by the scan queue's event source mapping with these messages."""
    context = lambda_context(invoked_function_arn=org.hub_function_arn)
    return handle(runtime.sqs_batch(messages, org.hub["ScanQueueArn"]), context, scanner)


# ---------------------------------------------------------------- centralized: events


def test_hub_rule_spoke_event_queued_for_scanner_with_spoke_account(organisation: Organisation) -> None:
    name, _arn = spoke_function(SPOKES[0])

    messages, invoked = queued_event(organisation, SPOKES[0], name)

    (delivered,) = runtime.bodies(messages)
    assert invoked == []  # the scan queue, not the rule, invokes the scanner
    assert delivered["account"] == SPOKES[0]
    assert delivered["detail"]["requestParameters"]["functionName"] == name


def test_hub_rule_failed_call_not_delivered(organisation: Organisation) -> None:
    event = event_for("payments", account=SPOKES[0])
    event["detail"]["errorCode"] = "AccessDeniedException"

    invoked = deliver_to_bus(HUB, organisation.hub["HubEventBusName"], event)

    assert invoked == []
    assert receive_all(organisation.hub["ScanQueueUrl"]) == []


def test_spoke_forward_rule_puts_lambda_event_on_hub_bus(organisation: Organisation) -> None:
    # moto's own cross-account bus target: proves the spoke rule's pattern and target (moto sets the
    # delivered event's account to the hub; EventBridge keeps the spoke's).
    events = account_session(SPOKES[1]).client("events")
    detail = event_for("orders-api", account=SPOKES[1])["detail"]
    entry = {"Source": "aws.lambda", "DetailType": "AWS API Call via CloudTrail", "EventBusName": "default"}

    events.put_events(Entries=[{**entry, "Detail": json.dumps(detail)}])
    events.put_events(Entries=[{**entry, "Detail": json.dumps({**detail, "errorCode": "ValidationException"})}])

    (forwarded,) = runtime.bodies(receive_all(organisation.hub["ScanQueueUrl"]))
    assert forwarded["detail"]["requestParameters"] == {"functionName": "orders-api"}
    assert "errorCode" not in forwarded["detail"]


def test_spoke_forward_rule_targets_hub_bus_with_put_events_only_role(organisation: Organisation) -> None:
    session = account_session(SPOKES[0])
    spoke = organisation.spokes[SPOKES[0]]
    (target,) = session.client("events").list_targets_by_rule(Rule=spoke["ForwardRuleName"])["Targets"]
    role_name = spoke["ForwardRoleArn"].rsplit("/", 1)[1]

    statements = inline_statements(session.client("iam"), role_name)

    assert target["Arn"] == organisation.hub["HubEventBusArn"]
    assert target["RoleArn"] == spoke["ForwardRoleArn"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("events:PutEvents", organisation.hub["HubEventBusArn"])
    ]


# ---------------------------------------------------------------- centralized: scans


@pytest.mark.parametrize("spoke", SPOKES)
def test_hub_scanner_scans_spoke_function_with_spoke_credentials(
    organisation: Organisation, spoke: str, tmp_path: Path
) -> None:
    name, arn = spoke_function(spoke)
    messages, _invoked = queued_event(organisation, spoke, name)
    runner = FakeRunner()

    outcome = handle_queued(organisation, messages, hub_scanner(organisation, runner, tmp_path))

    assert outcome == {"batchItemFailures": []}
    (call,) = runner.calls
    env = call["env"]
    child = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    assert child.get_caller_identity()["Account"] == spoke
    assert env["AWS_REGION"] == REGION
    assert call["argv"][-2:] == ["lambda", arn]


@pytest.mark.parametrize("spoke", SPOKES)
def test_hub_scanner_tags_spoke_function_and_stores_result_in_hub_bucket(
    organisation: Organisation, spoke: str, tmp_path: Path
) -> None:
    name, arn = spoke_function(spoke)
    messages, _invoked = queued_event(organisation, spoke, name)

    handle_queued(organisation, messages, hub_scanner(organisation, FakeRunner(), tmp_path))

    tags = account_session(spoke).client("lambda").list_tags(Resource=arn)["Tags"]
    assert tags["QualysScanStatus"] == "success"
    assert {"QualysScanTimestamp", "QualysScanTag"} <= set(tags)
    bucket = organisation.hub_env["RESULTS_S3_BUCKET"]
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket, Prefix=f"scans/{spoke}/")
    keys = [o["Key"] for o in listing.get("Contents", [])]
    assert f"scans/{spoke}/{REGION}/{name}/" in {k.rsplit("/", 2)[0] + "/" for k in keys}
    assert any(k.startswith(f"scans/{spoke}/{REGION}/{name}/") and k.endswith("/summary.json") for k in keys)


def test_hub_scanner_refuses_account_outside_allowed_list(
    organisation: Organisation, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = FakeRunner()
    event = event_for("payments", account=OUTSIDER)

    with caplog.at_level(logging.WARNING, logger="qualys_lambda.handler"):
        outcome = handle(
            event,
            lambda_context(invoked_function_arn=organisation.hub_function_arn),
            hub_scanner(organisation, runner, tmp_path),
        )

    assert outcome == {
        "outcome": "rejected",
        "reason": "event account is not in ALLOWED_ACCOUNT_IDS",
        "function_arn": f"arn:aws:lambda:{REGION}:{OUTSIDER}:function:payments",
    }
    assert runner.calls == []
    (record,) = [r for r in caplog.records if r.getMessage() == "event rejected"]
    assert record.reason == "event account is not in ALLOWED_ACCOUNT_IDS"  # type: ignore[attr-defined]


def test_hub_function_environment_names_spoke_role_external_id_and_accounts(organisation: Organisation) -> None:
    env = organisation.hub_env

    assert env["CROSS_ACCOUNT_ROLE_NAME"] == SPOKE_ROLE
    assert env["CROSS_ACCOUNT_EXTERNAL_ID"] == EXTERNAL_ID
    assert env["ALLOWED_ACCOUNT_IDS"] == ",".join(SPOKES)
    assert env["RESULTS_S3_BUCKET"] == organisation.hub["ResultsBucketName"]
    assert env["SCAN_CACHE_TABLE"] == organisation.hub["ScanCacheTableName"]
    assert env["SCAN_QUEUE_URL"] == organisation.hub["ScanQueueUrl"]
    assert (env["INVENTORY_REGIONS"], env["RESCAN_AFTER_DAYS"]) == ("", "7")


# ---------------------------------------------------------------- centralized: inventory and manual scans


def hub_inventory(org: Organisation, scanner: Deps) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The schedule on the hub, then each inventory unit it queued (on the inventory queue, as deployed):
    the units' outcomes and the scan-request messages they queued."""
    context = lambda_context(invoked_function_arn=org.hub_function_arn)
    planned = handle(schedule_event(HUB, REGION), context, scanner)
    assert planned["outcome"] == "inventory planned"
    outcomes, others = drain_units(scanner, org.hub["InventoryQueueUrl"], context)
    assert others == []
    return outcomes, receive_all(org.hub["ScanQueueUrl"])


def org_allowed(org: Organisation) -> set[str]:
    """The hub function's ALLOWED_ACCOUNT_IDS, as deployed."""
    return set(org.hub_env["ALLOWED_ACCOUNT_IDS"].split(","))


def test_hub_inventory_lists_spoke_functions_and_queues_their_scans(organisation: Organisation, tmp_path: Path) -> None:
    fresh = {account: spoke_function(account)[1] for account in SPOKES}

    outcomes, messages = hub_inventory(organisation, hub_scanner(organisation, FakeRunner(), tmp_path))

    requests = {b["detail"]["functionArn"]: b for b in runtime.bodies(messages)}
    # The deployed hub lists only spokes in ALLOWED_ACCOUNT_IDS: its own account is out of scope, so the
    # inventory leaves it out rather than enqueue scans the scanner refuses (issue 21, defect 4).
    assert org_allowed(organisation) == set(SPOKES)
    assert sorted(o["account"] for o in outcomes) == sorted(SPOKES)
    assert all(o["totals"]["ACCESS_DENIED"] == 0 for o in outcomes)
    for account, arn in fresh.items():
        assert requests[arn]["account"] == account
        assert (requests[arn]["source"], requests[arn]["detail-type"]) == ("qualys-lambda.inventory", "Scan Request")


def test_hub_inventory_request_scanned_with_spoke_credentials(organisation: Organisation, tmp_path: Path) -> None:
    _name, arn = spoke_function(SPOKES[1])
    _outcomes, queued = hub_inventory(organisation, hub_scanner(organisation, FakeRunner(), tmp_path))
    messages = [m for m in queued if json.loads(m["Body"])["detail"]["functionArn"] == arn]
    runner = FakeRunner()

    outcome = handle_queued(organisation, messages, hub_scanner(organisation, runner, tmp_path))

    assert outcome == {"batchItemFailures": []}
    (call,) = runner.calls
    assert call["argv"][-2:] == ["lambda", arn]
    assert account_session(SPOKES[1]).client("lambda").list_tags(Resource=arn)["Tags"]["QualysScanStatus"] == "success"


def put_manual_request(function_arn: str) -> list[str]:
    """`aws events put-events` of a manual scan (README) in the hub account, naming a spoke function by ARN.

    Routed with `deliver_to_bus` (moto's own delivery drops `account`); returns the functions invoked.
    """
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scan Request",
        "source": "qualys-lambda.manual",
        "account": HUB,
        "time": "2026-11-26T21:37:30Z",
        "region": REGION,
        "resources": [],
        "detail": {"functionArn": function_arn},
    }
    return deliver_to_bus(HUB, "default", event)


def test_hub_manual_request_on_default_bus_reaches_scan_queue(organisation: Organisation) -> None:
    _name, arn = spoke_function(SPOKES[0])

    invoked = put_manual_request(arn)

    (queued,) = runtime.bodies(receive_all(organisation.hub["ScanQueueUrl"]))
    assert invoked == []
    assert (queued["source"], queued["detail-type"], queued["account"]) == ("qualys-lambda.manual", "Scan Request", HUB)
    assert queued["detail"] == {"functionArn": arn}


def test_hub_manual_request_for_spoke_function_scanned_in_spoke(organisation: Organisation, tmp_path: Path) -> None:
    _name, arn = spoke_function(SPOKES[0])
    put_manual_request(arn)
    messages = receive_all(organisation.hub["ScanQueueUrl"])
    runner = FakeRunner()

    handle_queued(organisation, messages, hub_scanner(organisation, runner, tmp_path))

    assert [call["argv"][-1] for call in runner.calls] == [arn]


# ---------------------------------------------------------------- centralized: trust


def test_spoke_role_trusts_only_hub_scanner_role_with_external_id(organisation: Organisation) -> None:
    iam = account_session(SPOKES[0]).client("iam")

    role = iam.get_role(RoleName=SPOKE_ROLE)["Role"]

    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": organisation.hub["ScannerRoleArn"]}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


def test_spoke_role_may_only_read_and_list_functions_and_images_and_tag(organisation: Organisation) -> None:
    iam = account_session(SPOKES[1]).client("iam")

    statements = inline_statements(iam, SPOKE_ROLE)

    # The spokes are deployed with EnableSecurityHub left at "false": no Security Hub statement.
    assert {s["Sid"] for s in statements} == SPOKE_ROLE_SIDS - SECURITY_HUB_SIDS
    assert all(s["Effect"] == "Allow" for s in statements)


def test_hub_scanner_wrong_external_id_fails_clearly(organisation: Organisation, tmp_path: Path) -> None:
    # moto does not evaluate trust policies: the spoke role's ExternalId condition (checked above) is
    # what makes STS answer AccessDenied, stubbed here.
    sts, stubber = sts_denying_assume_role(f"arn:aws:iam::{SPOKES[0]}:role/{SPOKE_ROLE}", "not-the-spoke-external-id")
    scanner = hub_scanner(organisation, FakeRunner(), tmp_path, CROSS_ACCOUNT_EXTERNAL_ID="not-the-spoke-external-id")
    scanner.aws = AwsAccess(
        HUB,
        scanner.settings.cross_account_role_name,
        scanner.settings.cross_account_external_id,
        home_client=lambda service, region=None: sts if service == "sts" else aws_module.client(service, region),
    )

    with (
        stubber,
        pytest.raises(
            TargetAccessError, match=f"cannot assume arn:aws:iam::{SPOKES[0]}:role/{SPOKE_ROLE}: AccessDenied"
        ),
    ):
        handle(event_for("payments", account=SPOKES[0]), lambda_context(), scanner)
    assert scanner.runner.calls == []  # type: ignore[attr-defined]


# ---------------------------------------------------------------- StackSet

STACKSET_REGIONS = ("us-east-1", "eu-west-1")


@dataclass
class StackSetDeployment:
    members: list[str]
    artifacts: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def stackset(moto_module: None) -> Iterator[StackSetDeployment]:
    """`make deploy-stackset`: artifacts per region, a service-managed StackSet, instances in one OU."""
    admin = boto3.Session(region_name=REGION)
    organizations = admin.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    members = []
    for name in ("team-a", "team-b"):
        status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        organizations.move_account(AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=ou)
        members.append(status["AccountId"])
    artifacts = {region: admin_artifacts(admin, region, "qscanner-org") for region in STACKSET_REGIONS}
    cloudformation = admin.client("cloudformation")
    # One set of values for every region, as make deploy-stackset passes them: each instance derives its
    # region's bucket, layer and secret (an account joining the OU later gets no instance overrides).
    parameters = {
        "CodeS3Key": artifacts[REGION]["CodeS3Key"],
        "ArtifactsAccountId": admin.client("sts").get_caller_identity()["Account"],
        "ArtifactsName": "qscanner-org",
        "QScannerLayerVersion": artifacts[REGION]["QScannerLayerArn"].rsplit(":", 1)[1],
        "QualysSecretName": "qscanner-org/qualys",
    }
    cloudformation.create_stack_set(
        StackSetName="qscanner",
        TemplateBody=(TEMPLATES / "stackset.yaml").read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    cloudformation.create_stack_instances(
        StackSetName="qscanner", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=list(STACKSET_REGIONS)
    )
    for account in members:
        for region in STACKSET_REGIONS:
            set_aside_schedule_targets(account, region)
    yield StackSetDeployment(members, artifacts)


def member_scanner_env(account: str, region: str) -> tuple[str, dict[str, str]]:
    """(function ARN, environment) of the StackSet's scanner in `account` and `region`."""
    functions = account_session(account, region=region).client("lambda").list_functions()["Functions"]
    (function,) = [f for f in functions if "QUALYS_SECRET_ARN" in f.get("Environment", {}).get("Variables", {})]
    return function["FunctionArn"], {k: str(v) for k, v in function["Environment"]["Variables"].items()}


@pytest.mark.parametrize("region", STACKSET_REGIONS)
def test_stackset_each_member_scanner_points_at_own_account_resources(
    stackset: StackSetDeployment, region: str
) -> None:
    for account in stackset.members:
        session = account_session(account, region=region)
        function_arn, env = member_scanner_env(account, region)

        settings = Settings.from_env(env)

        assert function_arn.startswith(f"arn:aws:lambda:{region}:{account}:function:")
        # The shared secret of this region, by partial ARN (no random suffix).
        assert stackset.artifacts[region]["QualysSecretArn"].startswith(settings.qualys_secret_arn + "-")
        assert f":secretsmanager:{region}:" in settings.qualys_secret_arn
        assert settings.results_bucket in {b["Name"] for b in session.client("s3").list_buckets()["Buckets"]}
        assert settings.cache_table in session.client("dynamodb").list_tables()["TableNames"]
        assert settings.sns_topic_arn.startswith(f"arn:aws:sns:{region}:{account}:")
        assert settings.cross_account_role_name == ""
        queue = session.client("sqs").get_queue_attributes(
            QueueUrl=settings.scan_queue_url, AttributeNames=["QueueArn"]
        )
        assert queue["Attributes"]["QueueArn"].startswith(f"arn:aws:sqs:{region}:{account}:")


def test_stackset_member_names_never_collide_across_regions(stackset: StackSetDeployment) -> None:
    account = stackset.members[0]
    names = [member_scanner_env(account, region)[0].rsplit(":", 1)[1] for region in STACKSET_REGIONS]
    buckets = [member_scanner_env(account, region)[1]["RESULTS_S3_BUCKET"] for region in STACKSET_REGIONS]

    assert len(set(buckets)) == len(STACKSET_REGIONS)
    assert all(names)


def test_stackset_member_scanner_scans_own_function(stackset: StackSetDeployment, tmp_path: Path) -> None:
    account, region = stackset.members[1], STACKSET_REGIONS[1]
    session = account_session(account, region=region)
    function_arn, env = member_scanner_env(account, region)
    settings = Settings.from_env(env)
    role = session.client("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    target_arn = session.client("lambda").create_function(
        FunctionName="billing",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": "print('hi')\n"})},
    )["FunctionArn"]
    event = {**event_for("billing", account=account), "region": region}
    # The member reads the administrator's shared secret (org resource policy; moto has no cross-account
    # secrets, so through an administrator-account client).
    access = AwsAccess(
        account,
        home_region=region,
        home_client=lambda service, r=None: session.client(service, region_name=r or region),
    )
    scanner = make_deps(settings, FakeRunner(), tmp_path, access=access, own_function_arn=function_arn, region=region)

    outcome = handle(event, lambda_context(invoked_function_arn=function_arn), scanner)

    assert outcome["outcome"] == "scanned" and outcome["function_arn"] == target_arn
    keys = [o["Key"] for o in session.client("s3").list_objects_v2(Bucket=settings.results_bucket)["Contents"]]
    assert any(k.startswith(f"scans/{account}/{region}/billing/") for k in keys)
    assert session.client("lambda").list_tags(Resource=target_arn)["Tags"]["QualysScanStatus"] == "success"
