"""Garbage collection of the file store, run from the manager's periodic health checks.

A checkout no job refers to (never submitted, or its job deleted) goes once it is older than
the grace period; a stored file goes once no checkout names it and it has not been uploaded,
asked about or checked out for the grace period. The grace period protects submissions in
flight: files are uploaded minutes before the checkout exists, and the checkout before its job.
Outputs of jobs that no longer exist are removed too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from manager.config import Settings
from manager.db.queries.checkouts import delete_unused_checkouts, referenced_files
from manager.db.queries.jobs import all_job_ids
from manager.db.session import Database
from manager.storage import file_store, output_store
from manager.storage.checkouts import grace_cutoff

log = logging.getLogger(__name__)

LAST_RUN_FILE = "last-gc"


@dataclass
class GarbageReport:
    checkouts: int = 0
    files: int = 0
    bytes: int = 0
    outputs: int = 0


def collect_garbage(
    db: Database, settings: Settings, now: datetime, *, force: bool = False
) -> GarbageReport | None:
    """One round, unless one ran less than ``file_store_gc_interval`` ago (and not forced)."""
    store = file_store(settings)
    marker = store.root / LAST_RUN_FILE
    now_ts = now.timestamp()
    if not force:
        try:
            last = float(marker.read_text())
        except (OSError, ValueError):
            last = 0.0
        if now_ts - last < settings.file_store_gc_interval:
            return None
    store.root.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(now_ts))

    report = GarbageReport()
    cutoff = grace_cutoff(now, settings.file_store_gc_grace)
    with db.write() as session:
        report.checkouts = delete_unused_checkouts(session, cutoff)
        keep = referenced_files(session)
        job_ids = all_job_ids(session)
    cutoff_ts = cutoff.timestamp()
    for stored in store.iter_stored():
        if (stored.sha256, stored.size) in keep:
            continue
        try:
            if stored.path.stat().st_mtime >= cutoff_ts:
                continue
        except FileNotFoundError:
            continue
        store.delete(stored)
        report.files += 1
        report.bytes += stored.size
    store.remove_stale_uploads(time.time())
    outputs = output_store(settings)
    for job_id in outputs.job_ids():
        if job_id not in job_ids and outputs.last_change(job_id) < cutoff_ts:
            outputs.delete_job(job_id)
            report.outputs += 1
    if report.checkouts or report.files or report.outputs:
        log.info(
            "file store: removed %d unused checkout(s), %d file(s) (%d bytes), "
            "outputs of %d deleted job(s)",
            report.checkouts,
            report.files,
            report.bytes,
            report.outputs,
        )
    return report
