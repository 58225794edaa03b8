"""The deploy recipes' helpers and rules: PARAMETERS splitting, parameter files, the partition, S3 owners."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.build import BuildError, partition_of
from local.stack_parameters import main, split_parameters

ROOT = Path(__file__).resolve().parents[2]
RECIPES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]


def logical_lines(path: Path) -> list[str]:
    """A make file's lines with backslash continuations joined (one shell command per line)."""
    return path.read_text().replace("\\\n", " ").splitlines()


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("", []),
        ("EnableScanCache=false ScannerMemorySize=3008", ["EnableScanCache=false", "ScannerMemorySize=3008"]),
        ("InventorySchedule=rate(12 hours)", ["InventorySchedule=rate(12 hours)"]),
        (
            "InventorySchedule=cron(0 3 * * ? *) EnableScanCache=false",
            ["InventorySchedule=cron(0 3 * * ? *)", "EnableScanCache=false"],
        ),
        ("  NotificationEmail=  PolicyTags=a=b,c ", ["NotificationEmail=", "PolicyTags=a=b,c"]),
    ],
)
def test_parameters_split_at_each_key_a_value_keeps_its_spaces(text: str, pairs: list[str]) -> None:
    assert split_parameters(text) == pairs


@pytest.mark.parametrize("text", ["rate(12 hours)", "=x", "Bad-Key=1"])
def test_parameters_not_starting_with_a_key_refused(text: str) -> None:
    with pytest.raises(ValueError, match="PARAMETERS must be Key=Value pairs"):
        split_parameters(text)


def test_parameter_file_arguments_then_environment_then_user_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"EXTERNAL_ID": "from-the-environment", "PARAMETERS": "InventorySchedule=rate(12 hours) QualysPod=EU1"}

    code = main(
        ["QualysPod=US2", "KmsKeyArn=", "--value-from-env", "ExternalId=EXTERNAL_ID", "--parameters-env", "PARAMETERS"],
        env,
    )

    assert code == 0
    assert json.loads(capsys.readouterr().out) == [
        "QualysPod=EU1",
        "KmsKeyArn=",
        "ExternalId=from-the-environment",
        "InventorySchedule=rate(12 hours)",
    ]


def test_stackset_parameter_file_is_key_value_objects(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"PARAMETERS": "InventorySchedule=cron(0 3 * * ? *)"}

    assert main(["--format", "stackset", "CodeS3Key=k.zip", "--parameters-env", "PARAMETERS"], env) == 0

    assert json.loads(capsys.readouterr().out) == [
        {"ParameterKey": "CodeS3Key", "ParameterValue": "k.zip"},
        {"ParameterKey": "InventorySchedule", "ParameterValue": "cron(0 3 * * ? *)"},
    ]


def test_value_from_unset_environment_variable_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--value-from-env", "ExternalId=EXTERNAL_ID"], {}) == 2
    assert "EXTERNAL_ID is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arn", "partition", "suffix"),
    [
        ("arn:aws:sts::123456789012:assumed-role/admin/me", "aws", "amazonaws.com"),
        ("arn:aws-cn:iam::123456789012:user/me", "aws-cn", "amazonaws.com.cn"),
        ("arn:aws-us-gov:sts::123456789012:assumed-role/admin/me", "aws-us-gov", "amazonaws.com"),
    ],
)
def test_partition_and_url_suffix_from_caller_arn(arn: str, partition: str, suffix: str) -> None:
    assert partition_of(arn) == (partition, suffix)


@pytest.mark.parametrize("arn", ["", "not-an-arn", "arn:aws-mars:sts::123456789012:user/me"])
def test_unknown_partition_or_not_an_arn_refused(arn: str) -> None:
    with pytest.raises(BuildError):
        partition_of(arn)


def test_every_s3_call_of_the_recipes_names_the_expected_bucket_owner() -> None:
    # CreateBucket has no owner condition (the bucket is checked with head-bucket first), `aws s3`
    # high-level commands have none at all, so they must not be used.
    calls = [
        (path.name, line.strip())
        for path in RECIPES
        for line in logical_lines(path)
        if re.search(r"\bs3api (?!create-bucket)[a-z-]+", line) and not line.lstrip().startswith("#")
    ]
    assert calls, "no s3api call found"
    assert [c for c in calls if "--expected-bucket-owner" not in c[1]] == []
    high_level = [
        (path.name, line) for path in RECIPES for line in logical_lines(path) if re.search(r"\)\s+s3\s+[a-z]", line)
    ]
    assert high_level == []


def test_no_recipe_expands_parameters_into_its_text() -> None:
    # PARAMETERS reaches local/stack_parameters.py through the environment only (values hold spaces,
    # parentheses, `*` and `?`).
    uses = [(path.name, line) for path in RECIPES for line in logical_lines(path) if "$(PARAMETERS)" in line]
    assert uses == []
