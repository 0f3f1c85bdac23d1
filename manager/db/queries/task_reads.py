"""Reads of tasks taken together: a job's task types, its first task, who works on it and its
progress in steps, and which workers are busy."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.core.statuses import TaskStatus
from manager.db.models import Task


def task_types_of_job(session: Session, job_id: str) -> list[str]:
    """The task types among the job's tasks, each once, in alphabetical order."""
    return sorted(set(session.scalars(select(Task.task_type).where(Task.job_id == job_id))))


def first_task_of_job(session: Session, job_id: str) -> Task | None:
    task: Task | None = session.scalar(
        select(Task).where(Task.job_id == job_id).order_by(Task.index_in_job)
    )
    return task


def a_worker_of_job(session: Session, job_id: str) -> str | None:
    """A worker that holds or last held one of the job's tasks."""
    worker_id: str | None = session.scalar(
        select(Task.worker_id).where(Task.job_id == job_id, Task.worker_id.isnot(None))
    )
    return worker_id


def steps_of_job(session: Session, job_id: str) -> tuple[int | None, int | None]:
    """Steps completed and steps in all, summed over the job's tasks; None without tasks."""
    done, total = session.execute(
        select(func.sum(Task.steps_completed), func.sum(Task.steps_total)).where(
            Task.job_id == job_id
        )
    ).one()
    return done, total


def workers_with_active_tasks(session: Session) -> set[str]:
    rows = session.scalars(select(Task.worker_id).where(Task.status == TaskStatus.ACTIVE))
    return {worker_id for worker_id in rows if worker_id is not None}
