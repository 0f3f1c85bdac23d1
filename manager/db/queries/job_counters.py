"""The job's per-status task counters: the one place that sets and changes them.

Every change is relative to what is stored (``tasks_queued = tasks_queued - 1``), so two
transactions never write a counter over each other, and a loaded copy of the job never writes
an old value back: it is flushed before and its counters expired after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

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


_RETURNED = (
    _JOBS.c.status,
    _JOBS.c.tasks_queued,
    _JOBS.c.tasks_soft_failed,
    _JOBS.c.tasks_active,
    _JOBS.c.tasks_paused,
    _JOBS.c.tasks_failed,
    _JOBS.c.tasks_completed,
)
_CHANGED_ATTRIBUTES = [*COUNTER.values(), "status", "activity", "updated"]

#: One statement per shape of change (which counters, whether status and activity are set,
#: whether the counts come back), each naming only what it changes: a claim and a completion
#: run one on every worker poll.
_STATEMENTS: dict[tuple[tuple[str, ...], bool, bool, bool], Prepared] = {}


def _statement(counters: tuple[str, ...], status: bool, activity: bool, read: bool) -> Prepared:
    key = (counters, status, activity, read)
    statement = _STATEMENTS.get(key)
    if statement is None:
        values: dict[str, Any] = {
            column: _JOBS.c[column] + bindparam(column, type_=Integer) for column in counters
        }
        if status:
            values["status"] = bindparam("status", type_=String)
        if activity:
            values["activity"] = bindparam("activity", type_=Text)
        values["updated"] = bindparam("now", type_=_JOBS.c.updated.type)
        change = update(_JOBS).where(_JOBS.c.id == bindparam("job_id")).values(values)
        statement = _STATEMENTS[key] = Prepared(change.returning(*_RETURNED) if read else change)
    return statement


def change_job_counts(
    session: Session,
    job_id: str,
    moved: Mapping[str, int],
    now: datetime,
    *,
    status: str | None = None,
    activity: str | None = None,
) -> None:
    """Add ``moved[status]`` to the job's counter of each task status (negative: tasks left
    it); ``status`` and ``activity`` of the job change too when given."""
    _change(session, job_id, moved, now, status, activity, read=False)


def change_and_read_job_counts(
    session: Session,
    job_id: str,
    moved: Mapping[str, int],
    now: datetime,
    *,
    status: str | None = None,
    activity: str | None = None,
) -> JobCounts:
    """``change_job_counts``, and the job's status and counters after the change."""
    row = _change(session, job_id, moved, now, status, activity, read=True)
    assert row is not None
    return JobCounts(*row)


def _change(
    session: Session,
    job_id: str,
    moved: Mapping[str, int],
    now: datetime,
    status: str | None,
    activity: str | None,
    *,
    read: bool,
) -> tuple[Any, ...] | None:
    loaded = session.identity_map.get(identity_key(Job, job_id))
    if loaded is not None:
        session.flush()  # its pending changes would be lost to the expiry below
    deltas: dict[str, int] = {}
    for task_status, count in moved.items():
        column = COUNTER[TaskStatus(task_status)]
        deltas[column] = deltas.get(column, 0) + count
    params: dict[str, Any] = {"job_id": job_id, "now": now, **deltas}
    if status is not None:
        params["status"] = status
    if activity is not None:
        params["activity"] = activity
    statement = _statement(tuple(sorted(deltas)), status is not None, activity is not None, read)
    row = statement.first(session, **params) if read else None
    changed = row is not None if read else statement.execute(session, **params) == 1
    if loaded is not None:
        session.expire(loaded, _CHANGED_ATTRIBUTES)
    if not changed:
        raise LookupError(f"no job {job_id}")
    return row


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
