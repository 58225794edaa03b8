"""Unit tests of the simulated QScanner (local/qscanner): pure functions, no AWS, no sockets."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from local.emulator import parse_code_location as emulator_parse_code_location
from local.emulator import simulated_qscanner
from qualys_lambda.pods import QUALYS_PODS

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"
AKIA = "AKIA" + "ABCDEFGHIJKLMNOP"
GOOD_ENV = {"QUALYS_ACCESS_TOKEN": "tok-unit", "AWS_REGION": "us-east-1", "HOME": "/tmp"}


qs = simulated_qscanner()


def make_zip(files: dict[str, str | bytes]) -> bytes:
    """A zip archive holding `files` (path -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, content in files.items():
            zf.writestr(path, content)
    return buf.getvalue()


SAMPLE_ZIP = make_zip(
    {
        "app.py": f"import requests\nKEY = '{AKIA}'\n",
        "requirements.txt": "# pinned\nrequests==2.19.1\nPyYAML[extra] == 5.3.1 ; python_version > '3'\nboto3>=1.0\n",
        "Jinja2-2.10.dist-info/METADATA": "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n\nName: other\n",
        "typing_extensions-4.0.0.dist-info/METADATA": "Name: typing_extensions\nVersion: 4.0.0\n",
        "node_modules/lodash/package.json": json.dumps({"name": "lodash", "version": "4.17.15"}),
        "node_modules/@scope/pkg/package.json": json.dumps({"name": "@scope/pkg", "version": "1.0.0"}),
        "node_modules/lodash/fp/package.json": json.dumps({"main": "x"}),
        "package.json": json.dumps({"name": "my-app", "version": "1.0.0"}),
    }
)


def make_target(zip_bytes: bytes | None = SAMPLE_ZIP) -> object:
    """A zip Target as fetch_target would build it."""
    return qs.Target(
        arn=ARN,
        name="demo",
        package_type="Zip",
        runtime="python3.12",
        code_sha256="abc=",
        layers=("arn:aws:lambda:us-east-1:123456789012:layer:libs:3",),
        zip_bytes=zip_bytes,
    )


# ------------------------------------------------------------------ command line


def test_parse_args_space_separated_flags_parsed() -> None:
    opts = qs.parse_args(
        ["--pod", "US2", "--output-dir", "/tmp/o", "--cache-dir", "/tmp/c", "--scan-types", "pkg", "lambda", ARN]
    )

    assert (opts.pod, str(opts.output_dir), str(opts.cache_dir)) == ("US2", "/tmp/o", "/tmp/c")
    assert opts.scan_types == ("pkg",)
    assert (opts.command, opts.arn) == ("lambda", ARN)


def test_parse_args_equals_flags_parsed() -> None:
    opts = qs.parse_args(["--pod=EU1", "--output-dir=/tmp/o", "--format=json,spdx", "--access-token=t", "lambda", ARN])

    assert opts.pod == "EU1"
    assert opts.formats == ("json", "spdx")
    assert opts.access_token == "t"


def test_parse_args_defaults_scan_pkg_and_secret() -> None:
    opts = qs.parse_args(["--pod", "US1", "--output-dir", "/tmp/o", "lambda", ARN])

    assert opts.scan_types == ("pkg", "secret")
    assert (opts.formats, opts.mode, opts.scan_timeout_s) == (("json",), "get-report", 300)
    assert opts.cache_dir is None
    assert opts.access_token is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--pod", "US2", "--output-dir", "/o", "--verbose", "lambda", ARN],
        ["--pod", "XX9", "--output-dir", "/o", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o"],
        ["--pod", "US2", "--output-dir", "/o", "image", "repo:tag"],
        ["--pod", "US2", "--output-dir", "/o", "lambda"],
        ["--pod", "US2", "--output-dir", "/o", "lambda", "arn:aws:s3:::bucket"],
        ["--pod", "US2", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o", "--scan-types", "pkg,config", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o", "--format", "sarif", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o", "lambda", ARN, "extra"],
        ["--pod", "US2", "--output-dir"],
        ["--pod", "GOV1", "--output-dir", "/o", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o", "--mode", "evaluate-policy", "lambda", ARN],
        ["--pod", "US2", "--output-dir", "/o", "--scan-timeout", "soon", "lambda", ARN],
    ],
    ids=[
        "unknown-flag",
        "bad-pod",
        "missing-command",
        "other-command",
        "missing-arn",
        "malformed-arn",
        "missing-output-dir",
        "bad-scan-type",
        "bad-format",
        "extra-argument",
        "flag-without-value",
        "gov1-is-not-a-pod",
        "policy-mode-without-tags",
        "bad-scan-timeout",
    ],
)
def test_main_usage_error_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = qs.main(argv, GOOD_ENV)

    assert code == 2
    assert "qscanner: error:" in capsys.readouterr().err


def test_main_missing_credentials_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k != "QUALYS_ACCESS_TOKEN"}

    code = qs.main(["--pod", "US2", "--output-dir", "/tmp/o", "lambda", ARN], env)

    assert code == 2
    err = capsys.readouterr().err
    assert "QUALYS_CLIENT_ID" in err and "QUALYS_ACCESS_TOKEN" in err


def test_main_client_id_without_secret_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"QUALYS_CLIENT_ID": "id", "AWS_REGION": "us-east-1", "HOME": "/tmp"}

    assert qs.main(["--pod", "US2", "--output-dir", "/tmp/o", "lambda", ARN], env) == 2
    assert "QUALYS_CLIENT_SECRET" in capsys.readouterr().err


