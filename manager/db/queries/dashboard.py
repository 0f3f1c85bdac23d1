"""The dashboard's reads: one page of jobs, tasks or workers and the figures shown beside
them, each read bounded by the page's ids or answered from the job's task counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, distinct, func, select
from sqlalchemy.orm import Session

from manager.core.statuses import RUNNABLE_TASK_STATUSES, JobStatus, TaskStatus, WorkerStatus
from manager.db.models import Job, JobBlock, SleepSchedule, Task, TaskFailure, Worker


def _progress() -> ColumnElement[Any]:
    return Job.tasks_completed * 1.0 / func.nullif(Job.tasks_total, 0)


_JOB_ORDERS: dict[str, Any] = {
    "name": Job.name,
    "type": Job.job_type,
    "status": Job.status,
    "priority": Job.priority,
    "created": Job.created,
    "updated": Job.updated,
    "progress": _progress(),
}
#: What a page of jobs can be sorted by.
JOB_SORT_KEYS = tuple(_JOB_ORDERS)


def _shown(query: Select[Any], statuses: Sequence[str]) -> Select[Any]:
    # A job whose tasks are still going in shows once it is whole.
    query = query.where(Job.status != JobStatus.UNDER_CONSTRUCTION)
    return query.where(Job.status.in_(statuses)) if statuses else query


def shown_jobs_page(
    session: Session,
    statuses: Sequence[str],
    sort_key: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[Job]:
    """Jobs in these statuses (any when none is given), sorted by one of ``JOB_SORT_KEYS``
    and then by id."""
    column = _JOB_ORDERS[sort_key]
    order = [column.desc(), Job.id.desc()] if descending else [column.asc(), Job.id.asc()]
    query = _shown(select(Job), statuses).order_by(*order).offset(offset).limit(limit)
    return list(session.scalars(query).all())


def count_shown_jobs(session: Session, statuses: Sequence[str]) -> int:
    return session.scalar(_shown(select(func.count()).select_from(Job), statuses)) or 0


def jobs_with_ids(session: Session, ids: Sequence[str]) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.id.in_(ids))).all()) if ids else []


def frames_of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Frames done and total per job, from the tasks of just these jobs: a task's frames, not
    its steps, so the video made of the frames adds none. A running task has done the share of
    its frames that its steps say."""
    if not job_ids:
        return {}
    done = case(
        (Task.status == TaskStatus.COMPLETED, Task.frame_count),
        (
            Task.status == TaskStatus.ACTIVE,
            Task.steps_completed
            * Task.frame_count
            // func.nullif(Task.steps_total, 0, type_=Integer),
        ),
        else_=0,
    )
    rows = session.execute(
        select(Task.job_id, func.sum(done), func.sum(Task.frame_count))
        .where(Task.job_id.in_(job_ids))
        .group_by(Task.job_id)
    ).all()
    return {job_id: (int(d or 0), int(t or 0)) for job_id, d, t in rows}


def blocked_workers_of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, int]:
    """How many workers each job has blocked (from any of its task types)."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(JobBlock.job_id, func.count(distinct(JobBlock.worker_id)))
        .where(JobBlock.job_id.in_(job_ids))
        .group_by(JobBlock.job_id)
    ).all()
    return {job_id: int(n) for job_id, n in rows}


def _tasks_of_job(job_id: str, statuses: Sequence[str]) -> Select[Any]:
    query = select(Task).where(Task.job_id == job_id)
    return query.where(Task.status.in_(statuses)) if statuses else query


def tasks_of_job_with_ids(
    session: Session, job_id: str, statuses: Sequence[str], ids: Sequence[str]
) -> list[Task]:
    query = _tasks_of_job(job_id, statuses).where(Task.id.in_(ids))
    return list(session.scalars(query.order_by(Task.index_in_job)).all())


def tasks_of_job_page(
    session: Session, job_id: str, statuses: Sequence[str], offset: int, limit: int
) -> list[Task]:
    query = _tasks_of_job(job_id, statuses).order_by(Task.index_in_job)
    return list(session.scalars(query.offset(offset).limit(limit)).all())


def failures_per_task(session: Session, task_ids: Sequence[str]) -> dict[str, int]:
    if not task_ids:
        return {}
    rows = session.execute(
        select(TaskFailure.task_id, func.count())
        .where(TaskFailure.task_id.in_(task_ids))
        .group_by(TaskFailure.task_id)
    ).all()
    return {task_id: int(n) for task_id, n in rows}


def workers_by_name(session: Session, ids: Sequence[str]) -> list[Worker]:
    """The workers with these ids (all when none is given), by name."""
    query = select(Worker).order_by(Worker.name, Worker.id)
    if ids:
        query = query.where(Worker.id.in_(ids))
    return list(session.scalars(query).all())


def current_tasks_of_workers(session: Session, worker_ids: Sequence[str]) -> dict[str, Task]:
    """An active task of each of these workers that has one."""
    if not worker_ids:
        return {}
    current: dict[str, Task] = {}
    active = select(Task).where(Task.worker_id.in_(worker_ids), Task.status == TaskStatus.ACTIVE)
    for task in session.scalars(active):
        if task.worker_id is not None:
            current.setdefault(task.worker_id, task)
    return current


def job_names(session: Session, job_ids: Sequence[str] | set[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    return {i: n for i, n in session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids)))}


def sleep_schedules_of_workers(
    session: Session, worker_ids: Sequence[str]
) -> dict[str, SleepSchedule]:
    if not worker_ids:
        return {}
    query = select(SleepSchedule).where(SleepSchedule.worker_id.in_(worker_ids))
    return {s.worker_id: s for s in session.scalars(query)}


def latest_blocks(session: Session, limit: int) -> list[tuple[JobBlock, str, str]]:
    """The newest blocklist entries of every job, each with its job's and worker's name."""
    rows = session.execute(
        select(JobBlock, Job.name, Worker.name)
        .join(Job, Job.id == JobBlock.job_id)
        .join(Worker, Worker.id == JobBlock.worker_id)
        .order_by(JobBlock.created.desc())
        .limit(limit)
    ).all()
    return [(block, job_name, worker_name) for block, job_name, worker_name in rows]


def busy_awake_workers(session: Session) -> int:
    """Awake workers that hold an active task."""
    query = (
        select(func.count(distinct(Task.worker_id)))
        .join(Worker, Worker.id == Task.worker_id)
        .where(Task.status == TaskStatus.ACTIVE, Worker.status == WorkerStatus.AWAKE)
    )
    return session.scalar(query) or 0


def queued_tasks_of_shown_jobs(session: Session) -> int:
    """Queued and soft-failed tasks, from the counters of the jobs that are whole."""
    query = select(func.sum(Job.tasks_queued + Job.tasks_soft_failed)).where(
        Job.status != JobStatus.UNDER_CONSTRUCTION
    )
    return session.scalar(query) or 0


def queued_frames(session: Session) -> int:
    """Frames of the tasks that may still be handed out."""
    query = select(func.sum(Task.frame_count)).where(Task.status.in_(RUNNABLE_TASK_STATUSES))
    return session.scalar(query) or 0


def completed_since(session: Session, since: datetime) -> tuple[int, int]:
    """Tasks completed since then, and their frames."""
    done_tasks, done_frames = session.execute(
        select(func.count(), func.sum(Task.frame_count)).where(
            Task.status == TaskStatus.COMPLETED, Task.last_touched >= since
        )
    ).one()
    return int(done_tasks or 0), int(done_frames or 0)
