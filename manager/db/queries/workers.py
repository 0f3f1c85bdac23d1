"""Reads and writes of workers for the worker hot path: plain statements, no ORM objects."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from manager.core.worker_facts import WorkerFacts
from manager.db.models import Worker
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
