"""Organization scale: a moto organization of several accounts and two regions, the hub set to `organization`.

The schedule only plans (one inventory unit per account and region); the tests then play Lambda's
pollers: every message on the inventory and scan queues is handed to a fresh scanner (a cold
container, so each cross-account invocation must assume its role and the tests can see which), one
message per invocation, until both queues are empty. moto does not enforce trust policies; an
unreachable account is an STS client that answers AccessDenied for it. The last tests deploy
centralized-hub.yaml itself with InventoryAccounts=organization and drive the deployed function's queues.

Building an organization and deploying the hub are the slow parts, so two are shared within the module
(moto in process for the module): the first schedule and drain, which one test reads and the next goes
on from, and the deployed hub, which one test reads and the last drives. Each is built again on an
emptied moto when a test changed it or emptied moto in between.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local import runtime
from qualys_lambda import aws
from qualys_lambda.aws import AwsAccess
from qualys_lambda.deps import Deps
from qualys_lambda.handler import handle
from tests.conftest import empty_moto
from tests.support import (
    ACCOUNT,
    REGION,
    SCANNER_ARN,
    FakeRunner,
    PagedLambda,
    Resources,
    account_session,
    admin_artifacts,
    code_zip,
    create_function,
    create_stack,
    lambda_context,
    make_deps,
    make_resources,
    schedule_event,
    settings_for,
)

# An organization of accounts, each scanned over simulated days: slow (left out of make test-fast).
pytestmark = [pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto"), pytest.mark.slow]

HUB = ACCOUNT  # moto's default account creates the organization: the management account
REGIONS = (REGION, "eu-west-1")
MEMBERS = 3
FUNCTIONS_PER_REGION = 3
SPOKE_ROLE = "QualysScannerSpokeRole"


class RecordingSts:
    """The hub's STS client: records each AssumeRole's account, denies the accounts in `denied`."""

    def __init__(self, denied: frozenset[str]) -> None:
        self.client = boto3.client("sts", region_name=REGION)
        self.denied = denied
        self.accounts: set[str] = set()

    def assume_role(self, **kwargs: Any) -> Any:
        account = kwargs["RoleArn"].split(":")[4]
        self.accounts.add(account)
        if account in self.denied:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}}
            raise ClientError(error, "AssumeRole")  # type: ignore[arg-type]
        return self.client.assume_role(**kwargs)


@dataclass
class Hub:
    """The hub's deployment in moto and the pollers of its two queues."""

    resources: Resources
    env: dict[str, str]
    runner: FakeRunner = field(default_factory=FakeRunner)
    work: str = ""
    denied: frozenset[str] = frozenset()
    remaining_ms: int = 900_000
    scanner_arn: str = SCANNER_ARN
    invocations: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, int]] = field(default_factory=list)

    def scanner(self, sts: RecordingSts) -> Deps:
        """A cold container's scanner."""

        def home_client(service: str, region: str | None = None) -> Any:
            return sts if service == "sts" else aws.client(service, region)

        return make_deps(
            settings_for(self.resources, **self.env),
            self.runner,
            self.work,
            access=AwsAccess(HUB, SPOKE_ROLE, home_region=REGION, home_client=home_client),
            own_function_arn=self.scanner_arn,
            metrics=lambda v: self.metrics.append(dict(v)),
        )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation; records which accounts it assumed a role in."""
        sts = RecordingSts(self.denied)
        result = handle(event, lambda_context(remaining_ms=self.remaining_ms), self.scanner(sts))
        self.invocations.append({"event": event, "result": result, "assumed": sts.accounts})
        return result

    def schedule(self) -> dict[str, Any]:
        return self.invoke(schedule_event(HUB, REGION))

    def drain(self, queues: tuple[str, ...] = ("INVENTORY_QUEUE_URL", "SCAN_QUEUE_URL")) -> None:
        """The queues' pollers (the local runtime's), one message per invocation (BatchSize 1), until every
        queue is empty."""
        session = boto3.Session(region_name=REGION)
        arns = [runtime.queue_arn(session.client("sqs"), self.env[name]) for name in queues]
        while any(runtime.poll(session, arn, lambda event, _context: self.invoke(event), None) for arn in arns):
            pass

    def scanned(self) -> Counter[str]:
        """How many times QScanner ran for each function ARN."""
        return Counter(call["argv"][-1] for call in self.runner.calls)


def new_member(name: str) -> str:
    """CreateAccount in the organization; returns the new account id."""
    status = boto3.client("organizations").create_account(AccountName=name, Email=f"{name}@example.com")
    return str(status["CreateAccountStatus"]["AccountId"])


def member_functions(account: str, count: int = FUNCTIONS_PER_REGION) -> set[str]:
    """`count` functions in each region of `account`; their ARNs."""
    arns: set[str] = set()
    for region in REGIONS:
        session = account_session(account, region=region)
        role = session.client("iam").create_role(RoleName=f"fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
        for index in range(count):
            arns.add(
                session.client("lambda").create_function(
                    FunctionName=f"app-{index}",
                    Runtime="python3.12",
                    Role=role["Role"]["Arn"],
                    Handler="app.handler",
                    Code={"ZipFile": code_zip({"app.py": f"x = {account!r}\n"})},
                )["FunctionArn"]
            )
    return arns


def build_organization(resources: Resources, work: Path) -> tuple[Hub, dict[str, set[str]]]:
    """The organization (hub + MEMBERS members), their functions, and the hub configured with `organization`."""
    boto3.client("organizations").create_organization(FeatureSet="ALL")
    functions = {account: member_functions(account) for account in (new_member(f"m{i}") for i in range(MEMBERS))}
    functions[HUB] = {create_function(name="hub-app", region=region, role_arn=resources.role_arn) for region in REGIONS}
    return Hub(resources, hub_env(), work=str(work)), functions


def hub_env() -> dict[str, str]:
    """The hub's settings for an `organization` inventory over REGIONS, with its two new queues."""
    sqs = aws.client("sqs", REGION)
    return {
        "SCAN_QUEUE_URL": sqs.create_queue(QueueName="scan-queue")["QueueUrl"],
        "INVENTORY_QUEUE_URL": sqs.create_queue(QueueName="inventory-queue")["QueueUrl"],
        "INVENTORY_ACCOUNTS": "organization",
        "INVENTORY_REGIONS": ",".join(REGIONS),
        "CROSS_ACCOUNT_ROLE_NAME": SPOKE_ROLE,
        "SCAN_EVENT_BUS": "",
    }


