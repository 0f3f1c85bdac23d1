"""Status changes of big jobs, moved in steps, so that a worker request never waits behind
the cancel, requeue, pause or resume of a million tasks, the cancel of the rest of a job
whose task failed for good, or the deletion of such a job (its tasks go a step at a time,
the job last).

The request's own transaction checks the change and, for a job with more than
``ONE_GO_TASKS`` tasks to move, only sets the job's new status (cancel-requested, requeueing
and pause-requested: the scheduler hands out no task of a job in any of them; queued for a
resume, whose tasks are handed out as they come) and cancels its active tasks on a cancel,
whose workers learn it from may-i-run. The rest of the tasks then move here, a short write
transaction at a time with pauses between (``write_steps``), in a thread of their own; the
last step settles the job's status (canceled; queued or active; paused once no task is
active). What to move follows from the job's status and counters alone, so a job left
half-way (the manager stopped) is finished by the health checks, and a change that comes in
while another is under way takes over its steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from manager.core import events
from manager.core.events import Event
from manager.core.statuses import JobStatus, TaskStatus
from manager.core.task_states import follow_tasks
from manager.core.write_steps import IN_STEPS, WriteSteps
from manager.db.models import Job
from manager.db.queries import jobs as job_queries
from manager.db.queries import tasks as task_queries
from manager.db.queries.job_counters import change_job_counts
from manager.db.session import Database

log = logging.getLogger(__name__)

#: What a cancel moves to canceled; active tasks go in the request itself.
CANCELED_FROM = (TaskStatus.QUEUED, TaskStatus.SOFT_FAILED, TaskStatus.PAUSED)
#: What a requeue moves to queued; completed tasks too when the job was completed.
REQUEUED_FROM = (
    TaskStatus.SOFT_FAILED,
    TaskStatus.FAILED,
    TaskStatus.CANCELED,
    TaskStatus.PAUSED,
    TaskStatus.ACTIVE,
)

#: What a pause moves to paused (active tasks finish first).
PAUSED_FROM = (TaskStatus.QUEUED, TaskStatus.SOFT_FAILED)


@dataclass(frozen=True)
class _Move:
    from_statuses: tuple[TaskStatus, ...]
    to: TaskStatus
    reset_steps: bool


def _move_of(job: Job) -> _Move | None:
    """What the job's status still asks to move; None for a status that moves nothing."""
    if job.status in (JobStatus.CANCEL_REQUESTED, JobStatus.FAILED):
        # A failed job's tasks are canceled like a canceled one's (``follow_tasks``).
        return _Move(CANCELED_FROM, TaskStatus.CANCELED, reset_steps=False)
    if job.status == JobStatus.REQUEUEING:
        extra = (TaskStatus.COMPLETED,) if job.requeue_completed else ()
        return _Move(REQUEUED_FROM + extra, TaskStatus.QUEUED, reset_steps=True)
    if job.status == JobStatus.PAUSE_REQUESTED:
        return _Move(PAUSED_FROM, TaskStatus.PAUSED, reset_steps=False)
    if job.status in (JobStatus.QUEUED, JobStatus.ACTIVE):
        # Only a resume leaves a queued or active job with paused tasks.
        return _Move((TaskStatus.PAUSED,), TaskStatus.QUEUED, reset_steps=False)
    return None


def tasks_to_cancel(job: Job) -> int:
    return job.tasks_queued + job.tasks_soft_failed + job.tasks_paused + job.tasks_active


def tasks_to_requeue(job: Job, *, completed_too: bool) -> int:
    return job.tasks_total - job.tasks_queued - (0 if completed_too else job.tasks_completed)


