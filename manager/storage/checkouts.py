"""Checkouts: a job's files by path, recorded in the database over the file store.

The manager makes no folder of links (Flamenco's shaman does): without shared storage nobody
would read it. A checkout is rows; workers fetch its manifest and the files' contents and
lay them out themselves (``worker_mode/file_cache.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from manager.core.errors import BadInput, Conflict, FarmError, NotFound
from manager.db.models import Job
from manager.db.queries import checkouts as checkout_queries
from manager.db.storage_models import Checkout, CheckoutFile
from manager.storage.file_store import FileStore
from manager.storage.paths import check_relative_path, check_sha256, check_size

MAX_CHECKOUT_PATH_CHARS = 255
MAX_FILES_PER_CHECKOUT = 200_000
#: Attempts at a unique checkout folder name before giving up with 409.
UNIQUE_NAME_ATTEMPTS = 10


class FilesMissing(FarmError):
    """Checkout files that are not in the store (the spec's 424)."""

    status = 424


@dataclass(frozen=True)
class FileSpec:
    sha256: str
    size: int
    path: str


def parse_file_specs(items: list[Any], field: str, with_paths: bool) -> list[FileSpec]:
    """Validate the ``files`` of a requirements or checkout request."""
    if len(items) > MAX_FILES_PER_CHECKOUT:
        raise BadInput(f"{field}: more than {MAX_FILES_PER_CHECKOUT} files")
    specs = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        sha = check_sha256(item.sha, f"{where}.sha")
        size = check_size(item.size, f"{where}.size")
        path = item.path or ""
        if with_paths or path:
            path = str(check_relative_path(path, f"{where}.path"))
        if with_paths:
            if path in seen:
                raise BadInput(f"{where}.path: {path!r} is listed twice")
            seen.add(path)
        specs.append(FileSpec(sha, size, path))
    if with_paths:
        _refuse_file_folder_clashes(specs, field)
    return specs


def _refuse_file_folder_clashes(specs: list[FileSpec], field: str) -> None:
    """``a`` and ``a/b`` cannot both be files."""
    files = {s.path for s in specs}
    for spec in specs:
        parts = spec.path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise BadInput(f"{field}: {folder!r} is a file and also a folder of {spec.path!r}")


def unknown_files(store: FileStore, specs: list[FileSpec]) -> list[tuple[FileSpec, str]]:
    """The requirements answer: files not stored, each with its status; stored ones touched."""
    out = []
    stored = []
    for spec in specs:
        status = store.status(spec.sha256, spec.size)
        if status == "stored":
            stored.append((spec.sha256, spec.size))
        else:
            out.append((spec, status.value))
    store.touch(stored)
    return out


def create_checkout(
    session: Session, store: FileStore, wanted_path: str, specs: list[FileSpec], now: datetime
) -> str:
    """Record a checkout under a unique path (the wanted one, or it with a suffix)."""
    wanted = str(check_relative_path(wanted_path, "checkoutPath", MAX_CHECKOUT_PATH_CHARS))
    missing = [s for s in specs if not store.has(s.sha256, s.size)]
    if missing:
        names = ", ".join(repr(s.path) for s in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FilesMissing(
            f"files: {len(missing)} file(s) are not in the store ({names}{more}); "
            "upload them first (see checkout/requirements)"
        )
    path = _unique_path(session, wanted)
    checkout_queries.add_checkout(session, path, now, ((s.path, s.sha256, s.size) for s in specs))
    store.touch((s.sha256, s.size) for s in specs)
    return path


def _unique_path(session: Session, wanted: str) -> str:
    candidate = wanted
    for _ in range(UNIQUE_NAME_ATTEMPTS):
        if session.get(Checkout, candidate) is None:
            return candidate
        candidate = f"{wanted}-{secrets.token_hex(3)}"
    raise Conflict(f"checkoutPath: {wanted!r} exists, and so did every variant tried")


def get_checkout(session: Session, path: str) -> tuple[Checkout, list[CheckoutFile]]:
    checkout = session.get(Checkout, path)
    if checkout is None:
        raise NotFound("checkout", path)
    return checkout, checkout_queries.files_of_checkout(session, path)


def checkout_of_job(session: Session, job_id: str) -> tuple[Checkout, list[CheckoutFile]]:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("job", job_id)
    if not job.shaman_checkout_id:
        raise NotFound("checkout of job", job_id)
    return get_checkout(session, job.shaman_checkout_id)


def manifest(checkout: Checkout, files: list[CheckoutFile]) -> dict[str, Any]:
    return {
        "checkoutPath": checkout.path,
        "created": checkout.created.isoformat(),
        "total_size": checkout.total_size,
        "files": [{"path": f.path, "sha": f.sha256, "size": f.size} for f in files],
    }


def grace_cutoff(now: datetime, grace_seconds: float) -> datetime:
    return now - timedelta(seconds=grace_seconds)
