"""The reads behind "why does this job wait": which workers could run a task type of a job,
who failed which of its tasks, the job's ready tasks and the task types workers run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select, text
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import TextClause

from manager.core.statuses import LIVE_WORKER_STATUSES, SCHEDULABLE_JOB_STATUSES, TaskStatus
from manager.db.models import (
    RUNNABLE_SQL,
    Job,
    JobBlock,
    Task,
    TaskDependency,
    TaskFailure,
    Worker,
    worker_tag_membership,
)


def worker_has_tag(tag_id: str) -> ColumnElement[bool]:
    """The condition that a worker (a row of ``Worker``) carries the tag."""
    return exists().where(
        worker_tag_membership.c.worker_id == Worker.id, worker_tag_membership.c.tag_id == tag_id
    )


def unblocked_live_workers(
    session: Session, job_id: str, worker_tag_id: str | None, task_type: str
) -> list[tuple[str, list[str]]]:
    """Id and task types of each live or sleeping worker that carries the job's worker tag
    and is not blocked from the job for the task type."""
    query = select(Worker.id, Worker.supported_task_types).where(
        Worker.status.in_(LIVE_WORKER_STATUSES),
        ~exists().where(
            JobBlock.job_id == job_id,
            JobBlock.worker_id == Worker.id,
            JobBlock.task_type == task_type,
        ),
    )
    if worker_tag_id:
        query = query.where(worker_has_tag(worker_tag_id))
    return [(worker_id, task_types or []) for worker_id, task_types in session.execute(query)]


def soft_failed_task_ids(session: Session, job_id: str, task_type: str) -> list[str]:
    return list(
        session.scalars(
            select(Task.id).where(
                Task.job_id == job_id,
                Task.status == TaskStatus.SOFT_FAILED,
                Task.task_type == task_type,
            )
        ).all()
    )


def failures_by(session: Session, job_id: str, worker_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(task id, worker id) of each failure of the job's tasks by one of these workers."""
    rows = session.execute(
        select(TaskFailure.task_id, TaskFailure.worker_id).where(
            TaskFailure.job_id == job_id, TaskFailure.worker_id.in_(list(worker_ids))
        )
    )
    return [(task_id, worker_id) for task_id, worker_id in rows]


def task_types_of_live_workers(session: Session) -> set[str]:
    """The task types that workers on the farm now (awake, asleep, starting, testing) run."""
    query = select(Worker.supported_task_types).where(Worker.status.in_(LIVE_WORKER_STATUSES))
    return {t for types in session.scalars(query) for t in (types or ())}


def blender_versions_of_live_workers(
    session: Session, worker_tag_id: str | None
) -> list[int | None]:
    """The Blender (major * 100 + minor, None: not said) of each live or sleeping worker
    that carries the worker tag (any worker without one)."""
    query = select(Worker.blender_version).where(Worker.status.in_(LIVE_WORKER_STATUSES))
    if worker_tag_id:
        query = query.where(worker_has_tag(worker_tag_id))
    return list(session.scalars(query))


def task_types_of_workers(session: Session, worker_tag_id: str | None) -> set[str]:
    """The task types that registered workers run, in any state; only those of the worker
    tag when one is given."""
    query = select(Worker.supported_task_types)
    if worker_tag_id:
        query = query.where(worker_has_tag(worker_tag_id))
    return {t for types in session.scalars(query) for t in (types or ())}


_DEPENDENCY = aliased(Task)


def _ready_tasks_of(job_id: str) -> list[ColumnElement[bool] | TextClause]:
    """Conditions of the job's tasks that a worker could take now, but for their type."""
    unfinished_dependency = (
        select(TaskDependency.task_id)
        .join(_DEPENDENCY, _DEPENDENCY.id == TaskDependency.depends_on_id)
        .where(TaskDependency.task_id == Task.id, _DEPENDENCY.status != TaskStatus.COMPLETED)
        .exists()
    )
    return [
        Task.job_id == job_id,
        # Inline, as the scheduler has it, so the planner can use the partial index.
        text(f"tasks.{RUNNABLE_SQL}"),
        or_(Task.dependency_count == 0, ~unfinished_dependency),
    ]


def has_ready_task_of_types(session: Session, job_id: str, task_types: Iterable[str]) -> bool:
    """Whether a task of the job of one of these types is ready for a worker."""
    query = select(Task.id).where(*_ready_tasks_of(job_id), Task.task_type.in_(list(task_types)))
    return session.scalar(query.limit(1)) is not None


def next_ready_task_type(session: Session, job_id: str) -> str | None:
    """The type of the task of the job that the scheduler would hand out next."""
    found: str | None = session.scalar(
        select(Task.task_type)
        .where(*_ready_tasks_of(job_id))
        .order_by(Task.priority.desc(), Task.dispatch_rank.asc())
        .limit(1)
    )
    return found


def _schedulable_jobs(*conditions: Any) -> Select[Job]:
    return select(Job).where(Job.status.in_(SCHEDULABLE_JOB_STATUSES), *conditions)


def schedulable_jobs_idle_or_saying(
    session: Session, activity_prefixes: Iterable[str], job_ids: Iterable[str] | None = None
) -> list[Job]:
    """Queued or active jobs with no task running or whose activity starts with one of the
    prefixes; only those of ``job_ids`` when given."""
    saying = [Job.activity.startswith(prefix) for prefix in activity_prefixes]
    query = _schedulable_jobs(or_(Job.tasks_active == 0, *saying))
    if job_ids is not None:
        query = query.where(Job.id.in_(list(job_ids)))
    return list(session.scalars(query).all())


def schedulable_jobs_saying(session: Session, activity_prefixes: Iterable[str]) -> list[Job]:
    """Queued or active jobs whose activity starts with one of the prefixes."""
    saying = [Job.activity.startswith(prefix) for prefix in activity_prefixes]
    return list(session.scalars(_schedulable_jobs(or_(*saying))).all())
