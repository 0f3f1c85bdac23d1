"""Statements on jobs as a whole: deleting one with everything it owns, finding jobs by age,
and the job's blocklist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from manager.core.statuses import JobStatus
from manager.db.models import Job, JobBlock, Task, TaskDependency, TaskFailure
from manager.db.session import is_postgres


def job_for_change(session: Session, job_id: str) -> Job | None:
    """The job, loaded for changing it; on PostgreSQL its row stays locked until commit."""
    # ``None`` rather than False on SQLite: Session.get skips its identity map for any
    # with_for_update other than None, and a batch of worker updates shares one job row.
    return session.get(Job, job_id, with_for_update=True if is_postgres(session) else None)


def delete_job(session: Session, job: Job) -> None:
    """Delete the job, its tasks and what refers to them."""
    # Explicit deletes keep this fast and correct on databases without cascading FKs.
    task_ids = select(Task.id).where(Task.job_id == job.id).scalar_subquery()
    session.execute(delete(TaskDependency).where(TaskDependency.task_id.in_(task_ids)))
    session.execute(delete(TaskFailure).where(TaskFailure.job_id == job.id))
    session.execute(delete(JobBlock).where(JobBlock.job_id == job.id))
    session.execute(delete(Task).where(Task.job_id == job.id))
    session.delete(job)


def delete_some_tasks(session: Session, job_id: str, count: int) -> int:
    """Delete up to ``count`` of the job's tasks with what refers to them (what they wait
    for and what waits for them, their failures); how many went."""
    ids = list(session.scalars(select(Task.id).where(Task.job_id == job_id).limit(count)))
    if ids:
        session.execute(
            delete(TaskDependency).where(
                or_(TaskDependency.task_id.in_(ids), TaskDependency.depends_on_id.in_(ids))
            )
        )
        session.execute(delete(TaskFailure).where(TaskFailure.task_id.in_(ids)))
        session.execute(
            delete(Task).where(Task.id.in_(ids)).execution_options(synchronize_session=False)
        )
    return len(ids)


def jobs_changing_status_in_steps(session: Session) -> list[str]:
    """Jobs whose status change is still moving tasks: being deleted, canceling or failed
    with tasks not canceled yet, requeueing, pausing with runnable tasks, or queued again with
    paused ones."""
    runnable = Job.tasks_queued + Job.tasks_soft_failed
    canceling = [JobStatus.CANCEL_REQUESTED, JobStatus.FAILED]
    return list(
        session.scalars(
            select(Job.id).where(
                or_(
                    Job.delete_requested_at.is_not(None),
                    and_(Job.status.in_(canceling), runnable + Job.tasks_paused > 0),
                    Job.status == JobStatus.REQUEUEING,
                    and_(Job.status == JobStatus.PAUSE_REQUESTED, runnable > 0),
                    and_(
                        Job.status.in_([JobStatus.QUEUED, JobStatus.ACTIVE]), Job.tasks_paused > 0
                    ),
                )
            )
        )
    )


def job_ids_updated_until(session: Session, limit: datetime) -> list[str]:
    return list(session.scalars(select(Job.id).where(Job.updated <= limit)).all())


def blocklist(session: Session, job_id: str) -> list[JobBlock]:
    return list(session.scalars(select(JobBlock).where(JobBlock.job_id == job_id)).all())


def unblock(session: Session, job_id: str, entries: list[tuple[str, str]]) -> None:
    """Take (worker id, task type) entries off the job's blocklist, and forget the failures
    of those workers on the job's tasks, so they get its tasks again."""
    for worker_id, task_type in entries:
        session.execute(
            delete(JobBlock).where(
                JobBlock.job_id == job_id,
                JobBlock.worker_id == worker_id,
                JobBlock.task_type == task_type,
            )
        )
    session.execute(
        delete(TaskFailure).where(
            TaskFailure.job_id == job_id,
            TaskFailure.worker_id.in_([w for w, _ in entries]),
        )
    )


def job_status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: count for status, count in rows}


def all_job_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Job.id)).all())
