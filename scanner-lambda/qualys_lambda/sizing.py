"""Fit before fetch: whether a function's code can be unpacked in the scanner's /tmp and memory.

A function that cannot fit is not handed to QScanner: it would fail deep inside the scan, every time,
with no hint of the setting to raise. The rule (docs/DESIGN.md, "Fit before fetch"):

- disk: the code as fetched (compressed) + the code unpacked + a margin must fit in /tmp's free space;
  a zip unpacks to at most Lambda's unzipped limit, an image to IMAGE_EXPANSION times its size;
- memory: MEMORY_BASE_MB + MEMORY_SHARE of the unpacked size must fit in the scanner's memory.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qualys_lambda.aws import Target, error_code

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
# AWS Lambda Developer Guide, "Lambda quotas" (its "MB" is 1,024 KB): a .zip deployment package is at
# most 250 MB unzipped, layers included; a container image at most 10 GB uncompressed, layers
# included; /tmp (ephemeral storage) and memory at most 10,240 MB.
ZIP_UNZIPPED_LIMIT = 250 * MIB
IMAGE_UNCOMPRESSED_LIMIT = 10 * 1024 * MIB
EPHEMERAL_STORAGE_MAX_MB = 10_240
MEMORY_MAX_MB = 10_240
# Ours, not a Qualys figure (Qualys documents no disk or memory need for QScanner): gzip-compressed
# image layers typically unpack to about twice their size; the margin covers QScanner's own output
# files; memory holds the unpacked file index and package manifests.
IMAGE_EXPANSION = 2
DISK_MARGIN = 128 * MIB
MEMORY_BASE_MB = 256
MEMORY_SHARE = 0.1
TOO_LARGE = "TOO_LARGE"
# <registry>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag][@digest] (Lambda takes images from ECR only).
ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[\w.-]{1,128}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class Need:
    """What scanning an artifact of `compressed` bytes takes."""

    compressed: int
    unpacked: int

    @property
    def disk(self) -> int:
        """Bytes of /tmp: the fetched code, the unpacked code and a margin."""
        return self.compressed + self.unpacked + DISK_MARGIN

    @property
    def memory_mb(self) -> int:
        """MB of memory."""
        return MEMORY_BASE_MB + math.ceil(self.unpacked * MEMORY_SHARE / MIB)


@dataclass(frozen=True)
class Room:
    """What the scanner has: free bytes of /tmp, its configured /tmp size and its memory (MB)."""

    disk_free: int
    storage_mb: int | None = None
    memory_mb: int | None = None


def need_of(package_type: str, compressed: int) -> Need:
    """The need of a Zip or Image artifact whose code is `compressed` bytes."""
    if package_type == "Image":
        return Need(compressed, min(IMAGE_UNCOMPRESSED_LIMIT, IMAGE_EXPANSION * compressed))
    # Lambda's own limit bounds a zip's unzipped size: never an underestimate.
    return Need(compressed, ZIP_UNZIPPED_LIMIT)


def room_in(work_root: str, storage_mb: int | None, memory_mb: int | None) -> Room:
    """The room under `work_root`: its free space, never more than the configured /tmp size."""
    existing = Path(work_root)
    while not existing.exists():  # the work root itself is made by the first scan
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if storage_mb:
        free = min(free, storage_mb * MIB)
    return Room(free, storage_mb, memory_mb)


def _mb(size: int) -> int:
    return math.ceil(size / MIB)


def is_too_large(error: str) -> bool:
    """Whether a scan's error is a TOO_LARGE verdict."""
    return error.startswith(TOO_LARGE + ":")


def too_large(need: Need, room: Room) -> str:
    """Why `need` does not fit in `room`, naming the bytes needed and the setting to raise; "" when it fits."""
    reasons = []
    if need.disk > room.disk_free:
        used = room.storage_mb * MIB - room.disk_free if room.storage_mb else 0
        wanted_mb = _mb(need.disk + used)
        detail = (
            f"needs {need.disk} bytes of /tmp ({need.compressed} fetched + {need.unpacked} unpacked"
            f" + {DISK_MARGIN} margin), {room.disk_free} free"
        )
        if wanted_mb > EPHEMERAL_STORAGE_MAX_MB:
            reasons.append(f"{detail}: more than Lambda's {EPHEMERAL_STORAGE_MAX_MB} MB maximum")
        else:
            reasons.append(f"{detail}: raise EphemeralStorageSize (ephemeral_storage_size) to {wanted_mb} MB")
    if room.memory_mb and need.memory_mb > room.memory_mb:
        reasons.append(
            f"needs {need.memory_mb * MIB} bytes of memory, has {room.memory_mb * MIB}: raise ScannerMemorySize"
            f" (scanner_memory_size) to {min(need.memory_mb, MEMORY_MAX_MB)} MB"
        )
    return f"{TOO_LARGE}: " + "; ".join(reasons) if reasons else ""


def artifact_size(target: Target, configuration: dict[str, Any], code: dict[str, Any]) -> int | None:
    """Bytes of the function's code as QScanner fetches it; None when unknown (the scan then goes ahead)."""
    if configuration.get("PackageType") == "Image":
        return image_size(target, str(code.get("ResolvedImageUri") or ""), str(code.get("ImageUri") or ""))
    layers = configuration.get("Layers") or []
    return int(configuration.get("CodeSize") or 0) + sum(int(layer.get("CodeSize") or 0) for layer in layers)


def image_size(target: Target, resolved_uri: str, image_uri: str) -> int | None:
    """ECR DescribeImages' imageSizeInBytes, by digest first (what Lambda runs), else by the URI's tag."""
    for uri in dict.fromkeys((resolved_uri, image_uri)):
        match = ECR_IMAGE.match(uri)
        if not match or not (match["digest"] or match["tag"]):
            continue
        image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"]}
        try:
            details = target.client("ecr").describe_images(
                registryId=match["registry"], repositoryName=match["repository"], imageIds=[image_id]
            )["imageDetails"]
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            logger.info("image size unknown", extra={"image_uri": uri, "error": code})
            continue
        if details and details[0].get("imageSizeInBytes"):
            return int(details[0]["imageSizeInBytes"])
    return None