def test_main_rejected_credential_exits_1_naming_authentication(capsys: pytest.CaptureFixture[str]) -> None:
    env = {**GOOD_ENV, "QSCANNER_SIM_REJECT_CREDENTIAL": "tok-unit"}

    assert qs.main(["--pod", "US2", "--output-dir", "/tmp/o", "lambda", ARN], env) == 1
    assert "401 Unauthorized" in capsys.readouterr().err


def test_parse_args_gateway_url_mode_policy_and_scan_timeout() -> None:
    opts = qs.parse_args(
        [
            "--gateway-url",
            "https://gateway.example.com",
            "--output-dir",
            "/o",
            "--mode",
            "evaluate-policy",
            "--policy-tags",
            "prod,pci",
            "--scan-timeout",
            "5m",
            "lambda",
            ARN,
        ]
    )

    assert (opts.pod, opts.gateway_url) == ("", "https://gateway.example.com")
    assert (opts.mode, opts.policy_tags, opts.scan_timeout_s) == ("evaluate-policy", ("prod", "pci"), 300)


@pytest.mark.parametrize("missing", ["AWS_REGION", "HOME"])
def test_main_missing_environment_exits_2(missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k != missing}

    code = qs.main(["--pod", "US2", "--output-dir", "/tmp/o", "lambda", ARN], env)

    assert code == 2
    err = capsys.readouterr().err
    assert missing in err
    assert "tok-unit" not in err


def test_main_bad_knob_exits_2() -> None:
    env = {**GOOD_ENV, "QSCANNER_SIM_EXIT_CODE": "forty"}

    assert qs.main(["--pod", "US2", "--output-dir", "/tmp/o", "lambda", ARN], env) == 2


# ------------------------------------------------------------------ versions and inventory


@pytest.mark.parametrize(
    ("installed", "fixed", "expected"),
    [
        ("2.19.1", "2.20.0", True),
        ("2.20", "2.20.0", False),
        ("2.20.0", "2.20.0", False),
        ("2.9.0", "2.10.1", True),
        ("2.10.1", "2.10.1", False),
        ("5.4b1", "5.4", False),
        ("1.2.6-beta", "1.2.6", False),
        ("v4.17.15", "4.17.19", True),
        ("10.0", "9.9.9", False),
    ],
)
def test_version_lt_numeric_parts_compared(installed: str, fixed: str, expected: bool) -> None:
    assert qs.version_lt(installed, fixed) is expected


