"""The content-addressed file store: each file once, named by its SHA-256 and size.

Layout under the root: ``stored/ab/cdef…/<size>.blob`` (as Flamenco's shaman) and
``uploading/`` for uploads in progress. An upload is written to a temporary file of its own,
hashed while it streams in, and moved into ``stored/`` only when its size and checksum match;
anything else deletes it, so a half-received or wrong file is never visible.

The store keeps no state in memory: "someone is uploading this" is a fresh temporary file, so
several manager processes on one data dir agree.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

#: An upload whose temporary file did not grow for this long is considered abandoned.
UPLOAD_STALE_SECONDS = 60.0


class FileStatus(StrEnum):
    UNKNOWN = "unknown"
    UPLOADING = "uploading"
    STORED = "stored"


class UploadRejected(Exception):
    """The body does not match the announced size or checksum (the spec's 417)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.stored_dir = root / "stored"
        self.uploading_dir = root / "uploading"

    def path(self, sha256: str, size: int) -> Path:
        """Where a file lives; the caller has validated ``sha256`` (hex only) and ``size``."""
        return self.stored_dir / sha256[:2] / sha256[2:] / f"{size}.blob"

    def _upload_prefix(self, sha256: str, size: int) -> str:
        return f"{sha256}-{size}-"

    def has(self, sha256: str, size: int) -> bool:
        return self.path(sha256, size).is_file()

    def status(self, sha256: str, size: int, now: float | None = None) -> FileStatus:
        if self.has(sha256, size):
            return FileStatus.STORED
        if self._upload_in_progress(sha256, size, now):
            return FileStatus.UPLOADING
        return FileStatus.UNKNOWN

    def _upload_in_progress(self, sha256: str, size: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        prefix = self._upload_prefix(sha256, size)
        try:
            entries = list(os.scandir(self.uploading_dir))
        except FileNotFoundError:
            return False
        for entry in entries:
            if entry.name.startswith(prefix):
                try:
                    if now - entry.stat().st_mtime < UPLOAD_STALE_SECONDS:
                        return True
                except FileNotFoundError:
                    continue
        return False

    def touch(self, files: Iterable[tuple[str, int]]) -> None:
        """Mark files as recently wanted, so garbage collection gives them a full grace period."""
        for sha256, size in files:
            try:
                os.utime(self.path(sha256, size))
            except FileNotFoundError:
                pass

    async def receive(self, sha256: str, size: int, chunks: AsyncIterator[bytes]) -> bool:
        """Store a streamed upload. True when stored now, False when it was already there.

        Raises UploadRejected for a body of another size or checksum; any other exception
        (the client went away) also leaves nothing behind.
        """
        self.uploading_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.uploading_dir / f"{self._upload_prefix(sha256, size)}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        received = 0
        try:
            with open(tmp, "xb") as out:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > size:
                        raise UploadRejected(f"the body is larger than the announced {size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            if received != size:
                raise UploadRejected(
                    f"received {received} bytes of the announced {size}; the upload is incomplete"
                )
            if digest.hexdigest() != sha256:
                raise UploadRejected(
                    f"the body's SHA-256 is {digest.hexdigest()}, not the announced {sha256}"
                )
            return self._move_in(tmp, sha256, size)
        finally:
            tmp.unlink(missing_ok=True)

    def _move_in(self, tmp: Path, sha256: str, size: int) -> bool:
        final = self.path(sha256, size)
        if final.is_file():
            return False  # someone else finished the same file first
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        return True

    def iter_stored(self) -> Iterator[StoredFile]:
        """Every stored file; entries that do not look like the store's own are skipped."""
        if not self.stored_dir.is_dir():
            return
        for first in os.scandir(self.stored_dir):
            if not first.is_dir(follow_symlinks=False):
                continue
            for rest in os.scandir(first.path):
                if not rest.is_dir(follow_symlinks=False):
                    continue
                sha256 = first.name + rest.name
                for blob in os.scandir(rest.path):
                    name = blob.name
                    if name.endswith(".blob") and name[:-5].isdigit():
                        yield StoredFile(sha256, int(name[:-5]), Path(blob.path))

    def delete(self, stored: StoredFile) -> None:
        stored.path.unlink(missing_ok=True)
        for folder in (stored.path.parent, stored.path.parent.parent):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break

    def remove_stale_uploads(self, now: float) -> int:
        """Temporary files of uploads that died without cleaning up (a killed manager)."""
        removed = 0
        try:
            entries = list(os.scandir(self.uploading_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if now - entry.stat().st_mtime > UPLOAD_STALE_SECONDS * 10:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
