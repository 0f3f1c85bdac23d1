"""The job's per-status task counters: the one place that sets and changes them.

Every change is relative to what is stored (``tasks_queued = tasks_queued - 1``), so two
transactions never write a counter over each other, and a loaded copy of the job never writes
an old value back: it is flushed before and its counters expired after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Integer, String, Table, Text, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from manager.core.statuses import TaskStatus
from manager.db.models import Job, Task
from manager.db.prepared import Prepared

_JOBS = cast(Table, Job.__table__)

COUNTER = {
    TaskStatus.QUEUED: "tasks_queued",
    TaskStatus.ACTIVE: "tasks_active",
    TaskStatus.COMPLETED: "tasks_completed",
    TaskStatus.FAILED: "tasks_failed",
    TaskStatus.SOFT_FAILED: "tasks_soft_failed",
    TaskStatus.CANCELED: "tasks_canceled",
    TaskStatus.PAUSED: "tasks_paused",
}


@dataclass(frozen=True, slots=True)
class JobCounts:
    """The job's status and counters right after a change."""

    status: str
    queued: int
    soft_failed: int
    active: int
    paused: int
    failed: int
    completed: int


_CHANGE = Prepared(
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(
        {
            **{
                column: _JOBS.c[column] + bindparam(column, type_=Integer)
                for column in COUNTER.values()
            },
            # COALESCE keeps what the caller leaves out.
            "status": func.coalesce(bindparam("status", type_=String), _JOBS.c.status),
            "activity": func.coalesce(bindparam("activity", type_=Text), _JOBS.c.activity),
            "updated": bindparam("now", type_=_JOBS.c.updated.type),
        }
    )
    .returning(
        _JOBS.c.status,
        _JOBS.c.tasks_queued,
        _JOBS.c.tasks_soft_failed,
        _JOBS.c.tasks_active,
        _JOBS.c.tasks_paused,
        _JOBS.c.tasks_failed,
        _JOBS.c.tasks_completed,
    )
)
_NO_CHANGE = dict.fromkeys(COUNTER.values(), 0)
_CHANGED_ATTRIBUTES = [*COUNTER.values(), "status", "activity", "updated"]


def change_job_counts(
    session: Session,
    job_id: str,
    moved: Mapping[str, int],
    now: datetime,
    *,
    status: str | None = None,
    activity: str | None = None,
) -> JobCounts:
    """Add ``moved[status]`` to the job's counter of each task status (negative: tasks left
    it); ``status`` and ``activity`` of the job change too when given."""
    loaded = session.identity_map.get(identity_key(Job, job_id))
    if loaded is not None:
        session.flush()  # its pending changes would be lost to the expiry below
    deltas = dict(_NO_CHANGE)
    for task_status, count in moved.items():
        deltas[COUNTER[TaskStatus(task_status)]] += count
    row = _CHANGE.first(session, job_id=job_id, now=now, status=status, activity=activity, **deltas)
    if loaded is not None:
        session.expire(loaded, _CHANGED_ATTRIBUTES)
    if row is None:
        raise LookupError(f"no job {job_id}")
    return JobCounts(*row)


def initial_job_counts(task_count: int, status: TaskStatus) -> dict[str, int]:
    """The counters of a new job whose ``task_count`` tasks all start in ``status``."""
    counts = dict.fromkeys(COUNTER.values(), 0)
    counts[COUNTER[status]] = task_count
    return {"tasks_total": task_count, **counts}


def recount_job(session: Session, job: Job) -> None:
    """Rebuild the job's counters from its tasks (after bulk changes or for repairs)."""
    counts = dict(
        session.execute(
            select(Task.status, func.count()).where(Task.job_id == job.id).group_by(Task.status)
        ).all()
    )
    for task_status, attribute in COUNTER.items():
        setattr(job, attribute, counts.get(task_status.value, 0))
    job.tasks_total = sum(counts.values())
