"""The farm's core: everything the protocol adapters share (database, presets, logs, events)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from manager.config import Settings
from manager.core import events
from manager.core.credentials import SecretVerifier
from manager.core.events import Event, EventBus
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
        self.writer.close()
        self.db.dispose()


def run_health_checks(
    farm: Farm, now: datetime | None = None, local_now: datetime | None = None
) -> None:
    from manager.core import health
    from manager.core.slow_frames import flag_slow_tasks
    from manager.core.waiting import note_jobs_waiting_for_task_types
    from manager.storage.garbage import collect_garbage

    now = now or utcnow()
    local_now = local_now or datetime.now()
    with farm.db.write() as session:
        # Workers could not report while this manager was down: after a restart each gets
        # its full timeout to come back before it or its task counts as silent.
        up_for = (now - farm.started).total_seconds()
        if up_for > farm.settings.worker_timeout:
            health.mark_silent_workers(session, farm.settings, now)
        timed_out = (
            health.fail_silent_tasks(session, farm.settings, now)
            if up_for > farm.settings.task_timeout
            else []
        )
        health.apply_sleep_schedules(session, local_now, now)
        note_jobs_waiting_for_task_types(session, now)
        slow = flag_slow_tasks(session, now, farm.slow_tasks_flagged)
        # The summary's throughput moves with time, not only with changes: each round has
        # the dashboards look again.
        events.record(session, "farm", reason="health-check")
    for job_id, task_id, reason in timed_out:
        farm.logs.append(job_id, task_id, f"manager: task failed, {reason}\n")
    for flagged in slow:
        farm.slow_tasks_flagged.add(flagged.task_id)
        farm.logs.append(flagged.job_id, flagged.task_id, f"manager: {flagged.message}\n")
    collect_garbage(farm.db, farm.settings, now)
