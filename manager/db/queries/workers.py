"""Statements on workers: the worker hot path's as plain statements without ORM objects, and
the reads of the health checks and the farm's status."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    extract,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from manager.core.statuses import LIVE_WORKER_STATUSES
from manager.core.worker_facts import WorkerFacts
from manager.db.models import (
    JobBlock,
    SleepSchedule,
    Task,
    TaskFailure,
    UTCDateTime,
    Worker,
    WorkerTag,
)
from manager.db.prepared import Prepared

_WORKERS = cast(Table, Worker.__table__)

_FACTS = Prepared(
    select(*(_WORKERS.c[name] for name in WorkerFacts.__slots__)).where(
        _WORKERS.c.id == bindparam("worker_id")
    )
)

_MARK_SEEN = Prepared(
    update(_WORKERS)
    .where(_WORKERS.c.id == bindparam("worker_id"))
    .values(last_seen=bindparam("now", type_=_WORKERS.c.last_seen.type))
)


def worker_facts(session: Session, worker_id: str) -> WorkerFacts | None:
    row = _FACTS.first(session, worker_id=worker_id)
    return WorkerFacts(*row) if row is not None else None


def mark_worker_seen(session: Session, worker_id: str, now: datetime) -> None:
    """Store when the worker was last heard from.

    A copy of the worker the session has loaded gets the time instead: a statement behind
    its back would have the ORM write an older time over it, or, expired to avoid that,
    lose the changes the caller has made to it and not flushed yet."""
    loaded = session.identity_map.get(identity_key(Worker, worker_id))
    if isinstance(loaded, Worker):
        loaded.last_seen = now
    else:
        _MARK_SEEN.execute(session, worker_id=worker_id, now=now)


def live_workers_silent(
    session: Session, now: datetime, default_silent_after_s: float, up_for_s: float
) -> list[Worker]:
    """Workers expected to talk to the manager that have been silent longer than they may be:
    their own ``silent_after_s``, else ``default_silent_after_s``. Silence counts only from
    the manager's start (``up_for_s`` seconds ago): nobody could talk to a manager that was
    down."""
    allowed = func.coalesce(Worker.silent_after_s, default_silent_after_s)
    return list(
        session.scalars(
            select(Worker).where(
                Worker.status.in_(LIVE_WORKER_STATUSES),
                Worker.last_seen.is_not(None),
                allowed < up_for_s,
                _seconds_between(session, Worker.last_seen, now) > allowed,
            )
        ).all()
    )


def _seconds_between(session: Session, earlier: Any, later: datetime) -> ColumnElement[float]:
    """``later - earlier`` in seconds, in the database's own date arithmetic."""
    later_value = literal(later, UTCDateTime())
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later_value) - func.julianday(earlier)) * 86400.0
    return cast(ColumnElement[float], extract("epoch", later_value - earlier))


def active_sleep_schedules(session: Session) -> list[SleepSchedule]:
    return list(session.scalars(select(SleepSchedule).where(SleepSchedule.is_active)).all())


def worker_status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Worker.status, func.count()).group_by(Worker.status)).all()
    return {status: count for status, count in rows}


def tag_named(session: Session, name: str) -> WorkerTag | None:
    tag: WorkerTag | None = session.scalar(select(WorkerTag).where(WorkerTag.name == name))
    return tag


def forget_worker(session: Session, worker_id: str) -> None:
    """Remove what refers to the worker (its failures, blocks, sleep schedule, the tasks it
    ran), so that the worker itself can go."""
    session.execute(delete(TaskFailure).where(TaskFailure.worker_id == worker_id))
    session.execute(delete(JobBlock).where(JobBlock.worker_id == worker_id))
    session.execute(delete(SleepSchedule).where(SleepSchedule.worker_id == worker_id))
    for task in session.scalars(select(Task).where(Task.worker_id == worker_id)):
        task.worker_id = None