@pytest.fixture
def organization(resources: Resources, tmp_path: Path) -> tuple[Hub, dict[str, set[str]]]:
    """A fresh organization and its hub (see `build_organization`), for a test that changes it."""
    return build_organization(resources, tmp_path)


@dataclass
class FirstRound:
    """An organization after its first schedule and drain: what that round did, and the hub to go on with."""

    hub: Hub
    functions: dict[str, set[str]]
    organization_id: str
    planned: dict[str, Any]
    scanned: Counter[str]
    invocations: list[dict[str, Any]]
    continued: bool = False  # a test went on from it: the organization and the hub have changed since


def same_organization(organization_id: str) -> bool:
    """Whether moto still holds this organization (a test's own `mocked_aws` empties it)."""
    try:
        return bool(boto3.client("organizations").describe_organization()["Organization"]["Id"] == organization_id)
    except ClientError:
        return False


@pytest.fixture(scope="module")
def first_rounds(moto_module: None) -> list[FirstRound]:
    """The module's first rounds, latest last: one, unless a test changed it or emptied moto."""
    return []


@pytest.fixture
def first_round(first_rounds: list[FirstRound], tmp_path_factory: pytest.TempPathFactory) -> FirstRound:
    """The organization's first schedule and drain, run once for the module: the first test reads what it did,
    the second goes on from it (and marks it `continued`, so a later user gets a new one)."""
    latest = first_rounds[-1] if first_rounds else None
    if latest is None or latest.continued or not same_organization(latest.organization_id):
        empty_moto()
        hub, functions = build_organization(make_resources(), tmp_path_factory.mktemp("first-round"))
        organization_id = boto3.client("organizations").describe_organization()["Organization"]["Id"]
        planned = hub.schedule()
        hub.drain()
        first_rounds.append(FirstRound(hub, functions, organization_id, planned, hub.scanned(), list(hub.invocations)))
    return first_rounds[-1]


