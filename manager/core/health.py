"""Periodic checks that keep the farm moving when workers vanish or tasks hang."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import events
from manager.core.statuses import LIVE_WORKER_STATUSES, TaskStatus, WorkerStatus
from manager.core.task_states import lock_job
from manager.core.tasks import record_failure, requeue_tasks_of_worker
from manager.core.workers import schedule_says_asleep
from manager.db.models import SleepSchedule, Task, Worker

log = logging.getLogger(__name__)


def mark_silent_workers(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Workers silent for longer than ``worker_timeout`` go to error; their tasks are requeued."""
    deadline = now - timedelta(seconds=settings.worker_timeout)
    silent = session.scalars(
        select(Worker).where(Worker.status.in_(LIVE_WORKER_STATUSES), Worker.last_seen < deadline)
    ).all()
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


def fail_silent_tasks(
    session: Session, settings: Settings, now: datetime
) -> list[tuple[str, str, str]]:
    """Active tasks without progress for ``task_timeout`` fail on their worker and go elsewhere.

    Progress is what a render shows (log lines, steps), not the worker's pings, so a hung
    render is noticed while its worker is alive; the worker learns it at its next may-i-run
    and kills the render. Returns (job id, task id, reason) of each failed task.
    """
    deadline = now - timedelta(seconds=settings.task_timeout)
    tasks = session.scalars(
        select(Task).where(Task.status == TaskStatus.ACTIVE, Task.last_touched < deadline)
    ).all()
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
    for schedule in session.scalars(select(SleepSchedule).where(SleepSchedule.is_active)):
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


class HealthChecker:
    """Runs the checks every ``health_check_interval`` seconds in a daemon thread."""

    def __init__(self, farm: object, interval: float) -> None:
        self._farm = farm
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-checks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from manager.core.farm import run_health_checks

        while not self._stop.wait(self._interval):
            try:
                run_health_checks(self._farm)  # type: ignore[arg-type]
            except Exception:  # a failed round must not end the checks for good
                log.exception("health check round failed; retrying next round")
