"""The Blender that saved a submitted job's file, read from the file's header on the
manager's disk when the submitter did not say it (the Flamenco add-on does not)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from client.blend_header import NotABlendFile, saved_with
from manager.db.storage_models import CheckoutFile
from manager.storage.file_store import FileStore
from worker_mode.safe_paths import JOBS_VARIABLE, UnsafePath, checkout_path

log = logging.getLogger(__name__)


def saved_with_version(
    session: Session, store: FileStore, blendfile: object, checkout_id: str | None
) -> int | None:
    """major * 100 + minor of the Blender that saved ``blendfile`` (a job's ``blendfile``
    setting), or None when the manager cannot read it: a file on shared storage this machine
    does not see, or no .blend at all. Submission goes on either way."""
    if not isinstance(blendfile, str) or not blendfile:
        return None
    path = _local_path(session, store, blendfile, checkout_id)
    if path is None:
        return None
    try:
        return saved_with(path)
    except (OSError, NotABlendFile) as exc:
        log.info("no Blender version from %s: %s", blendfile, exc)
        return None


def _local_path(
    session: Session, store: FileStore, blendfile: str, checkout_id: str | None
) -> Path | None:
    if blendfile.startswith(JOBS_VARIABLE):
        if not checkout_id:
            return None
        try:
            relative = checkout_path(blendfile)
        except UnsafePath:
            return None
        prefix = checkout_id.strip("/") + "/"
        if relative is None or not str(relative).startswith(prefix):
            return None
        stored = session.get(CheckoutFile, (checkout_id, str(relative)[len(prefix):]))
        return store.path(stored.sha256, stored.size) if stored is not None else None
    path = Path(blendfile)
    return path if path.is_absolute() and path.is_file() else None
