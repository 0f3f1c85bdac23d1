"""What happens to tasks: updates from workers, failures, requeues and user status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core.errors import BadInput, Conflict, InvalidTransition, NotFound
from manager.core.statuses import FINAL_TASK_STATUSES, JobStatus, TaskStatus
from manager.core.task_states import follow_tasks, lock_job, set_task_status
from manager.db.models import Job, JobBlock, Task, TaskFailure, Worker

#: Task statuses a worker may report in a task update.
WORKER_REPORTABLE = {
    TaskStatus.ACTIVE,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.SOFT_FAILED,
}


def get_task(session: Session, task_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("task", task_id)
    return task


@dataclass
class TaskUpdateResult:
    job_id: str
    status_changed: bool


def update_task_from_worker(
    session: Session,
    settings: Settings,
    worker: Worker,
    task_id: str,
    *,
    now: datetime,
    task_status: str | None = None,
    activity: str | None = None,
    steps_completed: int | None = None,
) -> TaskUpdateResult:
    """Apply a worker's progress report; 409 when the task is no longer that worker's to run."""
    task = get_task(session, task_id)
    if task.worker_id != worker.id:
        raise Conflict(f"task {task_id} is not assigned to worker {worker.name!r}")
    if task.status != TaskStatus.ACTIVE:
        raise Conflict(f"task {task_id} is {task.status}, stop working on it")
    new_status: TaskStatus | None = None
    if task_status is not None:
        new_status = TaskStatus(task_status)
        if new_status not in WORKER_REPORTABLE:
            raise BadInput(f"taskStatus: a worker cannot set a task to {task_status!r}")
    if steps_completed is not None:
        if steps_completed < 0 or steps_completed > task.steps_total:
            raise BadInput(
                f"steps_completed: {steps_completed} is outside 0..{task.steps_total} for this task"
            )
        task.steps_completed = steps_completed
    if activity is not None:
        task.activity = activity[:1000]
    task.last_touched = now
    task.updated = now
    if new_status is None or new_status == TaskStatus.ACTIVE:
        return TaskUpdateResult(task.job_id, False)

    job = lock_job(session, task.job_id)
    if new_status == TaskStatus.COMPLETED:
        task.steps_completed = task.steps_total
        set_task_status(job, task, TaskStatus.COMPLETED, now)
        job.activity = f"task {task.name} completed by {worker.name}"
    else:
        record_failure(
            session, settings, job, task, worker, now, activity or "failed on the worker"
        )
    follow_tasks(session, job, now)
    return TaskUpdateResult(job.id, True)


def record_failure(
    session: Session,
    settings: Settings,
    job: Job,
    task: Task,
    worker: Worker,
    now: datetime,
    reason: str,
) -> None:
    """A worker failed a task: soft-fail it for other workers, or fail it when too many did,
    and block the worker from the job's task type when it failed too many of its tasks."""
    already = session.get(TaskFailure, (task.id, worker.id))
    if already is None:
        session.add(TaskFailure(task_id=task.id, worker_id=worker.id, job_id=job.id, created=now))
        session.flush()
    failed_by = (
        session.scalar(
            select(func.count()).select_from(TaskFailure).where(TaskFailure.task_id == task.id)
        )
        or 0
    )
    hard = failed_by >= settings.task_fail_after_softfail_count
    new = TaskStatus.FAILED if hard else TaskStatus.SOFT_FAILED
    set_task_status(job, task, new, now, f"{reason} (failed by {failed_by} worker(s))")

    failures_on_job = (
        session.scalar(
            select(func.count())
            .select_from(TaskFailure)
            .join(Task, Task.id == TaskFailure.task_id)
            .where(
                TaskFailure.job_id == job.id,
                TaskFailure.worker_id == worker.id,
                Task.task_type == task.task_type,
            )
        )
        or 0
    )
    if failures_on_job >= settings.blocklist_threshold:
        if session.get(JobBlock, (job.id, worker.id, task.task_type)) is None:
            session.add(
                JobBlock(job_id=job.id, worker_id=worker.id, task_type=task.task_type, created=now)
            )
            job.activity = f"worker {worker.name} blocked from {task.task_type} tasks of this job"


def requeue_tasks_of_worker(session: Session, worker_id: str, now: datetime, reason: str) -> int:
    """Put the worker's active tasks back in the queue without counting it as a failure."""
    tasks = session.scalars(
        select(Task).where(Task.worker_id == worker_id, Task.status == TaskStatus.ACTIVE)
    ).all()
    for task in tasks:
        job = lock_job(session, task.job_id)
        set_task_status(job, task, TaskStatus.QUEUED, now, reason)
        task.worker_id = None
        follow_tasks(session, job, now)
    return len(tasks)


def may_worker_run(
    session: Session, worker: Worker, task_id: str, now: datetime
) -> tuple[bool, str]:
    """Whether the worker may go on with the task; asking counts as a sign of life."""
    task = get_task(session, task_id)
    if task.worker_id != worker.id:
        return False, "task is assigned to another worker"
    if task.status != TaskStatus.ACTIVE:
        return False, f"task is {task.status}"
    task.last_touched = now
    return True, ""


def set_task_status_by_user(
    session: Session, task_id: str, status: str, reason: str, now: datetime
) -> str:
    """A user's request to requeue or cancel one task; returns the job id."""
    task = get_task(session, task_id)
    job = lock_job(session, task.job_id)
    new = TaskStatus(status)
    current = TaskStatus(task.status)
    if new == TaskStatus.QUEUED:
        if current == TaskStatus.QUEUED:
            return job.id
        if current == TaskStatus.ACTIVE:
            raise InvalidTransition("task is active; cancel it first or let it finish")
        session.execute(delete(TaskFailure).where(TaskFailure.task_id == task.id))
        set_task_status(job, task, TaskStatus.QUEUED, now, reason or "requeued by user")
        task.steps_completed = 0
        if JobStatus(job.status) in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED):
            job.status = JobStatus.QUEUED
    elif new == TaskStatus.CANCELED:
        if current in FINAL_TASK_STATUSES:
            raise InvalidTransition(f"task is already {current}")
        set_task_status(job, task, TaskStatus.CANCELED, now, reason or "canceled by user")
    else:
        raise InvalidTransition(
            f"status: tasks can only be set to queued or canceled, not {status!r}"
        )
    follow_tasks(session, job, now)
    return job.id
