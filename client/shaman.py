"""The manager's file store over HTTP (the v3 spec's ``shaman`` operations). No bpy.

Used by the packer; every call goes through :class:`ManagerAPI`, so errors arrive as its
:class:`ManagerError` with a message fit for a person.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import ManagerAPI, ManagerError

HASH_CHUNK = 1024 * 1024
UPLOAD_CHUNK = 256 * 1024
#: Uploads may take long; the manager only answers once the whole body is in and verified.
UPLOAD_TIMEOUT = (5.0, 600.0)

#: ``on_bytes(n)``: n more bytes of the current file went out.
BytesCallback = Callable[[int], None]


@dataclass(frozen=True)
class FileEntry:
    """One file of a checkout: where it is read from here, and where it goes in the checkout."""

    source: Path
    path: str
    sha256: str
    size: int

    def spec(self) -> dict[str, Any]:
        return {"sha": self.sha256, "size": self.size, "path": self.path}


class UploadOutcome:
    STORED = "stored"
    KNOWN = "known"
    DEFERRED = "deferred"


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(HASH_CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def missing_files(api: ManagerAPI, entries: Iterable[FileEntry]) -> dict[str, str]:
    """``{checkout path: status}`` of the files the manager does not have yet."""
    answer = api.post_json(
        "/api/v3/shaman/checkout/requirements", {"files": [e.spec() for e in entries]}
    )
    return {str(f["path"]): str(f["status"]) for f in (answer or {}).get("files", [])}


class _ProgressReader:
    """A file for ``requests`` to send, with a length (so Content-Length is set) and progress."""

    def __init__(self, path: Path, size: int, on_bytes: BytesCallback) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._size = size
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(UPLOAD_CHUNK if n is None or n < 0 else n)
        if data:
            self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._file.close()


def upload(api: ManagerAPI, entry: FileEntry, on_bytes: BytesCallback, *, can_defer: bool) -> str:
    """Send one file; returns an :class:`UploadOutcome` value."""
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Shaman-Original-Filename": _ascii_name(entry.path),
    }
    if can_defer:
        headers["X-Shaman-Can-Defer-Upload"] = "true"
    body = _ProgressReader(entry.source, entry.size, on_bytes)
    try:
        response = api.request(
            "POST",
            f"/api/v3/shaman/files/{entry.sha256}/{entry.size}",
            data=body,
            headers=headers,
            timeout=UPLOAD_TIMEOUT,
        )
    except ManagerError as exc:
        if exc.status == 425:  # someone else is sending the same file right now
            return UploadOutcome.DEFERRED
        if exc.status == 417:
            raise ManagerError(
                f"{entry.source} changed while it was being sent; submit again ({exc})", 417
            ) from exc
        raise
    finally:
        body.close()
    if response.status_code == 208:
        return UploadOutcome.KNOWN
    return UploadOutcome.STORED


def create_checkout(api: ManagerAPI, checkout_path: str, entries: Iterable[FileEntry]) -> str:
    """Record the checkout; returns the path the manager chose (it may add a suffix)."""
    answer = api.post_json(
        "/api/v3/shaman/checkout/create",
        {"checkoutPath": checkout_path, "files": [e.spec() for e in entries]},
    )
    return str(answer["checkoutPath"])


def _ascii_name(path: str) -> str:
    name = os.path.basename(path)
    return name.encode("ascii", "replace").decode("ascii")
