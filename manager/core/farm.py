"""The farm's core: everything the protocol adapters share (database, presets, logs, events)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from manager.config import Settings
from manager.core.credentials import SecretVerifier
from manager.core.events import Event, EventBus
from manager.core.frame_collections import FrameCollections
from manager.core.job_status_steps import JobStatusSteps
from manager.core.job_types import JobTypeRegistry
from manager.core.last_rendered import LastRenderedStore
from manager.core.task_logs import TaskLogStore
from manager.db.batch_writer import BatchWriter
from manager.db.migrate import upgrade_to_latest
from manager.db.session import Database
from manager.storage import output_store

log = logging.getLogger(__name__)

SHIPPED_JOB_TYPES = Path(__file__).resolve().parent.parent / "job_types"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Farm:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.events = EventBus()
        self.db = Database(settings.database_url, self.events)
        upgrade_to_latest(self.db.write_engine)
        folders = [SHIPPED_JOB_TYPES]
        if settings.job_types is not None:
            folders.append(settings.job_types)
        self.job_types = JobTypeRegistry(folders)
        self.logs = TaskLogStore(settings.logs_dir, self.events)
        self.last_rendered = LastRenderedStore(settings.data_dir / "last-rendered", self.events)
        self.outputs = output_store(settings, self.events)
        self.secrets = SecretVerifier()
        self.writer = BatchWriter(self.db)
        self.started = utcnow()
        """When this manager started: silence while it was down is nobody's fault."""
        self.slow_tasks_flagged: set[str] = set()
        """Tasks whose slowness the task log already tells (once per task and run)."""
        self.frame_collections = FrameCollections()
        """Frames that workers left on shared storage, being kept with their job's outputs."""
        self.status_steps = JobStatusSteps(self.db, utcnow)
        """Moves the tasks of big jobs whose status changed, in steps, whichever door asked."""
        self.events.on("job", self.status_steps.on_job_event)
        self.events.on("job", self._forget_files_of_deleted_job)
        self.events.on("worker", self._forget_secret_of_deleted_worker)

    def _forget_files_of_deleted_job(self, event: Event) -> None:
        """One clean-up for a deleted job, whichever protocol deleted it."""
        if not event.get("was_deleted"):
            return
        job_id = str(event["id"])
        self.logs.delete_job(job_id)
        self.last_rendered.delete_job(job_id)
        self.outputs.delete_job(job_id)

    def _forget_secret_of_deleted_worker(self, event: Event) -> None:
        if event.get("was_deleted"):
            self.secrets.forget(str(event["id"]))

    def close(self) -> None:
        self.status_steps.close()
        self.writer.close()
        self.db.dispose()
