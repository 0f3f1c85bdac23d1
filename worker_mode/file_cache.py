"""The worker's local copy of job files, fetched from the manager's file store.

Files are kept by content (SHA-256 and size) under ``<root>/files``: downloaded once, checked
while they stream in, and shared by every job that uses them. The cache has a size limit; when
it is exceeded the least recently used files go first (use is recorded in the file's mtime,
which is otherwise meaningless for content-addressed files). Cached files are read-only.

A checkout (a job's files by path) is laid out under ``<root>/checkouts/<checkout path>`` with
hard links into the cache (copies where links are impossible), and ``{jobs}`` in a job's
paths stands for ``<root>/checkouts``: Flamenco's convention, ``{jobs}/<checkout>/shot.blend``.
Paths from the manager are checked before anything is written: nothing lands outside the
checkout folder, whatever the manifest says.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from .http import AuthError, ManagerError, ManagerHttp, ManagerUnreachable
from .safe_paths import StorageRoot, UnsafePath, checkout_path, relative_path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024**3
"""Default size limit of the cache (files only; checkout folders are links into it)."""

CHUNK = 1024 * 1024
MANIFEST_MARKER = ".farmhand-checkout.json"
DOWNLOAD_ATTEMPTS = 4
RETRY_WAIT_S = 1.0

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CacheError(Exception):
    """A job's files could not be made available; the message says why."""


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class Fetcher(Protocol):
    """Where files come from: writes bytes ``offset..`` of a stored file to ``out``."""

    def fetch(self, sha256: str, size: int, offset: int, out: Writable) -> None: ...

    def checkout_of_job(self, job_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ManifestFile:
    path: PurePosixPath
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    checkout_path: PurePosixPath
    files: list[ManifestFile]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        try:
            checkout = relative_path(str(data["checkoutPath"]))
            files = [
                ManifestFile(relative_path(str(f["path"])), str(f["sha"]), int(f["size"]))
                for f in data["files"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheError(f"the manager sent a malformed checkout: {exc}") from exc
        for f in files:
            if not _SHA256.match(f.sha256) or f.size < 0:
                raise CacheError(f"the manager sent a malformed checkout entry for {f.path}")
        return cls(checkout, files)

    def key(self) -> str:
        listing = sorted((str(f.path), f.sha256, f.size) for f in self.files)
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


class FileCache:
    def __init__(self, root: Path, fetcher: Fetcher, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.fetcher = fetcher
        self.max_bytes = max_bytes
        self.files_dir = root / "files"
        self.checkouts_dir = root / "checkouts"
        self.tmp_dir = root / "tmp"
        self._lock = threading.Lock()
        self._pinned: set[tuple[str, int]] = set()
        self.downloaded_bytes = 0
        """Bytes fetched from the manager by this cache object (tests, logs)."""

    # Single files -----------------------------------------------------------------------------

    def path_of(self, sha256: str, size: int) -> Path:
        return self.files_dir / sha256[:2] / f"{sha256}-{size}"

    def get(self, sha256: str, size: int, on_bytes: Callable[[int], None] | None = None) -> Path:
        """The cached file, downloaded and verified first when it is not here."""
        path = self.path_of(sha256, size)
        if path.is_file():
            _mark_used(path)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f"{sha256}-{size}-{uuid.uuid4().hex}"
        try:
            self._download(sha256, size, tmp, on_bytes)
            tmp.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.downloaded_bytes += size
        return path

    def _download(
        self, sha256: str, size: int, tmp: Path, on_bytes: Callable[[int], None] | None
    ) -> None:
        last_error: Exception | None = None
        with open(tmp, "w+b") as out:
            for attempt in range(DOWNLOAD_ATTEMPTS):
                have = out.seek(0, os.SEEK_END)
                try:
                    if have < size:
                        self.fetcher.fetch(sha256, size, have, _Counting(out, on_bytes))
                except OSError as exc:  # network errors included: resume from what arrived
                    last_error = exc
                    log.warning("download of %s broke off (%s); resuming", sha256[:12], exc)
                    time.sleep(RETRY_WAIT_S * (attempt + 1))
                    continue
                out.flush()
                if out.tell() == size and _sha256_of_open(out) == sha256:
                    return
                last_error = CacheError(f"file {sha256[:12]} arrived damaged")
                out.seek(0)
                out.truncate()
        raise CacheError(f"cannot fetch file {sha256[:12]} from the manager: {last_error}")

    # Checkouts --------------------------------------------------------------------------------

    def checkout_folder(self, manifest: Manifest) -> Path:
        return self.checkouts_dir / manifest.checkout_path

    def materialise(
        self, manifest: Manifest, on_progress: Callable[[str], None] | None = None
    ) -> Path:
        """Lay the checkout out (links into the cache) and return its folder."""
        target = self.checkout_folder(manifest)
        marker = target / MANIFEST_MARKER
        key = manifest.key()
        if _marker_matches(marker, key) and all(
            (target / f.path).is_file() for f in manifest.files
        ):
            for f in manifest.files:
                _mark_used(self.path_of(f.sha256, f.size))
            return target
        wanted = {(f.sha256, f.size) for f in manifest.files}
        with self._lock:
            self._pinned |= wanted
        try:
            total = len(manifest.files)
            for index, f in enumerate(manifest.files):
                line = f"fetching job files: {index + 1}/{total} ({f.path})"
                if on_progress:
                    on_progress(line)
                source = self.get(f.sha256, f.size, _byte_progress(line, f.size, on_progress))
                _place(source, _inside(target, f.path))
            marker.write_text(json.dumps({"key": key}))
        finally:
            with self._lock:
                self._pinned -= wanted
        self.evict()
        return target

    def resolve(self, job_path: str) -> str:
        """A job's path with ``{jobs}`` replaced by this cache's checkout folder."""
        relative = checkout_path(job_path)
        if relative is None:
            return job_path
        return str(_inside(self.checkouts_dir, relative))

    def prepare_job(self, job_id: str, on_progress: Callable[[str], None] | None = None) -> Path:
        """Fetch the job's checkout manifest and lay the checkout out."""
        manifest = Manifest.from_json(self.fetcher.checkout_of_job(job_id))
        return self.materialise(manifest, on_progress)

    # Size limit -------------------------------------------------------------------------------

    def evict(self) -> list[Path]:
        """Remove least recently used files until the cache fits its limit."""
        entries = []
        total = 0
        for path in self.files_dir.glob("*/*"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            total += st.st_size
            entries.append((st.st_mtime, st.st_size, path))
        removed: list[Path] = []
        if total <= self.max_bytes:
            return removed
        entries.sort()
        for _mtime, size, path in entries:
            if total <= self.max_bytes:
                break
            sha256, _, size_text = path.name.partition("-")
            with self._lock:
                if (sha256, int(size_text or -1)) in self._pinned:
                    continue
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
        if removed:
            log.info("file cache: removed %d least recently used file(s)", len(removed))
        return removed

    def remove_checkouts_except(self, keep: Iterable[Path]) -> None:
        """Drop laid-out checkouts other than ``keep`` (links only; the cache keeps the data)."""
        keep_set = {p.resolve() for p in keep}
        if not self.checkouts_dir.is_dir():
            return
        # The walk is finished before anything is removed: deleting folders while rglob
        # still walks them makes it raise FileNotFoundError. Clean-up is never worth a task.
        try:
            folders = [marker.parent for marker in self.checkouts_dir.rglob(MANIFEST_MARKER)]
        except OSError as exc:
            log.warning("file cache: cannot list old checkouts (%s); leaving them", exc)
            return
        for folder in folders:
            try:
                if folder.resolve() not in keep_set and not _contains_any(folder, keep_set):
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError as exc:
                log.warning("file cache: cannot remove checkout %s (%s)", folder, exc)


def _byte_progress(
    line: str, size: int, on_progress: Callable[[str], None] | None, every_s: float = 2.0
) -> Callable[[int], None] | None:
    """Reports a long download's bytes now and then: it is progress, which keeps a task alive."""
    if on_progress is None:
        return None
    received = 0
    last = time.monotonic()

    def on_bytes(count: int) -> None:
        nonlocal received, last
        received += count
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            on_progress(f"{line}: {received // 2**20} of {size // 2**20} MiB")

    return on_bytes


def _contains_any(folder: Path, paths: set[Path]) -> bool:
    """Whether a checkout to keep lies inside ``folder`` (checkout paths can nest)."""
    base = folder.resolve()
    return any(path.is_relative_to(base) for path in paths)


class _Counting:
    def __init__(self, out: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self._out = out
        self._on_bytes = on_bytes

    def write(self, data: bytes) -> int:
        written = self._out.write(data)
        if self._on_bytes:
            self._on_bytes(len(data))
        return written


def _sha256_of_open(f: BinaryIO) -> str:
    f.seek(0)
    digest = hashlib.sha256()
    while block := f.read(CHUNK):
        digest.update(block)
    return digest.hexdigest()


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass  # read-only cache files on some systems: use order is then creation order


def _marker_matches(marker: Path, key: str) -> bool:
    try:
        return bool(json.loads(marker.read_text()).get("key") == key)
    except (OSError, ValueError, AttributeError):
        return False


def _inside(folder: Path, relative: PurePosixPath) -> Path:
    """``folder / relative`` with its folders made, refusing anything that leads outside."""
    try:
        return StorageRoot(folder).path(relative, make_parents=True)
    except UnsafePath as exc:
        raise CacheError(f"refusing path {relative}: {exc}") from None


def _place(source: Path, target: Path) -> None:
    if target.exists():
        try:
            if os.path.samefile(source, target):
                return
        except OSError:
            pass
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class HttpFetcher:
    """Fetches from the manager's ``/api/farmhand`` file routes, through the worker's one
    HTTP client (``http.ManagerHttp``) with the worker's credentials."""

    def __init__(self, base_url: str, auth: tuple[str, str], session: Any = None) -> None:
        self.http = ManagerHttp(base_url, auth, session)

    def get(self, path: str, **kwargs: Any) -> Any:
        """A GET of ``path`` under the manager's URL, whatever its status; CacheError when
        the manager cannot be reached."""
        try:
            return self.http.send("GET", path, ok=None, read_timeout=60, **kwargs)
        except ManagerUnreachable as exc:
            raise CacheError(f"cannot reach the manager: {exc}") from exc

    def checkout_of_job(self, job_id: str) -> dict[str, Any]:
        try:
            response = self.http.send("GET", f"/api/farmhand/jobs/{job_id}/checkout", ok=(200,))
        except ManagerUnreachable as exc:
            raise CacheError(f"cannot ask the manager for the job's files: {exc}") from exc
        except (AuthError, ManagerError) as exc:
            raise CacheError(f"the manager has no files for job {job_id} ({exc})") from exc
        return dict(response.json())

    def fetch(self, sha256: str, size: int, offset: int, out: Writable) -> None:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.http.send(
                "GET", f"/api/farmhand/files/{sha256}/{size}", ok=(200, 206), headers=headers,
                stream=True, read_timeout=60,
            )
        except ManagerUnreachable as exc:
            raise OSError(f"download interrupted: {exc}") from exc  # resumed by the cache
        except (AuthError, ManagerError) as exc:
            raise CacheError(f"the manager refused file {sha256[:12]}: {exc}") from exc
        with response:
            # Without range support the body starts at 0: skip what is here already.
            skip = offset if response.status_code == 200 else 0
            try:
                for block in response.iter_content(CHUNK):
                    if skip:
                        dropped = min(skip, len(block))
                        block, skip = block[dropped:], skip - dropped
                    if block:
                        out.write(block)
            except self.http.transfer_errors as exc:
                raise OSError(f"download interrupted: {exc}") from exc
