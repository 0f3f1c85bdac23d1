"""What happens to tasks: updates from workers, failures, requeues and user status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import events
from manager.core.errors import BadInput, InvalidTransition, NotFound
from manager.core.statuses import FINAL_TASK_STATUSES, JobStatus, TaskStatus
from manager.core.task_states import follow_tasks, lock_job, lock_job_for_user, set_task_status
from manager.core.waiting import NO_WORKER_LEFT, tasks_no_worker_can_run
from manager.core.worker_facts import AnyWorker
from manager.db.models import Job, JobBlock, Task, TaskFailure
from manager.db.queries import tasks as task_queries
from manager.db.queries.job_counters import JobCounts, change_and_read_job_counts
from manager.db.queries.tasks import TaskFacts

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
    #: The task, when this report completed it: its frames may wait on shared storage.
    completed_task_id: str | None = None


def _job_may_change(counts: JobCounts) -> bool:
    """False when ``follow_tasks`` would leave the job as it is: active, nothing failed and
    tasks left to run. That is every completion but a job's last."""
    unfinished = counts.queued + counts.soft_failed + counts.active + counts.paused
    return not (counts.status == JobStatus.ACTIVE and not counts.failed and unfinished)


def update_task_from_worker(
    session: Session,
    settings: Settings,
    worker: AnyWorker,
    facts: TaskFacts,
    *,
    now: datetime,
    task_status: str | None = None,
    activity: str | None = None,
    steps_completed: int | None = None,
    has_log: bool = False,
) -> TaskUpdateResult:
    """Apply a worker's progress report on its task (``worker_session.report`` checked that
    the task is still the worker's to run).

    Only a report that carries something (log text, steps, activity, a status) renews the
    task's lease (``last_touched``): an empty one shows the worker is alive, not that its
    render is, and a hung render must run out of ``task_timeout``.

    Progress and completion, which every task sends, are plain statements; a failure, which
    is rare and has more to decide, goes through the ORM.
    """
    progressed = has_log or any(
        value is not None for value in (task_status, activity, steps_completed)
    )
    task_id = facts.id
    new_status: TaskStatus | None = None
    if task_status is not None:
        new_status = TaskStatus(task_status)
        if new_status not in WORKER_REPORTABLE:
            raise BadInput(f"taskStatus: a worker cannot set a task to {task_status!r}")
    if steps_completed is not None and not 0 <= steps_completed <= facts.steps_total:
        raise BadInput(
            f"steps_completed: {steps_completed} is outside 0..{facts.steps_total} for this task"
        )
    if activity is not None:
        activity = activity[:1000]

    if new_status in (TaskStatus.FAILED, TaskStatus.SOFT_FAILED):
        task = get_task(session, task_id)
        task.last_touched = task.updated = now
        if steps_completed is not None:
            task.steps_completed = steps_completed
        if activity is not None:
            task.activity = activity
        job = lock_job(session, task.job_id)
        record_failure(
            session, settings, job, task, worker, now, activity or "failed on the worker"
        )
        return TaskUpdateResult(job.id, True)

    status_changed = new_status == TaskStatus.COMPLETED
    counts = None
    if status_changed:
        # The job row first: on PostgreSQL that is the lock order a claim takes too.
        counts = change_and_read_job_counts(
            session,
            facts.job_id,
            {TaskStatus.ACTIVE: -1, TaskStatus.COMPLETED: 1},
            now,
            activity=f"task {facts.name} completed by {worker.name}",
        )
        steps_completed = facts.steps_total
    task_queries.store_report(
        session,
        task_id,
        TaskStatus.COMPLETED if status_changed else TaskStatus.ACTIVE,
        now,
        steps=steps_completed,
        activity=activity,
        touched=now if progressed else None,
    )
    if status_changed:
        task_queries.credit_worker(session, worker.id, task_id)
    if counts is not None and _job_may_change(counts):
        follow_tasks(session, lock_job(session, facts.job_id), now)
    events.record(session, "task", id=task_id, job_id=facts.job_id, worker_id=worker.id)
    return TaskUpdateResult(facts.job_id, status_changed)