def unit_results(invocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The result of every inventory unit handled (the SQS batch result hides it, the log keeps it)."""
    return [i for i in invocations if "Records" in i["event"] and "Inventory Unit" in i["event"]["Records"][0]["body"]]


def test_organization_schedule_then_drain_scans_every_function_once(first_round: FirstRound) -> None:
    planned, functions, invocations = first_round.planned, first_round.functions, first_round.invocations

    everything = set().union(*functions.values())
    assert planned["accounts"] == MEMBERS + 1 and planned["units"] == (MEMBERS + 1) * len(REGIONS)
    assert first_round.scanned == Counter({arn: 1 for arn in everything})
    assert all(len(i["assumed"]) <= 1 for i in invocations)
    assert len(unit_results(invocations)) == (MEMBERS + 1) * len(REGIONS)


def test_organization_new_account_covered_next_schedule_without_rescans(first_round: FirstRound) -> None:
    hub, functions = first_round.hub, first_round.functions
    first_round.continued = True  # after the first schedule and drain (the fixture's)
    newcomer = new_member("newcomer")
    added = member_functions(newcomer)

    hub.schedule()
    hub.drain()

    everything = set().union(*functions.values(), added)
    assert hub.scanned() == Counter({arn: 1 for arn in everything})  # the new ones once, nothing again
    assert all(len(i["assumed"]) <= 1 for i in hub.invocations)
    assert hub.invocations[-1]["result"] == {"batchItemFailures": []}


def test_organization_suspended_account_drops_out(organization: tuple[Hub, dict[str, set[str]]]) -> None:
    hub, functions = organization
    closed = next(a for a in functions if a != HUB)
    boto3.client("organizations").close_account(AccountId=closed)

    planned = hub.schedule()
    hub.drain()

    assert planned["accounts"] == MEMBERS
    assert set(hub.scanned()) == set().union(*(arns for account, arns in functions.items() if account != closed))
    assert all(closed not in i["assumed"] for i in hub.invocations)


def test_organization_unreachable_account_recorded_others_scanned(
    organization: tuple[Hub, dict[str, set[str]]], caplog: pytest.LogCaptureFixture
) -> None:
    hub, functions = organization
    denied = next(a for a in functions if a != HUB)
    hub.denied = frozenset({denied})

    with caplog.at_level(logging.ERROR, logger="qualys_lambda.inventory"):
        hub.schedule()
        hub.drain()

    assert set(hub.scanned()) == set().union(*(arns for account, arns in functions.items() if account != denied))
    denials = [m for m in hub.metrics if m.get("InventoryTargetsUnreachable")]
    assert len(denials) == len(REGIONS)  # one ACCESS_DENIED unit per region of that account, not retried
    assert all(m["FunctionsUncovered"] == 1 and m["ScansEnqueued"] == 0 for m in denials)
    logged = [r for r in caplog.records if r.getMessage() == "inventory cannot reach account"]
    assert sorted((r.account, r.region) for r in logged) == sorted((denied, region) for region in REGIONS)  # type: ignore[attr-defined]


def test_unit_short_of_time_resumes_from_marker(resources: Resources, tmp_path: Path) -> None:
    for index in range(12):
        create_function(name=f"fn-{index:02d}", files={"app.py": "x = 1\n"})
    sqs = aws.client("sqs", REGION)
    env = {
        "SCAN_QUEUE_URL": sqs.create_queue(QueueName="scan-queue")["QueueUrl"],
        "INVENTORY_QUEUE_URL": sqs.create_queue(QueueName="inventory-queue")["QueueUrl"],
        "SCAN_EVENT_BUS": "",
    }
    # 30 s left in every invocation: below the unit's margin, so each unit lists one page and hands on.
    hub = Hub(resources, env, work=str(tmp_path), remaining_ms=30_000)
    paged = PagedLambda(boto3.client("lambda", region_name=REGION), size=5)
    original = aws.client

    def client(service: str, region: str | None = None) -> Any:
        return paged if service == "lambda" else original(service, region)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aws, "client", client)
        hub.schedule()
        hub.drain(("INVENTORY_QUEUE_URL",))

    units = [json.loads(i["event"]["Records"][0]["body"]) for i in unit_results(hub.invocations)]
    assert [(u["detail"]["part"], u["detail"]["marker"]) for u in units] == [(0, ""), (1, "5"), (2, "10")]
    assert paged.markers == ["", "5", "10"]  # resumed, never restarted
    sqs = boto3.client("sqs", region_name=REGION)
    queued = []
    while batch := sqs.receive_message(QueueUrl=env["SCAN_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", []):
        queued += [json.loads(m["Body"])["detail"]["functionArn"] for m in batch]
    assert len(queued) == len(set(queued)) == 12  # each function enqueued once over the three parts


@dataclass
class HubDeployment:
    """centralized-hub.yaml deployed in the organization's management account, and the members' functions."""

    stack_id: str
    outputs: dict[str, str]
    env: dict[str, str]
    scanner_arn: str
    resources: Resources
    functions: dict[str, set[str]]


def deploy_hub() -> HubDeployment:
    """The organization (MEMBERS members with functions) and the hub deployed with InventoryAccounts=organization;
    its queues' event source mappings taken over, so the tests play the pollers."""
    resources = make_resources()
    organization_id = boto3.client("organizations").create_organization(FeatureSet="ALL")["Organization"]["Id"]
    functions = {account: member_functions(account) for account in (new_member(f"m{i}") for i in range(MEMBERS))}
    session = boto3.Session(region_name=REGION)
    outputs = create_stack(
        session,
        "qscanner-hub",
        "centralized-hub.yaml",
        {
            **admin_artifacts(session, REGION, "qscanner-hub"),
            "OrganizationId": organization_id,
            "InventoryAccounts": "organization",
            "InventoryRegions": ",".join(REGIONS),
            "ExternalId": "test-external-id-4f1c9a7e2b",
            "SpokeRoleName": SPOKE_ROLE,
        },
    )
    # moto would run the function in Docker for each message: the tests are the pollers.
    sources = runtime.take_over_event_source_mappings(session, outputs["ScannerFunctionName"])
    assert sorted(sources) == sorted([outputs["ScanQueueArn"], outputs["InventoryQueueArn"]])
    configuration = session.client("lambda").get_function_configuration(FunctionName=outputs["ScannerFunctionName"])
    # No scan events: moto would match them to the schedule rule and fail on its Lambda target.
    env = {**{k: str(v) for k, v in configuration["Environment"]["Variables"].items()}, "SCAN_EVENT_BUS": ""}
    (stack,) = session.client("cloudformation").describe_stacks(StackName="qscanner-hub")["Stacks"]
    return HubDeployment(stack["StackId"], outputs, env, configuration["FunctionArn"], resources, functions)


def still_deployed(deployment: HubDeployment) -> bool:
    """Whether moto still holds this deployment (a test's own `mocked_aws` empties it)."""
    try:
        stacks = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=deployment.stack_id)
    except ClientError:
        return False
    return bool(stacks["Stacks"]) and not stacks["Stacks"][0]["StackStatus"].startswith("DELETE")