def test_parse_version_non_numeric_suffix_ignored() -> None:
    assert qs.parse_version("1.24.1rc2.post3") == (1, 24, 1)


def test_inventory_zip_finds_python_and_node_packages() -> None:
    packages = qs.inventory_zip(SAMPLE_ZIP)

    found = {(p.type, p.name, p.version, p.path) for p in packages}
    assert found == {
        ("python-pkg", "requests", "2.19.1", "requirements.txt"),
        ("python-pkg", "pyyaml", "5.3.1", "requirements.txt"),
        ("python-pkg", "jinja2", "2.10", "Jinja2-2.10.dist-info/METADATA"),
        ("python-pkg", "typing-extensions", "4.0.0", "typing_extensions-4.0.0.dist-info/METADATA"),
        ("node-pkg", "lodash", "4.17.15", "node_modules/lodash/package.json"),
        ("node-pkg", "@scope/pkg", "1.0.0", "node_modules/@scope/pkg/package.json"),
    }


def test_match_advisories_vulnerable_versions_get_advisory_severity() -> None:
    findings = qs.match_advisories(qs.inventory_zip(SAMPLE_ZIP))

    by_pkg = {f.package.name: f.advisory for f in findings}
    assert set(by_pkg) == {"requests", "pyyaml", "jinja2", "lodash"}
    assert (by_pkg["requests"]["severity"], by_pkg["requests"]["cves"]) == (4, ["CVE-2018-18074"])
    assert by_pkg["pyyaml"]["severity"] == 5
    assert by_pkg["jinja2"]["severity"] == 3
    assert by_pkg["lodash"]["severity"] == 4


def test_match_advisories_fixed_version_not_reported() -> None:
    pkg = qs.Package("requests", "2.20.0", "requirements.txt", "python-pkg")

    assert qs.match_advisories([pkg]) == []


def test_match_advisories_ecosystem_must_match() -> None:
    pkg = qs.Package("lodash", "1.0.0", "requirements.txt", "python-pkg")

    assert qs.match_advisories([pkg]) == []


def test_advisories_cover_every_severity_and_are_marked_simulated() -> None:
    assert {a["severity"] for a in qs.ADVISORIES} == {1, 2, 3, 4, 5}
    assert all("SIMULATED" in a["title"] and isinstance(a["qid"], int) for a in qs.ADVISORIES)


# ------------------------------------------------------------------ secrets


def test_find_secrets_planted_access_key_match_is_the_secret_text() -> None:
    secrets = qs.find_secrets(SAMPLE_ZIP)

    assert [(s.path, s.rule["id"], s.line) for s in secrets] == [("app.py", "aws-access-key-id", 2)]
    # As QScanner does: the product, not the scanner, must strip it.
    assert secrets[0].match == AKIA
    assert secrets[0].rule["severity"] == "CRITICAL"


def test_find_secrets_all_rules_match() -> None:
    secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    zip_bytes = make_zip(
        {
            "conf.ini": f"aws_secret_access_key = {secret_key}\n",
            "key.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
            "gh.txt": "token: ghp_" + "a" * 36 + "\n",
        }
    )

    secrets = qs.find_secrets(zip_bytes)

    assert {(s.rule["id"], s.rule["severity"]) for s in secrets} == {
        ("aws-secret-access-key", "CRITICAL"),
        ("private-key", "HIGH"),
        ("github-pat", "CRITICAL"),
    }


def test_find_secrets_binary_and_large_files_skipped() -> None:
    zip_bytes = make_zip(
        {
            "lib.so": b"\x00\x01" + AKIA.encode(),
            "big.txt": AKIA + "\n" + "x" * (1024 * 1024),
        }
    )

    assert qs.find_secrets(zip_bytes) == []


# ------------------------------------------------------------------ output files


def _write(tmp_path: Path, formats: tuple[str, ...] = ("json",), exit_code: int = 0) -> list[Path]:
    target = make_target()
    data = qs.scan_target(target, ("pkg", "secret"))
    return qs.write_outputs(
        tmp_path, "scan-1", target, "123456789012", "us-east-1", data, ("pkg", "secret"), formats, exit_code
    )


