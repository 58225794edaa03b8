"""PARAMETERS with spaces, parentheses, `*` and `?` through make deploy, deploy-hub and deploy-stackset
on the session's moto server; the StackSet's per-region values without instance overrides; every S3
call of the deploy path with the expected bucket owner.

One deploy per target; each checks several parameters at once.
"""

from __future__ import annotations

import boto3
import pytest

# make, its environment and variables as test_makefile drives them (deploy_args and make_env are fixtures).
from tests.functional.test_makefile import REGION, STACK, deploy_args, make, make_env  # noqa: F401
from tests.support import account_session, code_zip, organization_with_member

pytestmark = [pytest.mark.server, pytest.mark.deploys]  # each test runs make deploy


@pytest.fixture(autouse=True)
def fresh_emulator(emulator: str) -> str:
    """Each test here deploys its own stacks on an empty emulator (make_env leaves it as earlier tests left it)."""
    return emulator


CRON = "cron(0 3 * * ? *)"
RATE = "rate(12 hours)"
OTHER_REGION = "eu-west-1"


def stack_parameters(name: str, region: str = REGION) -> dict[str, str]:
    (stack,) = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=name)["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_deploy_passes_parameters_with_spaces_and_globs_unchanged(
    make_env: dict[str, str],  # noqa: F811
    deploy_args: list[str],  # noqa: F811
) -> None:
    # Unquoted in a shell, `*` and `?` would match the repository's files (make runs there).
    parameters = f"InventorySchedule={CRON} EnableScanCache=false ExcludeTag=Skip Me"

    result = make("deploy", *deploy_args, f"PARAMETERS={parameters}", env=make_env, timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    values = stack_parameters(STACK)
    assert values["InventorySchedule"] == CRON
    assert values["EnableScanCache"] == "false"
    assert values["ExcludeTag"] == "Skip Me"
    function = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=f"{STACK}-scanner")
    assert function["Environment"]["Variables"]["SCAN_CACHE_TABLE"] == ""
    assert function["Environment"]["Variables"]["EXCLUDE_TAG"] == "Skip Me"
    # The artifacts bucket got the code and the template, with the owner condition moto accepted.
    bucket = f"{STACK}-artifacts-123456789012-{REGION}"
    keys = [o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("scanner-lambda/") for k in keys) and any(k.startswith("cloudformation/") for k in keys)


def test_deploy_rejects_parameters_that_are_not_pairs(
    make_env: dict[str, str],  # noqa: F811
    deploy_args: list[str],  # noqa: F811
) -> None:
    result = make("deploy", *deploy_args, "PARAMETERS=rate(12 hours)", env=make_env, timeout=600)

    assert result.returncode != 0
    assert "PARAMETERS must be Key=Value pairs" in result.stderr
    assert not boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]  # checked before any AWS call


def test_deploy_hub_passes_parameters_with_spaces_unchanged(
    make_env: dict[str, str],  # noqa: F811
    deploy_args: list[str],  # noqa: F811
) -> None:
    env = make_env | {"EXTERNAL_ID": "make-test-external-id-0123"}
    parameters = f"InventorySchedule={RATE} ScannerMemorySize=3008"

    result = make(
        "deploy-hub", *deploy_args, "SPOKE_ACCOUNT_IDS=111111111111", f"PARAMETERS={parameters}", env=env, timeout=600
    )

    assert result.returncode == 0, result.stdout + result.stderr
    values = stack_parameters(f"{STACK}-hub")
    assert (values["InventorySchedule"], values["ScannerMemorySize"]) == (RATE, "3008")
    assert "hub ready" in result.stdout


def test_deploy_stackset_without_overrides_each_region_resolves_its_own_artifacts(
    make_env: dict[str, str],  # noqa: F811
    deploy_args: list[str],  # noqa: F811
) -> None:
    org, ou, member = organization_with_member(boto3.client("organizations", region_name=REGION))
    # The other region's layer is one version ahead: make must publish one version number everywhere.
    boto3.client("lambda", region_name=OTHER_REGION).publish_layer_version(
        LayerName=f"{STACK}-qscanner", Content={"ZipFile": code_zip({"bin/old": "old"})}
    )
    regions = (REGION, OTHER_REGION)
    parameters = f"InventorySchedule={CRON} EnableScanCache=false"

    result = make(
        "deploy-stackset",
        *deploy_args,
        f"ORG_ID={org}",
        f"OU_IDS={ou}",
        f"REGIONS={' '.join(regions)}",
        f"PARAMETERS={parameters}",
        env=make_env,
        timeout=900,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stackset = cloudformation.describe_stack_set(StackSetName=STACK)["StackSet"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stackset["Parameters"]}
    assert (values["InventorySchedule"], values["EnableScanCache"]) == (CRON, "false")
    assert values["QScannerLayerVersion"] == "2"
    for region in regions:
        summaries = cloudformation.list_stack_instances(StackSetName=STACK, StackInstanceRegion=region)["Summaries"]
        assert summaries
        for summary in summaries:
            instance = cloudformation.describe_stack_instance(
                StackSetName=STACK, StackInstanceAccount=summary["Account"], StackInstanceRegion=region
            )["StackInstance"]
            assert not instance.get("ParameterOverrides")
        # Version 2 of the layer, the StackSet's QScannerLayerVersion, holds the deployed zip in every region.
        layers = boto3.client("lambda", region_name=region).list_layer_versions(LayerName=f"{STACK}-qscanner")
        versions = {v["Version"]: v["LayerVersionArn"] for v in layers["LayerVersions"]}
        assert versions[2] == f"arn:aws:lambda:{region}:123456789012:layer:{STACK}-qscanner:2"
        functions = account_session(member, region=region).client("lambda").list_functions()["Functions"]
        (function,) = [f for f in functions if "QUALYS_SECRET_ARN" in f.get("Environment", {}).get("Variables", {})]
        secret_arn = function["Environment"]["Variables"]["QUALYS_SECRET_ARN"]
        assert secret_arn == f"arn:aws:secretsmanager:{region}:123456789012:secret:{STACK}/qualys-org"
        # The partial ARN finds this region's shared secret.
        secret = boto3.client("secretsmanager", region_name=region).describe_secret(SecretId=secret_arn)
        assert secret["ARN"].startswith(f"arn:aws:secretsmanager:{region}:")
