"""Choosing and claiming the next task for a worker.

Order: job priority, then the job with the fewest active tasks (so jobs of equal priority
share the workers), then job age; within a job: task priority, then dispatch rank (first,
last and middle chunks first). Only task types the worker supports, jobs of its tags, tasks
whose dependencies completed, never a task it failed, never a job that blocked it.

Claiming is one UPDATE that checks the task is still runnable; with the job row locked on
PostgreSQL (and ``SKIP LOCKED`` on the task) two managers on one database never hand out
the same task.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, not_, or_, select, update
from sqlalchemy.orm import Session, aliased

from manager.core.statuses import RUNNABLE_TASK_STATUSES, SCHEDULABLE_JOB_STATUSES, TaskStatus
from manager.core.task_states import count_change, follow_tasks, lock_job
from manager.db.models import Job, JobBlock, Task, TaskDependency, TaskFailure, Worker
from manager.db.session import is_postgres

#: How many candidate jobs one claim looks at before giving up.
CANDIDATE_JOBS = 25


def current_task_of(session: Session, worker: Worker) -> Task | None:
    return session.scalar(
        select(Task).where(Task.worker_id == worker.id, Task.status == TaskStatus.ACTIVE).limit(1)
    )


def _candidate_jobs(session: Session, worker: Worker) -> list[str]:
    tag_ids = [tag.id for tag in worker.tags]
    query = (
        select(Job.id)
        .where(
            Job.status.in_(SCHEDULABLE_JOB_STATUSES),
            (Job.tasks_queued + Job.tasks_soft_failed) > 0,
            or_(Job.worker_tag_id.is_(None), Job.worker_tag_id.in_(tag_ids)),
        )
        .order_by(Job.priority.desc(), Job.tasks_active.asc(), Job.created.asc())
        .limit(CANDIDATE_JOBS)
    )
    return list(session.scalars(query).all())


def _next_task_in_job(session: Session, worker: Worker, job_id: str, postgres: bool) -> str | None:
    dep_task = aliased(Task)
    unfinished_dependency = (
        exists()
        .where(TaskDependency.task_id == Task.id)
        .where(dep_task.id == TaskDependency.depends_on_id)
        .where(dep_task.status != TaskStatus.COMPLETED)
    )
    failed_here = exists().where(TaskFailure.task_id == Task.id, TaskFailure.worker_id == worker.id)
    blocked_types = select(JobBlock.task_type).where(
        JobBlock.job_id == job_id, JobBlock.worker_id == worker.id
    )
    query = (
        select(Task.id)
        .where(
            Task.job_id == job_id,
            Task.status.in_(RUNNABLE_TASK_STATUSES),
            Task.task_type.in_(worker.supported_task_types),
            Task.task_type.not_in(blocked_types),
            not_(failed_here),
            or_(Task.dependency_count == 0, not_(unfinished_dependency)),
        )
        .order_by(Task.priority.desc(), Task.dispatch_rank.asc())
        .limit(1)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def claim_next_task(session: Session, worker: Worker, now: datetime) -> Task | None:
    """Assign the best runnable task to the worker and return it, or None when there is none."""
    if not worker.supported_task_types:
        return None
    postgres = is_postgres(session)
    for job_id in _candidate_jobs(session, worker):
        job = lock_job(session, job_id)
        if job.status not in SCHEDULABLE_JOB_STATUSES:
            continue
        task_id = _next_task_in_job(session, worker, job_id, postgres)
        if task_id is None:
            continue
        task = session.get(Task, task_id)
        assert task is not None
        old_status = task.status
        claimed = session.execute(
            update(Task)
            .where(and_(Task.id == task_id, Task.status.in_(RUNNABLE_TASK_STATUSES)))
            .values(
                status=TaskStatus.ACTIVE,
                worker_id=worker.id,
                last_touched=now,
                updated=now,
                activity=f"assigned to {worker.name}",
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue
        session.refresh(task)
        count_change(job, old_status, TaskStatus.ACTIVE)
        job.updated = now
        follow_tasks(session, job, now)
        return task
    return None
