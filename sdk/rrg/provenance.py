"""What a run records to be reproducible: host, package versions, device."""

from __future__ import annotations

import hashlib
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = (
    "rrg-sdk",
    "torch",
    "transformers",
    "trl",
    "peft",
    "datasets",
    "accelerate",
    "tokenizers",
    "huggingface_hub",
    "unsloth",
    "bitsandbytes",
    "radgraph",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run (missing ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def host_name() -> str:
    return f"{socket.gethostname()} ({sys.platform})"


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 2**20


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path`` (checkpoints, published and pulled adapter files)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
