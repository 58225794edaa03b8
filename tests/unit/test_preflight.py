"""local/preflight.py and local/stack_parameters.py: every prerequisite in one run; explicit parameters."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from local.build import BuildError, executable_kind
from local.preflight import Inputs, classify_sts_failure, preflight
from local.stack_parameters import explicit, parse_pairs

ROOT = Path(__file__).resolve().parents[2]


def elf(machine: int, bits: int = 2) -> bytes:
    """A 64-byte ELF header for `machine` (little-endian)."""
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = bits, 1
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def refused_probe(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(
        list(argv), 255, "", "An error occurred (InvalidClientTokenId) when calling GetCallerIdentity"
    )


def test_executable_kind_accepts_linux_elf_for_both_lambda_architectures() -> None:
    assert executable_kind(elf(0x3E), Path("q")) == "x86_64"
    assert executable_kind(elf(0xB7), Path("q")) == "arm64"


@pytest.mark.parametrize("data", [elf(0x28, bits=1), elf(0x3E, bits=1), b"\xcf\xfa\xed\xfe" + bytes(60)])
def test_executable_kind_other_platforms_rejected(data: bytes) -> None:
    with pytest.raises(BuildError, match=r"ELF file for another platform|not a Linux executable"):
        executable_kind(data, Path("q"))


def test_executable_kind_text_and_undeclared_script_rejected_simulated_accepted() -> None:
    with pytest.raises(BuildError, match="not a Linux executable"):
        executable_kind(b"<html>403 Forbidden</html>", Path("q"))
    with pytest.raises(BuildError, match="does not declare itself simulated"):
        executable_kind(b"#!/bin/sh\necho qscanner\n", Path("q"))
    assert executable_kind((ROOT / "local" / "qscanner").read_bytes(), Path("q")) == "simulated"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ('Could not connect to the endpoint URL: "http://127.0.0.1:9/"', "unreachable"),
        (
            'Unable to locate credentials. You can configure credentials by running "aws configure".',
            "no AWS credentials",
        ),
        ("An error occurred (ExpiredToken) when calling the GetCallerIdentity operation", "were refused"),
    ],
)
def test_classify_sts_failure_tells_endpoint_from_credentials(stderr: str, expected: str) -> None:
    assert expected in classify_sts_failure(stderr, "http://127.0.0.1:9")


def test_preflight_reports_every_failure_in_one_run(tmp_path: Path) -> None:
    text = tmp_path / "qscanner"
    text.write_text("not a binary\n")
    inputs = Inputs(aws="sh", region="", pod="GOV1", qscanner=text, target="deploy")

    errors, _ = preflight(
        inputs,
        ["cli", "credentials", "region", "qualys", "pod", "qscanner"],
        {"QUALYS_CLIENT_ID": "id", "PATH": "/usr/bin:/bin"},
        refused_probe,
    )

    assert [e.split(" ")[0] for e in errors] == [
        "the",
        "AWS_REGION",
        "QUALYS_CLIENT_SECRET",
        "QUALYS_POD=GOV1",
        str(text),
    ]
    assert "refused" in errors[0]


def test_preflight_accepts_token_or_client_pair_and_gzipped_elf(tmp_path: Path) -> None:
    binary = tmp_path / "qscanner.gz"
    binary.write_bytes(gzip.compress(elf(0x3E)))
    inputs = Inputs(aws="aws", region="eu-west-1", pod="EU2", qscanner=binary, target="deploy")

    for env in ({"QUALYS_ACCESS_TOKEN": "t"}, {"QUALYS_CLIENT_ID": "i", "QUALYS_CLIENT_SECRET": "s"}):
        assert preflight(inputs, ["region", "qualys", "pod", "qscanner"], env) == ([], [])


def test_explicit_parameters_take_given_then_stack_then_default_and_skip_masked_no_echo() -> None:
    template = [
        {"ParameterKey": "A", "DefaultValue": "1"},
        {"ParameterKey": "B", "DefaultValue": "2"},
        {"ParameterKey": "C", "DefaultValue": "rate(1 day)"},
        {"ParameterKey": "Secret", "NoEcho": True},
    ]
    stack = [{"ParameterKey": "B", "ParameterValue": "20"}, {"ParameterKey": "Secret", "ParameterValue": "****"}]

    assert explicit(parse_pairs(["A=x=y"]), template, stack) == {"A": "x=y", "B": "20", "C": "rate(1 day)"}
    assert explicit({}, template, None) == {"A": "1", "B": "2", "C": "rate(1 day)"}
    with pytest.raises(ValueError, match="not Key=Value"):
        parse_pairs(["novalue"])
