"""Organization scale, pure parts: the INVENTORY_ACCOUNTS setting, inventory units, the pacer, ListAccounts paging."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qualys_lambda.aws import INVENTORY_CONTROL_PLANE_RPS, LAMBDA_CONTROL_PLANE_RPS, Pacer
from qualys_lambda.config import Settings
from qualys_lambda.errors import ConfigurationError, InvalidEventError, TransientError
from qualys_lambda.events import InventoryUnit, inventory_unit_event, parse_event, parse_inventory_unit
from qualys_lambda.inventory import organization_accounts
from tests.support import ACCOUNT

BASE = {"QUALYS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:q"}


def test_settings_inventory_accounts_organization_needs_spoke_role() -> None:
    with pytest.raises(ConfigurationError, match="INVENTORY_ACCOUNTS=organization needs CROSS_ACCOUNT_ROLE_NAME"):
        Settings.from_env({**BASE, "INVENTORY_ACCOUNTS": "organization"})

    settings = Settings.from_env({**BASE, "INVENTORY_ACCOUNTS": "Organization", "CROSS_ACCOUNT_ROLE_NAME": "Spoke"})

    assert (settings.inventory_organization, settings.inventory_accounts) == (True, ())


def test_settings_inventory_accounts_list_and_queue() -> None:
    settings = Settings.from_env(
        {**BASE, "INVENTORY_ACCOUNTS": "111111111111, 222222222222", "INVENTORY_QUEUE_URL": "https://q/units"}
    )

    assert settings.inventory_accounts == ("111111111111", "222222222222")
    assert (settings.inventory_organization, settings.inventory_queue_url) == (False, "https://q/units")


def test_settings_inventory_accounts_invalid_reported() -> None:
    with pytest.raises(ConfigurationError, match="INVENTORY_ACCOUNTS must be 'organization' or comma-separated"):
        Settings.from_env({**BASE, "INVENTORY_ACCOUNTS": "all"})


def test_inventory_unit_event_round_trips_with_marker() -> None:
    unit = InventoryUnit(ACCOUNT, "eu-west-1", marker="bWFya2Vy==", inventory_id="inv-1", part=3)

    assert parse_inventory_unit(inventory_unit_event(unit, "evt-1")) == unit


def test_inventory_unit_is_not_a_scan_request() -> None:
    event = inventory_unit_event(InventoryUnit(ACCOUNT, "us-east-1"), "evt-1")

    with pytest.raises(InvalidEventError, match="not one the scanner handles"):
        parse_event(event)
    assert parse_inventory_unit({"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail"}) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"account": "12345"}, "account or region is malformed"),
        ({"region": "mars-1"}, "account or region is malformed"),
        ({"source": "someone.else"}, "unexpected source"),
        ({"detail": {"marker": "x" * 2000}}, "marker or id is malformed"),
        ({"detail": {"part": -1}}, "part must be a non-negative integer"),
        ({"detail": None}, "no detail object"),
    ],
)
def test_inventory_unit_malformed_rejected(change: dict[str, Any], reason: str) -> None:
    event = {**inventory_unit_event(InventoryUnit(ACCOUNT, "us-east-1"), "evt-1"), **change}

    with pytest.raises(InvalidEventError, match=reason):
        parse_inventory_unit(event)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_holds_calls_to_its_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(5, clock=clock, sleep=clock.sleep)

    for _ in range(25):
        pacer.wait()

    # A burst of 5 (one second's worth), then one call every 0.2 s: 25 calls end after 4 s.
    assert clock.now == pytest.approx(4.0)
    assert pacer.waited == pytest.approx(4.0) and len(clock.sleeps) == 20


def test_pacer_idle_time_refills_without_sleeping() -> None:
    clock = FakeClock()
    pacer = Pacer(5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait()
    clock.now += 10

    for _ in range(5):
        pacer.wait()

    assert clock.sleeps == []


def test_inventory_pace_leaves_most_of_the_control_plane_quota() -> None:
    assert INVENTORY_CONTROL_PLANE_RPS <= LAMBDA_CONTROL_PLANE_RPS / 2


def account(account_id: str, state: str) -> dict[str, Any]:
    return {"Id": account_id, "Arn": f"arn:aws:organizations::{ACCOUNT}:account/o-x/{account_id}", "State": state}


def test_organization_accounts_follow_pages_and_keep_active_only() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_accounts",
            {"Accounts": [account("111111111111", "ACTIVE"), account("222222222222", "SUSPENDED")], "NextToken": "t"},
            {},
        )
        stubber.add_response(
            "list_accounts",
            {"Accounts": [account("333333333333", "PENDING_CLOSURE"), account("444444444444", "ACTIVE")]},
            {"NextToken": "t"},
        )

        assert organization_accounts(client) == ["111111111111", "444444444444"]


@pytest.mark.parametrize(
    ("code", "error"),
    [("TooManyRequestsException", TransientError), ("AWSOrganizationsNotInUseException", ConfigurationError)],
)
def test_organization_accounts_errors(code: str, error: type[Exception]) -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("list_accounts", code, http_status_code=400)

        with pytest.raises(error):
            organization_accounts(client)
