"""Runtime support status from Lambda's runtime deprecation dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from qualys_lambda.runtimes import (
    APPROACHING_DAYS,
    DEPRECATION_DATES,
    RUNTIMES_READ_ON,
    RUNTIMES_SOURCE,
    runtime_status,
    runtime_support,
)

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ("python3.13", "supported"),
        ("nodejs24.x", "supported"),
        ("python3.12", "supported"),
        ("python3.9", "deprecated"),
        ("nodejs18.x", "deprecated"),
        ("python3.11", "deprecated"),
        ("go1.x", "deprecated"),
        ("dotnet8", "deprecated"),
    ],
)
def test_runtime_status_on_the_day_the_table_was_read(runtime: str, expected: str) -> None:
    assert runtime_status(runtime, TODAY) == expected


def test_runtime_status_deprecated_from_its_date_on() -> None:
    deprecation = DEPRECATION_DATES["python3.12"]

    assert runtime_status("python3.12", deprecation - timedelta(days=1)) == "approaching_deprecation"
    assert runtime_status("python3.12", deprecation) == "deprecated"


def test_runtime_status_approaching_within_window_only() -> None:
    deprecation = DEPRECATION_DATES["nodejs22.x"]

    assert runtime_status("nodejs22.x", deprecation - timedelta(days=APPROACHING_DAYS)) == "approaching_deprecation"
    assert runtime_status("nodejs22.x", deprecation - timedelta(days=APPROACHING_DAYS + 1)) == "supported"


def test_runtime_status_image_function_not_applicable() -> None:
    support = runtime_support("", TODAY)

    assert support.status == "not_applicable"
    assert support.as_json() == {"status": "not_applicable", "deprecation_date": None, "source": None}


@pytest.mark.parametrize("runtime", ["python3.99", "provided.custom", "PYTHON3.12"])
def test_runtime_status_not_in_table_unknown(runtime: str) -> None:
    assert runtime_status(runtime, TODAY) == "unknown"


def test_runtime_support_json_names_date_and_source() -> None:
    assert runtime_support("python3.9", TODAY).as_json() == {
        "status": "deprecated",
        "deprecation_date": "2025-12-15",
        "source": RUNTIMES_SOURCE,
    }


def test_table_read_on_recorded_and_not_in_the_future() -> None:
    # The table is only as good as the day it was read: the module says which day.
    assert RUNTIMES_READ_ON == TODAY
    assert "lambda-runtimes" in RUNTIMES_SOURCE
