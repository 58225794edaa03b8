"""Whether a function's Lambda runtime is still supported, from Lambda's runtime deprecation dates.

After its deprecation date a runtime receives no more security patches (AWS Lambda Developer Guide,
"Runtime deprecation": "we may no longer apply security patches or updates to that runtime"), so a
function on it is a finding of its own, whatever its code contains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

RuntimeStatus = Literal["supported", "approaching_deprecation", "deprecated", "unknown", "not_applicable"]

# Source: AWS Lambda Developer Guide, "Lambda runtimes"
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), tables "Supported runtimes" and
# "Deprecated runtimes", column "Deprecation date"; read 2026-12-02. Lambda moves these dates now and
# then: update the table (and RUNTIMES_READ_ON) from that page, never from memory.
RUNTIMES_SOURCE = "AWS Lambda Developer Guide, 'Lambda runtimes' (lambda-runtimes.html)"
RUNTIMES_READ_ON = date(2026, 12, 2)
DEPRECATION_DATES: dict[str, date] = {
    # Supported on the day read (deprecation ahead).
    "nodejs24.x": date(2028, 4, 30),
    "nodejs22.x": date(2027, 4, 30),
    "python3.14": date(2029, 6, 30),
    "python3.13": date(2029, 6, 30),
    "python3.12": date(2028, 10, 31),
    "java25": date(2029, 6, 30),
    "java21": date(2029, 6, 30),
    "dotnet10": date(2028, 11, 14),
    "ruby3.4": date(2028, 3, 31),
    "ruby3.3": date(2027, 3, 31),
    "provided.al2023": date(2029, 6, 30),
    # Deprecated on or before the day read.
    "dotnet8": date(2026, 11, 10),
    "nodejs20.x": date(2026, 4, 30),
    "python3.11": date(2026, 6, 30),
    "python3.10": date(2026, 6, 30),
    "java17": date(2026, 6, 30),
    "java11": date(2026, 6, 30),
    "java8.al2": date(2026, 6, 30),
    "provided.al2": date(2026, 6, 30),
    "ruby3.2": date(2026, 3, 31),
    "python3.9": date(2025, 12, 15),
    "nodejs18.x": date(2025, 9, 1),
    "dotnet6": date(2024, 12, 20),
    "python3.8": date(2024, 10, 14),
    "nodejs16.x": date(2024, 6, 12),
    "dotnet7": date(2024, 5, 14),
    "java8": date(2024, 1, 8),
    "go1.x": date(2024, 1, 8),
    "provided": date(2024, 1, 8),
    "ruby2.7": date(2023, 12, 7),
    "nodejs14.x": date(2023, 12, 4),
    "python3.7": date(2023, 12, 4),
    "dotnetcore3.1": date(2023, 4, 3),
    "nodejs12.x": date(2023, 3, 31),
    "python3.6": date(2022, 7, 18),
    "dotnet5.0": date(2022, 5, 10),
    "dotnetcore2.1": date(2022, 1, 5),
    "nodejs10.x": date(2021, 7, 30),
    "ruby2.5": date(2021, 7, 30),
    "python2.7": date(2021, 7, 15),
    "nodejs8.10": date(2020, 3, 6),
    "nodejs4.3": date(2020, 3, 6),
    "dotnetcore1.0": date(2019, 7, 30),
    "dotnetcore2.0": date(2019, 5, 30),
    "nodejs4.3-edge": date(2019, 4, 30),
    "nodejs6.10": date(2019, 8, 12),
    "nodejs": date(2016, 10, 31),
}
# Our choice: a runtime within this many days of its deprecation date is reported as approaching it,
# early enough to plan a migration before patches stop.
APPROACHING_DAYS = 180


@dataclass(frozen=True)
class RuntimeSupport:
    """A runtime's support status on a day, with the date it rests on."""

    runtime: str
    status: RuntimeStatus
    deprecation_date: date | None = None

    def as_json(self) -> dict[str, str | None]:
        """`function.runtime_status` of the summary (schema v3)."""
        return {
            "status": self.status,
            "deprecation_date": self.deprecation_date.isoformat() if self.deprecation_date else None,
            "source": RUNTIMES_SOURCE if self.deprecation_date else None,
        }


def runtime_support(runtime: str, today: date) -> RuntimeSupport:
    """The status of `runtime` on `today` (UTC). An image function has no runtime: not applicable."""
    if not runtime:
        return RuntimeSupport(runtime, "not_applicable")
    deprecation = DEPRECATION_DATES.get(runtime)
    if deprecation is None:
        # A runtime newer than the table, or a customer-managed one: the table cannot say.
        return RuntimeSupport(runtime, "unknown")
    if today >= deprecation:
        return RuntimeSupport(runtime, "deprecated", deprecation)
    if (deprecation - today).days <= APPROACHING_DAYS:
        return RuntimeSupport(runtime, "approaching_deprecation", deprecation)
    return RuntimeSupport(runtime, "supported", deprecation)


def runtime_status(runtime: str, today: date) -> RuntimeStatus:
    """supported, approaching_deprecation, deprecated, unknown, or not_applicable (no runtime: an image)."""
    return runtime_support(runtime, today).status
