"""Every scanner model reads exactly the SuppressionsUri object, and nothing when it is empty."""

from __future__ import annotations

import pytest

from tests.iam import RESOURCE_NAMES, granted, role_policies, terraform_documents

BUCKET = RESOURCE_NAMES["ResultsBucket"]
OBJECT = f"arn:aws:s3:::{BUCKET}/suppressions/suppressions.json"
SCANNER_TEMPLATES = ("single-account-native.yaml", "stackset.yaml", "centralized-hub.yaml")


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_scanner_role_reads_only_the_named_object(template: str) -> None:
    # ScanIdenticalCodeOnce reads scans/* besides (tests/unit/test_reuse_grants.py): off here.
    documents = role_policies(template, "ScannerRole", (("ScanIdenticalCodeOnce", "false"),))

    assert granted(documents, "s3:GetObject", OBJECT, {})
    assert not granted(documents, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/scans/111111111111/summary.json", {})
    assert not granted(documents, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/suppressions/other.json", {})


@pytest.mark.parametrize("template", SCANNER_TEMPLATES)
def test_scanner_role_reads_no_object_without_suppressions_uri(template: str) -> None:
    documents = role_policies(template, "ScannerRole", (("SuppressionsUri", ""),))

    assert not granted(documents, "s3:GetObject", OBJECT, {})


def test_terraform_scanner_reads_only_the_named_object() -> None:
    document = terraform_documents()["scanner"]
    # Every feature is on in the module's documents: scan_identical_code_once's own statement is left out.
    statements = [s for s in document["Statement"] if s.get("Sid") != "ReadScanResults"]
    documents = [{**document, "Statement": statements}]

    assert granted(documents, "s3:GetObject", OBJECT, {})
    assert not granted(documents, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/scans/111111111111/summary.json", {})
