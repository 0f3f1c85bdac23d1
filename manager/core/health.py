"""Periodic checks that keep the farm moving when workers vanish or tasks hang."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import events
from manager.core.slow_frames import flag_slow_tasks
from manager.core.staged_jobs import remove_abandoned_jobs
from manager.core.statuses import TaskStatus, WorkerStatus
from manager.core.task_states import lock_job
from manager.core.tasks import record_failure, requeue_tasks_of_worker
from manager.core.waiting import note_jobs_waiting_for_task_types
from manager.core.workers import schedule_says_asleep
from manager.db.models import Worker
from manager.db.queries import tasks as task_queries
from manager.db.queries import workers as worker_queries
from manager.storage.garbage import collect_garbage

if TYPE_CHECKING:
    from manager.core.farm import Farm

log = logging.getLogger(__name__)


def mark_silent_workers(
    session: Session, settings: Settings, now: datetime, up_for: float = float("inf")
) -> list[str]:
    """Workers silent for longer than they may be go to error; their tasks are requeued.

    Each worker may stay silent for its own ``silent_after_s`` (a /farm node: a few of the
    heartbeats it was told), else for ``worker_timeout``. Workers could not report while this
    manager was down: after a restart (``up_for`` seconds ago) each gets its full time to come
    back before it counts as silent.
    """
    silent = worker_queries.live_workers_silent(session, now, settings.worker_timeout, up_for)
    for worker in silent:
        requeued = requeue_tasks_of_worker(
            session, worker.id, now, f"worker {worker.name} went silent"
        )
        log.warning(
            "worker %s silent since %s; %d task(s) requeued",
            worker.name,
            worker.last_seen,
            requeued,
        )
        worker.status = WorkerStatus.ERROR
        worker.updated = now
        events.record(session, "worker", id=worker.id)
    return [w.id for w in silent]


def allow_silence(worker: Worker, seconds: float | None) -> None:
    """How long the worker may stay silent before ``mark_silent_workers`` calls it gone; None
    for ``worker_timeout``. Doors whose clients are told how often to talk set it."""
    if worker.silent_after_s != seconds:
        worker.silent_after_s = seconds


def fail_silent_tasks(
    session: Session, settings: Settings, now: datetime
) -> list[tuple[str, str, str]]:
    """Active tasks without progress for ``task_timeout`` fail on their worker and go elsewhere.

    Progress is what a render shows (log lines, steps), not the worker's pings, so a hung
    render is noticed while its worker is alive; the worker learns it at its next may-i-run
    and kills the render. Returns (job id, task id, reason) of each failed task.
    """
    deadline = now - timedelta(seconds=settings.task_timeout)
    tasks = task_queries.active_tasks_untouched_since(session, deadline)
    failed: list[tuple[str, str, str]] = []
    for task in tasks:
        job = lock_job(session, task.job_id)
        worker = session.get(Worker, task.worker_id) if task.worker_id else None
        # A task canceled meanwhile (its job failed on an earlier task here) has no lease left.
        if worker is None or task.status != TaskStatus.ACTIVE:
            continue
        reason = f"timed out: no progress for {settings.task_timeout:g} s on {worker.name}"
        record_failure(session, settings, job, task, worker, now, reason)
        log.warning("task %s: %s", task.name, reason)
        failed.append((task.job_id, task.id, reason))
    return failed


def apply_sleep_schedules(session: Session, local_now: datetime, now: datetime) -> None:
    """Ask workers to sleep or wake up as their schedules say (after their current task)."""
    for schedule in worker_queries.active_sleep_schedules(session):
        worker = session.get(Worker, schedule.worker_id)
        if worker is None or worker.status not in (WorkerStatus.AWAKE, WorkerStatus.ASLEEP):
            continue
        wanted = (
            WorkerStatus.ASLEEP if schedule_says_asleep(schedule, local_now) else WorkerStatus.AWAKE
        )
        if worker.status != wanted and worker.status_requested != wanted:
            worker.status_requested = wanted
            worker.lazy_status_request = True
            worker.updated = now
            events.record(session, "worker", id=worker.id)


def run_health_checks(
    farm: Farm, now: datetime | None = None, local_now: datetime | None = None
) -> None:
    """One round of the checks; the app's lifespan runs it every ``health_check_interval``."""
    now = now or datetime.now(UTC)
    local_now = local_now or datetime.now()
    with farm.db.write() as session:
        # Nobody could report while this manager was down: after a restart each worker and
        # task gets its full timeout to come back before it counts as silent.
        up_for = (now - farm.started).total_seconds()
        mark_silent_workers(session, farm.settings, now, up_for)
        timed_out = (
            fail_silent_tasks(session, farm.settings, now)
            if up_for > farm.settings.task_timeout
            else []
        )
        apply_sleep_schedules(session, local_now, now)
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
    remove_abandoned_jobs(farm.db, now)
    # A cancel or requeue that the last run left half-way (its job hands out no task).
    farm.status_steps.finish_half_way()
