"""Validation of what clients name: checksums, sizes, and paths inside a folder of the
manager's. The path rules are worker mode's (``worker_mode/safe_paths.py``), so a path the
manager accepts is one every worker accepts too; here a refusal names the field.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from manager.core.bounds import INT64_MAX
from manager.core.errors import BadInput
from worker_mode.safe_paths import MAX_PATH_CHARS, StorageRoot, UnsafePath, relative_path

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str, field: str = "checksum") -> str:
    if not SHA256_RE.match(value):
        raise BadInput(
            f"{field}: {value[:80]!r} is not a SHA-256 checksum (64 lowercase hex digits)"
        )
    return value


def check_size(value: int, field: str = "filesize") -> int:
    if value < 0:
        raise BadInput(f"{field}: a file size cannot be negative ({value})")
    if value > INT64_MAX:
        raise BadInput(f"{field}: {value} is larger than any file can be")
    return value


def check_relative_path(value: str, field: str, max_chars: int = MAX_PATH_CHARS) -> PurePosixPath:
    """A safe relative path, or BadInput naming the field and the reason."""
    try:
        return relative_path(value, max_chars)
    except UnsafePath as exc:
        raise BadInput(f"{field}: {exc}") from None


def path_in(root: StorageRoot, value: str | PurePosixPath, field: str) -> Path:
    """``value`` resolved inside ``root``, or BadInput naming the field and the reason."""
    try:
        return root.path(value)
    except UnsafePath as exc:
        raise BadInput(f"{field}: {exc}") from None