def move_in_steps(
    db: Database,
    job_id: str,
    clock: Callable[[], datetime],
    step: int | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Move the job's tasks as its status asks, a step at a time, and settle its status;
    whether it got to the end (False: ``stop`` was set, and the rest is left to the health
    checks). ``clock`` tells the time before each step; ``step`` fixes the tasks per step."""
    steps = WriteSteps(step)
    while stop is None or not stop.is_set():
        now = clock()
        with db.write() as session:
            started = time.perf_counter()
            finished = _one_step(session, job_id, steps.size, now)
        held = time.perf_counter() - started  # the commit too: it writes the pages
        if finished:
            return True
        steps.took(held)
        steps.pause(held)
    return False


def record_deleted(session: Session, job_id: str) -> None:
    """The job is gone: the farm's hook removes its files (logs, thumbnails, outputs) once
    this commits, and live views drop it."""
    events.record(session, "job", id=job_id, was_deleted=True)


def _one_step(session: Session, job_id: str, size: int, now: datetime) -> bool:
    """Move (or delete) up to ``size`` tasks; True once nothing is left, with the job's
    status settled (or the job deleted)."""
    job = job_queries.job_for_change(session, job_id)
    if job is None:
        return True  # deleted meanwhile
    if job.delete_requested_at is not None:
        if job_queries.delete_some_tasks(session, job_id, size):
            return False
        job_queries.delete_job(session, job)
        record_deleted(session, job_id)
        log.info("job %s: deleted in steps", job_id)
        return True
    move = _move_of(job)
    if move is None:
        return True  # its status changed meanwhile, and the request that changed it moved
    for old in move.from_statuses:
        moved = task_queries.move_some_tasks_of_job(
            session, job_id, old, move.to, now, job.activity, size, reset_steps=move.reset_steps
        )
        if moved:
            change_job_counts(session, job_id, {old: -moved, move.to: moved}, now)
            events.record(session, "job", id=job_id)
            return False
    if job.status == JobStatus.REQUEUEING:
        task_queries.forget_failures_and_blocks_of_job(session, job_id)
        job.status = JobStatus.QUEUED
        job.requeue_completed = False
    job.updated = now
    follow_tasks(session, job, now)
    events.record(session, "job", id=job_id, refresh_tasks=True)
    log.info("job %s: status change done in steps, now %s", job_id, job.status)
    return True


class JobStatusSteps:
    """Runs the steps of big status changes, each job's in a thread of its own; the one
    place that starts them, whichever door asked for the change."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running: dict[str, threading.Thread] = {}
        self._again: set[str] = set()

    def on_job_event(self, event: Event) -> None:
        """The event hook: start the steps a committed status change asked for."""
        if event.get(IN_STEPS):
            self.start(str(event["id"]))

    def start(self, job_id: str) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if job_id in self._running:
                # Its thread may be past its last look at the job: have it look again.
                self._again.add(job_id)
                return
            thread = threading.Thread(
                target=self._run, args=(job_id,), name=f"job-status-steps-{job_id}", daemon=True
            )
            self._running[job_id] = thread
        thread.start()

    def _run(self, job_id: str) -> None:
        while True:
            try:
                move_in_steps(self._db, job_id, self._clock, stop=self._stop)
            except Exception:  # noqa: BLE001 - the health checks finish what is left
                log.exception("job %s: moving its tasks in steps failed", job_id)
            with self._lock:
                if job_id not in self._again or self._stop.is_set():
                    self._running.pop(job_id, None)
                    self._again.discard(job_id)
                    return
                self._again.discard(job_id)

    def finish_half_way(self) -> list[str]:
        """Start the steps of the status changes left half-way that no thread is moving (the
        manager stopped in the middle of one); their job ids. The health round does not wait
        for them: finishing a million tasks takes a minute."""
        with self._db.read() as session:
            found = job_queries.jobs_changing_status_in_steps(session)
        with self._lock:
            left = [job_id for job_id in found if job_id not in self._running]
        for job_id in left:
            log.warning("job %s: finishing a status change left half-way", job_id)
            self.start(job_id)
        return left

    def wait(self, timeout: float) -> bool:
        """Wait for the changes under way to end; whether they all did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._running.values())
            if not threads:
                return True
            if time.monotonic() >= deadline:
                return False
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 10.0) -> None:
        """Stop between steps; what is left, the health checks finish after the next start."""
        self._stop.set()
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout=timeout)