def record_failure(
    session: Session,
    settings: Settings,
    job: Job,
    task: Task,
    worker: AnyWorker,
    now: datetime,
    reason: str,
) -> None:
    """A worker failed a task: soft-fail it for other workers, or fail it when too many did
    or when no worker is left that could run it; block the worker from the job's task type
    when it failed too many of its tasks. The job's status follows."""
    events.record(session, "task", id=task.id, job_id=job.id, worker_id=worker.id)
    if session.get(TaskFailure, (task.id, worker.id)) is None:
        session.add(TaskFailure(task_id=task.id, worker_id=worker.id, job_id=job.id, created=now))
        session.flush()
    _block_when_failing_often(session, settings, job, task.task_type, worker, now)
    failed_by = task_queries.failure_count(session, task.id)
    if failed_by >= settings.task_fail_after_softfail_count:
        set_task_status(
            job, task, TaskStatus.FAILED, now, f"{reason} (failed by {failed_by} worker(s))"
        )
        follow_tasks(
            session,
            job,
            now,
            f"task {task.name} failed on {failed_by} workers, the most allowed; "
            f"last on {worker.name}: {reason}",
        )
        return
    set_task_status(
        job, task, TaskStatus.SOFT_FAILED, now, f"{reason} (failed by {failed_by} worker(s))"
    )
    session.flush()
    # A new block can leave other soft-failed tasks of this type without a worker too.
    failure = None
    for stranded_id in tasks_no_worker_can_run(session, job, task.task_type):
        if stranded_id == task.id:
            stranded, why = task, f"failed on worker {worker.name}: {reason}"
        else:
            stranded = get_task(session, stranded_id)
            why = f"failed before: {stranded.activity}"
        set_task_status(job, stranded, TaskStatus.FAILED, now, f"{why}; {NO_WORKER_LEFT}")
        if stranded is not task:
            events.record(session, "task", id=stranded.id, job_id=job.id)
        if failure is None or stranded is task:
            failure = f"task {stranded.name} {why}; {NO_WORKER_LEFT}"
    follow_tasks(session, job, now, failure)


def _block_when_failing_often(
    session: Session, settings: Settings, job: Job, task_type: str, worker: AnyWorker, now: datetime
) -> None:
    failures_on_job = task_queries.failures_on_job(session, job.id, worker.id, task_type)
    if failures_on_job < settings.blocklist_threshold:
        return
    if session.get(JobBlock, (job.id, worker.id, task_type)) is None:
        session.add(JobBlock(job_id=job.id, worker_id=worker.id, task_type=task_type, created=now))
        session.flush()
        job.activity = f"worker {worker.name} blocked from {task_type} tasks of this job"


def requeue_tasks_of_worker(session: Session, worker_id: str, now: datetime, reason: str) -> int:
    """Put the worker's active tasks back in the queue without counting it as a failure."""
    tasks = task_queries.active_tasks_of_worker(session, worker_id)
    for task in tasks:
        job = lock_job(session, task.job_id)
        set_task_status(job, task, TaskStatus.QUEUED, now, reason)
        task.worker_id = None
        follow_tasks(session, job, now)
        events.record(session, "task", id=task.id, job_id=job.id, worker_id=worker_id)
    return len(tasks)


def set_task_status_by_user(
    session: Session, task_id: str, status: str, reason: str, now: datetime
) -> str:
    """A user's request to requeue or cancel one task; returns the job id."""
    task = get_task(session, task_id)
    job = lock_job_for_user(session, task.job_id)
    new = TaskStatus(status)
    current = TaskStatus(task.status)
    if new == TaskStatus.QUEUED:
        if current == TaskStatus.QUEUED:
            return job.id
        if current == TaskStatus.ACTIVE:
            raise InvalidTransition("task is active; cancel it first or let it finish")
        task_queries.forget_failures_of_task(session, task.id)
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
    events.record(session, "task", id=task.id, job_id=job.id)
    events.record(session, "job", id=job.id)
    return job.id
