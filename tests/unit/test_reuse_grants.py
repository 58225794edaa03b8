"""ScanIdenticalCodeOnce: the scanner reads back stored results (scans/* of the results bucket) only with the
option on, in every scanner model and the Terraform module, and never anything else of the bucket for it."""

from __future__ import annotations

import pytest

from tests.iam import RESOURCE_NAMES, granted, role_policies, terraform_documents

BUCKET = RESOURCE_NAMES["ResultsBucket"]
STORED = f"arn:aws:s3:::{BUCKET}/scans/111111111111/us-east-1/fn/20261207T000000Z-scan/scan-Report.sarif.json"
OUTSIDE = f"arn:aws:s3:::{BUCKET}/other/object.json"
SCANNER_TEMPLATES = ("single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml")


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_scanner_role_reads_stored_results_only_with_the_option(template: str) -> None:
    on = role_policies(template, "ScannerRole", (("ScanIdenticalCodeOnce", "true"),))
    off = role_policies(template, "ScannerRole", (("ScanIdenticalCodeOnce", "false"),))
    without_bucket = role_policies(
        template, "ScannerRole", (("ScanIdenticalCodeOnce", "true"), ("EnableS3Results", "false"))
    )

    assert granted(on, "s3:GetObject", STORED, {})
    assert not granted(on, "s3:GetObject", OUTSIDE, {})
    assert not granted(off, "s3:GetObject", STORED, {})
    assert not granted(without_bucket, "s3:GetObject", STORED, {})


def test_terraform_reads_stored_results_in_its_own_switched_statement() -> None:
    (statement,) = [s for s in terraform_documents()["scanner"]["Statement"] if s.get("Sid") == "ReadScanResults"]

    assert granted([{"Statement": [statement]}], "s3:GetObject", STORED, {})
    assert not granted([{"Statement": [statement]}], "s3:GetObject", OUTSIDE, {})
