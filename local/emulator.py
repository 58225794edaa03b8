"""What real Lambda does for code storage, done by hand on the moto emulator."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import json
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

SIMULATOR = Path(__file__).with_name("qscanner")
SIMULATOR_MODULE = "qscanner_sim"


@functools.cache
def simulated_qscanner() -> ModuleType:
    """local/qscanner, an extension-less script (self-contained for the layer), imported as a module."""
    loader = importlib.machinery.SourceFileLoader(SIMULATOR_MODULE, str(SIMULATOR))
    spec = importlib.util.spec_from_loader(SIMULATOR_MODULE, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[SIMULATOR_MODULE] = module  # dataclasses resolve their module through sys.modules
    loader.exec_module(module)
    return module


def parse_code_location(url: str) -> tuple[str, str]:
    """Bucket and key of a `Code.Location` URL: the simulated QScanner's own parser, so code is stored
    exactly where the simulator looks for it."""
    bucket, key = simulated_qscanner().parse_code_location(url)
    return str(bucket), str(key)


def _bucket_region(url: str) -> str:
    # `<bucket>.s3.<region>.amazonaws.com`; the legacy `<bucket>.s3.amazonaws.com` is us-east-1.
    labels = (urllib.parse.urlsplit(url).hostname or "").split(".")
    idx = labels.index("s3") if "s3" in labels else -1
    region = labels[idx + 1] if 0 <= idx < len(labels) - 3 else "us-east-1"
    return region


def store_function_code(lambda_client: LambdaClient, s3_client: S3Client, function_name: str, zip_bytes: bytes) -> None:
    """Put the function's zip where its `Code.Location` points, creating the bucket when missing."""
    location = lambda_client.get_function(FunctionName=function_name)["Code"]["Location"]
    bucket, key = parse_code_location(location)
    region = _bucket_region(location)
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3_client.create_bucket(Bucket=bucket, **kwargs)  # type: ignore[arg-type]
    except ClientError as exc:
        # The tasks bucket is shared by every function (and every account) in the region.
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3_client.put_object(Bucket=bucket, Key=key, Body=zip_bytes)


def create_zip_function(
    session: Any, name: str, handler: str, code: bytes, role_arn: str, tags: Mapping[str, str] | None = None
) -> str:
    """A python3.12 zip function, its code stored where `Code.Location` points; returns its ARN."""
    lambda_client = session.client("lambda")
    arn = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": code},
        MemorySize=128,
        Tags=dict(tags or {}),
    )["FunctionArn"]
    store_function_code(lambda_client, session.client("s3"), name, code)
    return str(arn)


def lambda_role(session: Any, name: str) -> str:
    """An IAM role Lambda functions can be created with; returns its ARN."""
    statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return str(session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
