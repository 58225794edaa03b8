"""Build helpers for the Makefile: the QScanner layer zip, the handler zip, the secret's JSON.

Standard library only, so `make layer` and `make package` need nothing but python3. Every zip is
deterministic (sorted entries, fixed timestamps and modes): the same input gives the same bytes, so
the content hash in the S3 key changes exactly when the code does.
"""

from __future__ import annotations

import argparse
import ast
import base64
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
# ELF header fields (System V ABI, "ELF header" in the gABI; `man 5 elf`): the magic, EI_CLASS at
# byte 4 (2 = 64-bit), EI_DATA at byte 5 (1 = little-endian), e_machine as a little-endian u16 at 18.
ELF_MAGIC = b"\x7fELF"
ELF_CLASS_64 = 2
ELF_DATA_LITTLE = 1
# The two architectures Lambda runs (AWS Lambda "Lambda instruction set architectures" page).
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}
# The simulated QScanner (local/qscanner), a Python script, declares itself with this line. A script
# is accepted as QSCANNER only with it, so the demo and the tests can use the stand-in on purpose
# while a text file saved by mistake (an HTML error page, a README) is refused before it is deployed.
SIMULATED_MARKER = b"qualys-lambda: simulated QScanner"
SIMULATED_HEAD_BYTES = 512
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = 0o755
REGULAR = 0o644
LAYER_BINARY = "bin/qscanner"  # Lambda mounts layers at /opt: /opt/bin/qscanner
HANDLER_PACKAGE = "qualys_lambda"
# What the zip serves: Lambda's entry point and the operator CLI (`python -m qualys_lambda.cli`).
HANDLER_ROOTS = ("lambda_function.py", "qualys_lambda/cli.py")
WHERE_TO_GET_QSCANNER = (
    "QScanner is licensed by Qualys and not part of this repository: download it from the Qualys portal "
    "(or ask Qualys support), save it as scanner-lambda/qscanner.gz, or pass QSCANNER=path (gzipped or not)"
)


# Each partition's DNS suffix ("dnsSuffix" in the AWS SDKs' partitions.json, botocore/data/partitions.json;
# CloudFormation's AWS::URLSuffix pseudo parameter: "amazonaws.com.cn" in China).
URL_SUFFIXES = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-eusc": "amazonaws.eu",
}


