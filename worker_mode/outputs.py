"""Sends rendered frames to the manager when there is no shared storage.

Each upload names the whole file's SHA-256 and size; the manager keeps what arrived, so after
a network error the upload asks how much is there and sends only the rest. The manager moves
the file into the job's outputs only when all of it is there and the checksum matches, and
:meth:`OutputUploader.upload` returns only after the manager said so: a task is reported
complete after its frames are safe, never before.

In this mode the job's ``--render-output`` (a path on the submitter's machine) is replaced by
a folder of the worker's own: :func:`local_render_output`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .http import (
    TRANSFER_READ_TIMEOUT_S,
    AuthError,
    ManagerError,
    ManagerHttp,
    ManagerUnreachable,
)

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
ATTEMPTS = 6
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class UploadError(Exception):
    """The frame could not be delivered; the task must not be reported complete."""


class UploadRefused(UploadError):
    """The manager will not take it (the task is no longer this worker's, bad name)."""


def local_render_output(render_output: str, job_folder: Path) -> str:
    """Where this worker writes a job's frames: its own folder, same file name pattern."""
    pattern = os.path.basename(render_output.replace("\\", "/").rstrip("/")) or "######"
    return str(job_folder / pattern)


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class _Slice:
    """Bytes ``start..`` of a file, as a body with a known length."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._file.seek(start)
        self._left = size - start

    def __len__(self) -> int:
        return self._left

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(min(want, CHUNK))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


class OutputUploader:
    """Uploads frames through the worker's one HTTP client (``http.ManagerHttp``)."""

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str],
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = ManagerHttp(base_url, auth, session)
        self._sleep = sleep

    def _path(self, task_id: str, name: str) -> str:
        return f"/api/farmhand/outputs/tasks/{task_id}/{name}"

    def received(self, task_id: str, name: str, sha256: str, size: int) -> tuple[int, bool]:
        response = self._send_request(
            name, "GET", self._path(task_id, name), params={"sha256": sha256, "size": str(size)}
        )
        body = response.json()
        return int(body["received"]), bool(body["complete"])

    def upload(self, task_id: str, path: Path, name: str | None = None) -> str:
        """Deliver one file as ``name`` (default: its file name); returns its SHA-256."""
        name = name or path.name
        sha256, size = sha256_of(path)
        wait = RETRY_FIRST_S
        last_error = ""
        for _attempt in range(ATTEMPTS):
            try:
                received, complete = self.received(task_id, name, sha256, size)
                if complete:
                    return sha256
                if self._send(task_id, path, name, sha256, size, received):
                    return sha256
                continue  # a partial answer: ask again where to go on from
            except _Retry as exc:
                last_error = str(exc)
                log.warning("upload of %s: %s; retrying in %.1f s", name, exc, wait)
            self._sleep(wait)
            wait = min(wait * 2, RETRY_MAX_S)
        raise UploadError(f"could not upload {name}: {last_error}")

    def _send(
        self, task_id: str, path: Path, name: str, sha256: str, size: int, start: int
    ) -> bool:
        headers = {"X-Farmhand-SHA256": sha256, "Content-Type": "application/octet-stream"}
        if size:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        body = _Slice(path, start, size)
        try:
            response = self._send_request(
                name, "PUT", self._path(task_id, name), data=body if size else b"",
                headers=headers, read_timeout=TRANSFER_READ_TIMEOUT_S,
            )
        finally:
            body.close()
        return bool(response.json().get("complete"))

    def _send_request(self, name: str, method: str, path: str, **kwargs: Any) -> Any:
        """One request of an upload, its answer sorted: go on, retry, or give up."""
        try:
            return self.http.send(method, path, ok=(200, 201, 202, 204), **kwargs)
        except ManagerUnreachable as exc:
            raise _Retry(f"the manager is unreachable ({exc})") from exc
        except AuthError as exc:
            raise UploadRefused(f"the manager refused {name} ({exc})") from exc
        except ManagerError as exc:
            if exc.status == 422:
                raise _Retry(f"the manager got a damaged copy ({exc.message})") from exc
            if exc.status >= 500 or (exc.status == 409 and "arrived" in exc.message):
                raise _Retry(f"{exc.status}: {exc.message}") from exc
            raise UploadRefused(
                f"the manager refused {name} ({exc.status}: {exc.message})"
            ) from exc


class _Retry(Exception):
    pass