def test_write_outputs_success_writes_scan_result_and_sarif(tmp_path: Path) -> None:
    written = _write(tmp_path)

    assert sorted(p.name for p in written) == [
        "scan-1-ChangeList.db.xz",
        "scan-1-Report.sarif.json",
        "scan-1-ScanResult.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_write_outputs_scan_result_has_qscanner_fields(tmp_path: Path) -> None:
    _write(tmp_path)

    doc = json.loads((tmp_path / "scan-1-ScanResult.json").read_text())
    assert (doc["SchemaVersion"], doc["Simulated"], doc["ScanID"], doc["ArtifactName"]) == (5, True, "scan-1", ARN)
    assert doc["QScannerVersion"].endswith("-simulated")
    assert doc["ScansPerformed"] == [
        {"ScanType": "pkg", "ScanDuration": "0.1s", "Status": "success"},
        {"ScanType": "secret", "ScanDuration": "0.1s", "Status": "success"},
    ]
    meta = doc["Metadata"]
    assert (meta["CallerAccount"], meta["Region"]) == ("123456789012", "us-east-1")
    assert meta["TargetMetadata"]["Layers"] == ["arn:aws:lambda:us-east-1:123456789012:layer:libs:3"]
    assert meta["TargetMetadata"]["ImageMetadata"] == {"RepoTags": [], "RepoDigests": []}
    assert {r["Type"] for r in doc["Results"]} == {"python-pkg", "node-pkg"}
    assert doc["SecretResults"][0]["Target"] == "app.py"
    assert doc["SecretResults"][0]["Secrets"][0]["Match"] == AKIA


def test_write_outputs_sarif_rules_carry_qid_data_results_carry_software(tmp_path: Path) -> None:
    _write(tmp_path)

    sarif = json.loads((tmp_path / "scan-1-Report.sarif.json").read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "QScanner (simulated)"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    results = {r["ruleId"]: r for r in run["results"]}
    assert rules["900001"]["properties"]["severity"] == 4
    assert rules["900001"]["properties"]["cve-ids"] == ["CVE-2018-18074"]
    assert rules["900001"]["properties"]["cvss3Info"]["baseScore"] == "7.5"
    requests = results["900001"]
    assert (requests["level"], requests["properties"]["QID"]) == ("error", 900001)
    assert requests["properties"]["vulnerableSoftware"] == [
        {
            "name": "requests",
            "path": "requirements.txt",
            "installedVersion": "2.19.1",
            "fixedVersion": "2.20.0",
            "layerSHA": "",
        }
    ]
    assert results["900004"]["level"] == "warning"
    assert set(rules) == set(results)


def test_write_outputs_format_without_json_writes_no_scan_result(tmp_path: Path) -> None:
    written = _write(tmp_path, formats=("spdx",))

    assert "scan-1-ScanResult.json" not in {p.name for p in written}


def test_write_outputs_evaluate_policy_mode_writes_report_inventory_only_does_not(tmp_path: Path) -> None:
    target = make_target()
    data = qs.scan_target(target, ("pkg",))
    args = (target, "1", "us-east-1", data, ("pkg",), ("json",), 0)

    policy = qs.write_outputs(tmp_path / "p", "s", *args, mode="evaluate-policy")
    inventory = qs.write_outputs(tmp_path / "i", "s", *args, mode="inventory-only")

    assert "s-Report.sarif.json" in {p.name for p in policy}
    assert "s-Report.sarif.json" not in {p.name for p in inventory}
    assert qs.policy_verdict(data) == 42  # pyyaml 5.3.1 is critical: DENY


@pytest.mark.parametrize(("severity", "level"), [(5, "error"), (4, "error"), (3, "warning"), (2, "note"), (1, "note")])
def test_sarif_level_from_severity(severity: int, level: str) -> None:
    assert qs.sarif_level(severity) == level


def test_write_outputs_sboms_written_when_asked(tmp_path: Path) -> None:
    written = _write(tmp_path, formats=("json", "spdx", "cyclonedx"))

    assert {p.name for p in written} >= {
        "scan-1-ScanResult.spdx.json",
        "scan-1-ScanResult.spdx.json.xz",
        "scan-1-ScanResult-CycloneDX.json",
    }
    spdx = json.loads((tmp_path / "scan-1-ScanResult.spdx.json").read_text())
    assert spdx["spdxVersion"] == "SPDX-2.3"
    purls = {ref["referenceLocator"] for p in spdx["packages"] for ref in p.get("externalRefs", [])}
    assert "pkg:pypi/requests@2.19.1" in purls
    assert "pkg:npm/%40scope/pkg@1.0.0" in purls
    cdx = json.loads((tmp_path / "scan-1-ScanResult-CycloneDX.json").read_text())
    assert (cdx["bomFormat"], cdx["specVersion"]) == ("CycloneDX", "1.5")
    lodash = next(c for c in cdx["components"] if c["name"] == "lodash")
    assert (lodash["type"], lodash["version"], lodash["purl"]) == ("library", "4.17.15", "pkg:npm/lodash@4.17.15")


def test_write_outputs_sboms_absent_by_default(tmp_path: Path) -> None:
    written = _write(tmp_path)

    assert not any(p.name.endswith((".spdx.json", "-CycloneDX.json")) for p in written)


def test_write_outputs_report_pending_writes_scan_result_only(tmp_path: Path) -> None:
    written = _write(tmp_path, formats=("json",), exit_code=40)

    assert [p.name for p in written] == ["scan-1-ScanResult.json", "scan-1-ChangeList.db.xz"]


def test_write_outputs_failure_code_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"

    written = qs.write_outputs(
        out, "scan-1", make_target(), "123456789012", "us-east-1", qs.ScanData(), ("pkg",), ("json",), 7
    )

    assert written == []
    assert not out.exists()


def test_write_outputs_secret_only_scan_has_no_sarif_or_results(tmp_path: Path) -> None:
    target = make_target()
    data = qs.scan_target(target, ("secret",))

    written = qs.write_outputs(tmp_path, "s", target, "1", "us-east-1", data, ("secret",), ("json",), 0)

    assert [p.name for p in written] == ["s-ScanResult.json", "s-ChangeList.db.xz"]
    doc = json.loads(written[0].read_text())
    assert "Results" not in doc
    assert "SecretResults" in doc


def test_summary_text_starts_with_simulated_banner() -> None:
    target = make_target()

    text = qs.summary_text("scan-1", target, qs.scan_target(target, ("pkg", "secret")), 0, [])

    assert text.splitlines()[0] == "QScanner (SIMULATED) — not the Qualys binary"
    assert "Vulnerabilities: 4" in text


# ------------------------------------------------------------------ code location


def test_parse_code_location_virtual_hosted_url() -> None:
    url = "https://awslambda-eu-west-1-tasks.s3.eu-west-1.amazonaws.com/snapshots/123/fn-abc?X-Amz-Signature=x"

    assert qs.parse_code_location(url) == ("awslambda-eu-west-1-tasks", "snapshots/123/fn-abc")
    # The emulator stores code where the simulator looks for it: with the simulator's own parser.
    assert emulator_parse_code_location(url) == ("awslambda-eu-west-1-tasks", "snapshots/123/fn-abc")


def test_simulator_accepts_the_scanners_pods() -> None:
    # The simulator stands in for the Qualys binary and validates --pod on its own, self-contained in the layer.
    assert frozenset(QUALYS_PODS) == qs.VALID_PODS


def test_parse_code_location_not_s3_rejected() -> None:
    with pytest.raises(qs.ScanError):
        qs.parse_code_location("https://example.com/code.zip")


def test_knobs_exit_code_and_delay_parsed() -> None:
    assert qs._knobs({"QSCANNER_SIM_EXIT_CODE": "43", "QSCANNER_SIM_DELAY": "0.25"}) == (43, 0.25)
    assert qs._knobs({}) == (None, 0.0)