class BuildError(Exception):
    """A build input is missing or unusable; the message is the one line the user sees."""


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.create_system = 3  # unix, so the mode bits are honoured when Lambda extracts the zip
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def deterministic_zip(entries: Iterable[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, data, mode) entries, sorted by name, with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in sorted(entries):
            archive.writestr(_entry(name, mode), data, compresslevel=9)
    return buffer.getvalue()


def read_qscanner(path: Path) -> bytes:
    """The QScanner executable's bytes, gunzipped when the file starts with gzip's magic bytes."""
    if not path.is_file():
        raise BuildError(f"no QScanner binary at {path}. {WHERE_TO_GET_QSCANNER}.")
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise BuildError(f"{path} starts like gzip but does not decompress: {exc}") from exc
    if not data:
        raise BuildError(f"{path} is empty. {WHERE_TO_GET_QSCANNER}.")
    executable_kind(data, path)
    return data


def executable_kind(data: bytes, path: Path) -> str:
    """`x86_64` or `arm64` for a 64-bit Linux ELF, `simulated` for the declared stand-in; else BuildError."""
    if data[:4] == ELF_MAGIC:
        machine = int.from_bytes(data[18:20], "little") if len(data) >= 20 else -1
        if data[4] != ELF_CLASS_64 or data[5] != ELF_DATA_LITTLE or machine not in ELF_MACHINES:
            raise BuildError(
                f"{path} is an ELF file for another platform (class {data[4]}, machine {machine:#x}): "
                "Lambda needs QScanner for Linux x86_64 or arm64"
            )
        return ELF_MACHINES[machine]
    if data[:2] == b"#!" and SIMULATED_MARKER in data[:SIMULATED_HEAD_BYTES]:
        return "simulated"
    why = "a script that does not declare itself simulated" if data[:2] == b"#!" else "no ELF header"
    raise BuildError(f"{path} is not a Linux executable ({why}). {WHERE_TO_GET_QSCANNER}.")


def layer_zip(qscanner: Path) -> bytes:
    """The layer: the binary at bin/qscanner, mode 0755."""
    return deterministic_zip([(LAYER_BINARY, read_qscanner(qscanner), EXECUTABLE)])


def handler_files(source: Path) -> list[tuple[str, bytes, int]]:
    """The handler zip's files: exactly the import closure of the handler and the operator CLI."""
    return [(name, (source / name).read_bytes(), REGULAR) for name in import_closure(source)]


def import_closure(source: Path, roots: Sequence[str] = HANDLER_ROOTS) -> list[str]:
    """The files under `source` that `roots` import, transitively; read with `ast`, nothing is run.

    Test-only modules stay out of the deployed function because nothing the handler runs imports them.
    """
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = source / name
        if not path.is_file():
            raise BuildError(f"{path} is missing")
        seen.add(name)
        tree = ast.parse(path.read_bytes(), filename=str(path))
        pending += [file for module in imported_modules(tree) for file in package_files(source, module)]
    return sorted(seen)


def imported_modules(tree: ast.AST) -> Iterator[str]:
    """Every absolute module name an `import` or `from ... import` may load (a name may be a submodule)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def package_files(source: Path, module: str) -> list[str]:
    """The files of HANDLER_PACKAGE that importing `module` loads: each package's __init__.py, then the module."""
    parts = module.split(".")
    if parts[0] != HANDLER_PACKAGE:
        return []
    files = []
    for depth in range(1, len(parts) + 1):
        base = "/".join(parts[:depth])
        if (source / base / "__init__.py").is_file():
            files.append(f"{base}/__init__.py")
        elif (source / f"{base}.py").is_file():
            files.append(f"{base}.py")
    return files


def package_zip(source: Path) -> bytes:
    """The handler zip."""
    return deterministic_zip(handler_files(source))


def code_key(zip_bytes: bytes, prefix: str = "scanner-lambda") -> str:
    """An S3 key carrying the zip's content hash, so CloudFormation sees new code as a new key."""
    return f"{prefix}/{hashlib.sha256(zip_bytes).hexdigest()[:20]}.zip"


def lambda_sha256(data: bytes) -> str:
    """A zip's hash as Lambda reports it (CodeSha256: base64 of the SHA-256 digest)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def secret_json(pod: str, env: Mapping[str, str]) -> str:
    """The Qualys secret's JSON from the environment (never argv): the client pair first, else the token.

    QUALYS_CLIENT_ID + QUALYS_CLIENT_SECRET let QScanner mint and renew its own JWT; QUALYS_ACCESS_TOKEN
    is used as is until it expires. QUALYS_GATEWAY_URL, when set, reaches platforms outside the POD list.
    """
    client_id = env.get("QUALYS_CLIENT_ID", "").strip()
    client_secret = env.get("QUALYS_CLIENT_SECRET", "").strip()
    token = env.get("QUALYS_ACCESS_TOKEN", "").strip()
    gateway = env.get("QUALYS_GATEWAY_URL", "").strip()
    if not pod and not gateway:
        raise BuildError("QUALYS_POD is not set")
    secret = {"qualys_pod": pod}
    if gateway:
        secret["qualys_gateway_url"] = gateway
    if client_id or client_secret:
        if not (client_id and client_secret):
            raise BuildError("QUALYS_CLIENT_ID and QUALYS_CLIENT_SECRET must both be set")
        secret.update(qualys_client_id=client_id, qualys_client_secret=client_secret)
    elif token:
        secret["qualys_access_token"] = token
    else:
        raise BuildError(
            "no Qualys credentials: export QUALYS_CLIENT_ID and QUALYS_CLIENT_SECRET (or QUALYS_ACCESS_TOKEN)"
        )
    return json.dumps(secret)


def partition_of(arn: str) -> tuple[str, str]:
    """The partition of an ARN (`arn:<partition>:...`, e.g. sts get-caller-identity's) and its URL suffix."""
    fields = arn.split(":")
    if len(fields) < 6 or fields[0] != "arn":
        raise BuildError(f"not an ARN: {arn!r}")
    partition = fields[1]
    if partition not in URL_SUFFIXES:
        raise BuildError(f"unknown AWS partition {partition!r} in {arn}: known are {', '.join(URL_SUFFIXES)}")
    return partition, URL_SUFFIXES[partition]


def write_output(path: Path, data: bytes) -> None:
    """Write `data` to `path`, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """`layer`, `package`, `secret-json`, `sha256` or `partition`; errors are one line on stderr, exit code 2."""
    parser = argparse.ArgumentParser(prog="local/build.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    layer = commands.add_parser("layer", help="pack QScanner into a layer zip (bin/qscanner, 0755)")
    layer.add_argument("--qscanner", type=Path, required=True)
    layer.add_argument("--output", type=Path, required=True)
    package = commands.add_parser("package", help="zip the handler; print the content-hashed S3 key")
    package.add_argument("--source", type=Path, default=Path("scanner-lambda"))
    package.add_argument("--output", type=Path, required=True)
    secret = commands.add_parser("secret-json", help="print the secret's JSON; credentials come from the environment")
    secret.add_argument("--pod", required=True)
    digest = commands.add_parser("sha256", help="print a file's hash as Lambda's CodeSha256 and an S3 key")
    digest.add_argument("path", type=Path)
    digest.add_argument("--prefix", default="scanner-lambda")
    partition = commands.add_parser("partition", help="print an ARN's partition and its URL suffix")
    partition.add_argument("arn")
    args = parser.parse_args(argv)
    try:
        if args.command == "layer":
            write_output(args.output, layer_zip(args.qscanner))
            print(f"built {args.output} (QScanner at /opt/{LAYER_BINARY})", file=sys.stderr)
        elif args.command == "package":
            data = package_zip(args.source)
            write_output(args.output, data)
            print(code_key(data))
        elif args.command == "secret-json":
            sys.stdout.write(secret_json(args.pod, env))
        elif args.command == "partition":
            print(*partition_of(args.arn))
        else:
            data = args.path.read_bytes()
            print(lambda_sha256(data), code_key(data, args.prefix))
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
