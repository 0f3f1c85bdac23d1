"""Task status changes and the job status that follows from them.

Every change of a task's status goes through ``set_task_status`` (or, for the hot paths,
``db/queries/job_counters`` directly) so the job's per-status counters stay exact;
``follow_tasks`` then derives the job's status from those counters. Callers hold the job row
(``lock_job``) for the whole transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, object_session

from manager.core import events, write_steps
from manager.core.errors import Conflict, NotFound
from manager.core.statuses import JobStatus, TaskStatus
from manager.db.models import Job, Task
from manager.db.queries.job_counters import change_job_counts
from manager.db.queries.jobs import job_for_change
from manager.db.queries.tasks import move_tasks_of_job

_UNFINISHED = (TaskStatus.QUEUED, TaskStatus.SOFT_FAILED, TaskStatus.ACTIVE, TaskStatus.PAUSED)


def lock_job(session: Session, job_id: str) -> Job:
    """Load a job for changing it; on PostgreSQL the row stays locked until commit."""
    job = job_for_change(session, job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


def lock_job_for_user(session: Session, job_id: str) -> Job:
    """``lock_job`` for a user's change of the job or its tasks, which a job being deleted
    (in steps) refuses."""
    job = lock_job(session, job_id)
    refuse_job_being_deleted(job)
    return job


def refuse_job_being_deleted(job: Job) -> None:
    if job.delete_requested_at is not None:
        raise Conflict(f"job {job.id} is being deleted")


def set_task_status(
    job: Job, task: Task, new: TaskStatus, now: datetime, activity: str | None = None
) -> None:
    if task.status != new:
        session = object_session(job)
        assert session is not None, "a job being changed belongs to a session"
        change_job_counts(session, job.id, {task.status: -1, new: 1}, now)
        task.status = new
    if activity is not None:
        task.activity = activity
    task.updated = now
    job.updated = now


def bulk_set_task_status(
    session: Session,
    job: Job,
    from_statuses: tuple[TaskStatus, ...],
    new: TaskStatus,
    now: datetime,
    activity: str,
) -> int:
    """Move every task of the job in one of ``from_statuses`` to ``new``; returns how many."""
    moved = move_tasks_of_job(session, job.id, from_statuses, new, now, activity)
    if not moved:
        return 0
    total = sum(moved.values())
    change_job_counts(session, job.id, {**{old: -n for old, n in moved.items()}, new: total}, now)
    return total


def runnable_count(job: Job) -> int:
    return job.tasks_queued + job.tasks_soft_failed


def follow_tasks(session: Session, job: Job, now: datetime, failure: str | None = None) -> None:
    """Derive the job's status from its task counters after tasks changed; ``failure`` says
    why, should a task have failed for good."""
    status = JobStatus(job.status)
    if status in (JobStatus.QUEUED, JobStatus.ACTIVE):
        unfinished = runnable_count(job) + job.tasks_active + job.tasks_paused
        if job.tasks_failed:
            # Active tasks are canceled here: their workers learn it from may-i-run. A big
            # job's other tasks are canceled in steps once this commits (``job_status_steps``):
            # this runs in a worker's report, and the scheduler hands out no task of a
            # failed job meanwhile.
            in_steps = runnable_count(job) + job.tasks_paused > write_steps.ONE_GO_TASKS
            moving = (TaskStatus.ACTIVE,) if in_steps else _UNFINISHED
            bulk_set_task_status(session, job, moving, TaskStatus.CANCELED, now, "job failed")
            if in_steps:
                events.record(session, "job", id=job.id, **{write_steps.IN_STEPS: True})
            _set_job_status(
                job, JobStatus.FAILED, now, failure or "a task failed on too many workers"
            )
        elif unfinished == 0:
            # Tasks a user canceled one by one do not hold the rest of the job back.
            if job.tasks_completed:
                _set_job_status(job, JobStatus.COMPLETED, now, "all tasks completed")
            else:
                _set_job_status(job, JobStatus.CANCELED, now, "all tasks canceled")
        elif job.tasks_active or job.tasks_completed or job.tasks_soft_failed:
            _set_job_status(job, JobStatus.ACTIVE, now)
        else:
            _set_job_status(job, JobStatus.QUEUED, now)
    elif status == JobStatus.PAUSE_REQUESTED:
        # A big job's tasks are paused in steps (``job_status_steps``), not by whichever
        # worker report comes first.
        if runnable_count(job) <= write_steps.ONE_GO_TASKS:
            bulk_set_task_status(
                session,
                job,
                (TaskStatus.QUEUED, TaskStatus.SOFT_FAILED),
                TaskStatus.PAUSED,
                now,
                "job paused",
            )
        if not (job.tasks_active or runnable_count(job)):
            _set_job_status(job, JobStatus.PAUSED, now, "paused")
    elif status == JobStatus.CANCEL_REQUESTED:
        # A big job's tasks are canceled in steps (``job_status_steps``): until the last
        # step, some are still queued or paused.
        if not (job.tasks_active or runnable_count(job) or job.tasks_paused):
            _set_job_status(job, JobStatus.CANCELED, now, "canceled")


def _set_job_status(job: Job, new: JobStatus, now: datetime, activity: str | None = None) -> None:
    if job.status != new:
        job.status = new
        job.updated = now
    if activity is not None:
        job.activity = activity
