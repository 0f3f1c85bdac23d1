"""The farm's core: everything the protocol adapters share (database, presets, logs, events)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from manager.config import Settings
from manager.core.credentials import SecretVerifier
from manager.core.events import EventBus
from manager.core.job_types import JobTypeRegistry
from manager.core.last_rendered import LastRenderedStore
from manager.core.task_logs import TaskLogStore
from manager.db.batch_writer import BatchWriter
from manager.db.migrate import upgrade_to_latest
from manager.db.session import Database

log = logging.getLogger(__name__)

SHIPPED_JOB_TYPES = Path(__file__).resolve().parent.parent / "job_types"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Farm:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.database_url)
        upgrade_to_latest(self.db.write_engine)
        folders = [SHIPPED_JOB_TYPES]
        if settings.job_types is not None:
            folders.append(settings.job_types)
        self.job_types = JobTypeRegistry(folders)
        self.logs = TaskLogStore(settings.logs_dir)
        self.last_rendered = LastRenderedStore(settings.data_dir / "last-rendered")
        self.events = EventBus()
        self.secrets = SecretVerifier()
        self.writer = BatchWriter(self.db)

    def close(self) -> None:
        self.writer.close()
        self.db.dispose()


def run_health_checks(
    farm: Farm, now: datetime | None = None, local_now: datetime | None = None
) -> None:
    from manager.core import health
    from manager.core.waiting import note_jobs_waiting_for_task_types
    from manager.storage.garbage import collect_garbage

    now = now or utcnow()
    local_now = local_now or datetime.now()
    with farm.db.write() as session:
        health.mark_silent_workers(session, farm.settings, now)
        health.fail_silent_tasks(session, farm.settings, now)
        health.apply_sleep_schedules(session, local_now, now)
        waiting = note_jobs_waiting_for_task_types(session, now)
    collect_garbage(farm.db, farm.settings, now)
    for job_id in waiting:
        farm.events.publish("job", id=job_id)
    farm.events.publish("farm", reason="health-check")