@pytest.fixture(scope="module")
def hub_deployments(moto_module: None) -> list[HubDeployment]:
    """The module's hub deployments, latest last: one, unless a test in between emptied moto."""
    return []


@pytest.fixture
def deployed_hub(
    hub_deployments: list[HubDeployment], tmp_path: Path
) -> Iterator[tuple[Hub, dict[str, str], dict[str, set[str]]]]:
    """The hub deployed once for the module (see `deploy_hub`), with a fresh hub configured from the deployed
    function's environment. Only the last test drives its queues; the first reads its configuration."""
    if not hub_deployments or not still_deployed(hub_deployments[-1]):
        empty_moto()
        hub_deployments.append(deploy_hub())
    deployment = hub_deployments[-1]
    hub = Hub(deployment.resources, dict(deployment.env), work=str(tmp_path), scanner_arn=deployment.scanner_arn)
    yield hub, deployment.outputs, deployment.functions


@pytest.mark.deploys  # the hub stack deployed on the moto server
def test_deployed_hub_points_scanner_at_organization_and_inventory_queue(
    deployed_hub: tuple[Hub, dict[str, str], dict[str, set[str]]],
) -> None:
    hub, outputs, _functions = deployed_hub

    assert hub.env["INVENTORY_ACCOUNTS"] == "organization"
    assert hub.env["INVENTORY_QUEUE_URL"] == outputs["InventoryQueueUrl"]
    assert hub.env["SCAN_QUEUE_URL"] == outputs["ScanQueueUrl"]
    assert hub.env["ALLOWED_ACCOUNT_IDS"] == ""


@pytest.mark.deploys  # the hub stack deployed on the moto server
def test_deployed_hub_schedule_plans_units_on_inventory_queue_then_scans_every_member_function(
    deployed_hub: tuple[Hub, dict[str, str], dict[str, set[str]]],
) -> None:
    hub, outputs, functions = deployed_hub
    sqs = aws.client("sqs", REGION)

    planned = hub.schedule()
    waiting = {
        queue: int(
            sqs.get_queue_attributes(QueueUrl=outputs[queue], AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        for queue in ("InventoryQueueUrl", "ScanQueueUrl")
    }
    hub.drain()

    units = (MEMBERS + 1) * len(REGIONS)
    assert planned["units"] == units
    assert waiting == {"InventoryQueueUrl": units, "ScanQueueUrl": 0}
    # Every member's functions once; in the hub account only the scanner itself, which it never scans.
    assert hub.scanned() == Counter({arn: 1 for arn in set().union(*functions.values())})
