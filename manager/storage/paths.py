"""Validation of what clients name: checksums, sizes and paths inside a checkout or an output
folder. A path that passes is relative, uses ``/``, and cannot leave the folder it names a file
in on any platform (no ``..``, no root, no drive letter, no backslash, no device names)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from manager.core.errors import BadInput

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_PATH_CHARS = 1000
MAX_COMPONENT_CHARS = 255
#: Names Windows reserves in every folder; a worker on Windows could not create them.
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in range(10)
}
_FORBIDDEN_CHARS = re.compile(r'[\x00-\x1f\\:*?"<>|]')


def check_sha256(value: str, field: str = "checksum") -> str:
    if not SHA256_RE.match(value):
        raise BadInput(
            f"{field}: {value[:80]!r} is not a SHA-256 checksum (64 lowercase hex digits)"
        )
    return value


def check_size(value: int, field: str = "filesize") -> int:
    if value < 0:
        raise BadInput(f"{field}: a file size cannot be negative ({value})")
    return value


def check_relative_path(value: str, field: str, max_chars: int = MAX_PATH_CHARS) -> PurePosixPath:
    """A safe relative path, or BadInput naming the field and the reason."""
    if not value:
        raise BadInput(f"{field}: the path is empty")
    if len(value) > max_chars:
        raise BadInput(f"{field}: the path is longer than {max_chars} characters")
    shown = value[:200]
    if "\\" in value:
        raise BadInput(f"{field}: {shown!r} contains a backslash; separate folders with '/'")
    if value.startswith("/"):
        raise BadInput(f"{field}: {shown!r} is absolute; give a path relative to the checkout")
    if re.match(r"^[A-Za-z]:", value):
        raise BadInput(f"{field}: {shown!r} starts with a drive letter")
    parts = value.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise BadInput(f"{field}: {shown!r} has an empty, '.' or '..' component")
        if len(part) > MAX_COMPONENT_CHARS:
            raise BadInput(f"{field}: a component of {shown!r} is longer than 255 characters")
        if _FORBIDDEN_CHARS.search(part):
            raise BadInput(f"{field}: {shown!r} contains a character not allowed in file names")
        if part.endswith((" ", ".")):
            raise BadInput(f"{field}: {shown!r} has a component ending in a space or a dot")
        if part.split(".")[0].lower() in _WINDOWS_DEVICES:
            raise BadInput(f"{field}: {shown!r} uses a name Windows reserves ({part!r})")
    return PurePosixPath(value)
