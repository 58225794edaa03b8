"""What real Lambda does for code storage, done by hand on the moto emulator."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client


def parse_code_location(url: str) -> tuple[str, str]:
    """Bucket and key of a virtual-hosted S3 URL (`https://<bucket>.s3.<region>.amazonaws.com/<key>`)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    bucket, sep, _ = host.partition(".s3")
    key = urllib.parse.unquote(parts.path.lstrip("/"))
    if not sep or not bucket or not key:
        raise ValueError(f"not a virtual-hosted S3 URL: {url}")
    return bucket, key


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
