"""Statements on workers: the worker hot path's as plain statements without ORM objects, and
the reads of the health checks and the farm's status."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from manager.core.statuses import LIVE_WORKER_STATUSES
from manager.core.worker_facts import WorkerFacts
from manager.db.models import JobBlock, SleepSchedule, Task, TaskFailure, Worker, WorkerTag
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


def live_workers_silent_since(session: Session, deadline: datetime) -> list[Worker]:
    """Workers expected to talk to the manager that have not since ``deadline``."""
    return list(
        session.scalars(
            select(Worker).where(
                Worker.status.in_(LIVE_WORKER_STATUSES), Worker.last_seen < deadline
            )
        ).all()
    )


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
