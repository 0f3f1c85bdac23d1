"""Rendered outputs per job: frames that workers upload, which users list and download.

Under the root: ``<job id>/files/<name>`` for complete files and ``<job id>/partial/`` for
uploads in progress. An upload names the whole file's SHA-256 and size up front, so it can
arrive in pieces (``Content-Range``) over several requests: after a network error the worker
asks how much arrived and sends the rest. The file becomes visible only once all of it is
there, its checksum matches and, for an image, it is a whole one (``frame_check``); sending
the same file again changes nothing. A file that became visible is told to the farm's live
views (the job's outputs changed).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from manager.core.errors import BadInput, Conflict
from manager.core.events import EventBus
from manager.storage.frame_check import check_uploaded_frame
from manager.storage.paths import check_relative_path, path_in
from worker_mode.safe_paths import StorageRoot

CHUNK = 1024 * 1024


class ChecksumMismatch(BadInput):
    status = 422


@dataclass(frozen=True)
class OutputFile:
    name: str
    size: int
    modified: datetime

    def to_json(self, job_id: str) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "modified": self.modified.isoformat(),
            "url": f"/api/farmhand/jobs/{job_id}/outputs/{self.name}",
        }


@dataclass(frozen=True)
class UploadState:
    received: int
    complete: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class OutputStore:
    def __init__(self, root: Path, events: EventBus | None = None) -> None:
        self.root = root
        self._folder = StorageRoot(root)
        self._events = events

    def job_dir(self, job_id: str) -> Path:
        return self._folder.path(str(uuid.UUID(job_id)))

    def _final(self, job_id: str, name: str) -> Path:
        relative = PurePosixPath(str(uuid.UUID(job_id)), "files", check_relative_path(name, "name"))
        return path_in(self._folder, relative, "name")

    def _check_room(self, job_id: str, name: str) -> None:
        """Refuse a name that a stored file or folder stands in the way of, before any byte
        of it is written: ``a.png/b.png`` after ``a.png``, or ``shots`` after ``shots/a.png``."""
        files = self.job_dir(job_id) / "files"
        final = self._final(job_id, name)
        for folder in final.relative_to(files).parents:
            if folder.parts and (files / folder).is_file():
                raise Conflict(f"name: {folder.as_posix()!r} is a file, so {name!r} cannot be "
                               "stored inside it")
        if final.is_dir():
            raise Conflict(f"name: {name!r} is a folder of outputs, so no file can take its name")

    def _partial(self, job_id: str, sha256: str, size: int) -> Path:
        return self.job_dir(job_id) / "partial" / f"{sha256}-{size}"

    def state(self, job_id: str, name: str, sha256: str, size: int) -> UploadState:
        final = self._final(job_id, name)
        if final.is_file() and final.stat().st_size == size and file_sha256(final) == sha256:
            return UploadState(size, True)
        partial = self._partial(job_id, sha256, size)
        return UploadState(partial.stat().st_size if partial.is_file() else 0, False)

    async def receive(
        self,
        job_id: str,
        name: str,
        sha256: str,
        size: int,
        start: int,
        chunks: AsyncIterator[bytes],
    ) -> UploadState:
        """Append bytes from ``start`` on; the file is moved in when it is whole and verified."""
        final = self._final(job_id, name)
        done = self.state(job_id, name, sha256, size)
        if done.complete:
            return done
        self._check_room(job_id, name)
        partial = self._partial(job_id, sha256, size)
        partial.parent.mkdir(parents=True, exist_ok=True)
        have = partial.stat().st_size if partial.is_file() else 0
        if start > have:
            raise Conflict(f"Content-Range: starts at {start}, but only {have} bytes arrived")
        received = start
        with open(partial, "r+b" if partial.exists() else "wb") as out:
            out.seek(start)
            out.truncate()
            async for chunk in chunks:
                received += len(chunk)
                if received > size:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise BadInput(f"the body goes beyond the file's announced {size} bytes")
                out.write(chunk)
        if received < size:
            return UploadState(received, False)
        actual = file_sha256(partial)
        if actual != sha256:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"X-Farmhand-SHA256: the file's SHA-256 is {actual}, not {sha256}; send it again"
            )
        try:
            await asyncio.to_thread(check_uploaded_frame, partial, name)
        except BadInput:
            partial.unlink(missing_ok=True)
            raise
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, final)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            # Another upload took the place meanwhile (the check above ran before the body).
            partial.unlink(missing_ok=True)
            self._check_room(job_id, name)
            raise
        if self._events is not None:
            self._events.publish("job", id=job_id, reason="output")
        return UploadState(size, True)

    def list_files(self, job_id: str) -> list[OutputFile]:
        base = self.job_dir(job_id) / "files"
        out = []
        for folder, _dirs, names in os.walk(base):
            for name in names:
                path = Path(folder) / name
                st = path.stat()
                out.append(
                    OutputFile(
                        path.relative_to(base).as_posix(),
                        st.st_size,
                        datetime.fromtimestamp(st.st_mtime, UTC),
                    )
                )
        return sorted(out, key=lambda f: f.name)

    def file(self, job_id: str, name: str) -> Path | None:
        path = self._final(job_id, name)
        return path if path.is_file() and not path.is_symlink() else None

    def zip_stream(self, job_id: str) -> Iterator[bytes]:
        """All of a job's outputs as one ZIP, produced while it is sent (nothing on disk)."""
        buffer = _ChunkBuffer()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for item in self.list_files(job_id):
                info = zipfile.ZipInfo(item.name, item.modified.timetuple()[:6])
                info.file_size = item.size
                with (
                    open(self.job_dir(job_id) / "files" / item.name, "rb") as src,
                    archive.open(info, "w") as dst,
                ):
                    while block := src.read(CHUNK):
                        dst.write(block)
                        yield buffer.take()
                yield buffer.take()
        yield buffer.take()

    def delete_job(self, job_id: str) -> None:
        try:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        except ValueError:  # not a job id: nothing of ours
            pass

    def last_change(self, job_id: str) -> float:
        try:
            return self.job_dir(job_id).stat().st_mtime
        except (OSError, ValueError):
            return 0.0

    def job_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [entry.name for entry in os.scandir(self.root) if entry.is_dir()]


class _ChunkBuffer:
    """A write-only, unseekable file for ``zipfile`` whose bytes are taken as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
