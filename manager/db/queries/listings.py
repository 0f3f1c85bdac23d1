"""What the v3 API lists: jobs by their last change, a job's tasks by their index, workers and
tags by name, and the workers named beside a task or a blocklist."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.core.statuses import JobStatus
from manager.db.models import Job, Task, TaskFailure, Worker, WorkerTag


def jobs_by_last_change(session: Session, offset: int, limit: int | None) -> list[Job]:
    """Whole jobs (not those whose tasks are still going in), the latest changed first."""
    query = (
        select(Job)
        .where(Job.status != JobStatus.UNDER_CONSTRUCTION)
        .order_by(Job.updated.desc(), Job.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query).all())


def tasks_of_job_from_index(
    session: Session, job_id: str, first: int, end: int | None = None
) -> list[Task]:
    """The job's tasks numbered ``first`` up to ``end`` (not included; all when None).

    A job's tasks are numbered 0..n-1: a page is a range of that index, found as fast at the
    end of a 100,000-task job as at its start."""
    query = select(Task).where(Task.job_id == job_id, Task.index_in_job >= first)
    if end is not None:
        query = query.where(Task.index_in_job < end)
    return list(session.scalars(query.order_by(Task.index_in_job)).all())


def all_workers_by_name(session: Session) -> list[Worker]:
    return list(session.scalars(select(Worker).order_by(Worker.name)).all())


def all_tags_by_name(session: Session) -> list[WorkerTag]:
    return list(session.scalars(select(WorkerTag).order_by(WorkerTag.name)).all())


def worker_names(session: Session, worker_ids: Sequence[str]) -> dict[str, str]:
    """Name by id of those of these workers that exist."""
    query = select(Worker).where(Worker.id.in_(worker_ids))
    return {w.id: w.name for w in session.scalars(query)}


def workers_who_failed_task(session: Session, task_id: str) -> list[Worker]:
    query = (
        select(Worker)
        .join(TaskFailure, TaskFailure.worker_id == Worker.id)
        .where(TaskFailure.task_id == task_id)
    )
    return list(session.scalars(query).all())
