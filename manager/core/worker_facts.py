"""What the worker hot path needs to know of a worker, read without the ORM.

Every poll and task report is authenticated; loading the full ``Worker`` object for each
cost more than the rest of the request's database work. Endpoints that change the worker
itself (sign-on, state changes) load the ORM object as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from manager.core.credentials import SecretVerifier
from manager.core.errors import WORKER_CHALLENGE, Unauthorized
from manager.db.models import Worker
from manager.db.prepared import Prepared
from manager.db.session import expire_loaded


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    id: str
    name: str
    secret_hash: str
    platform: str
    supported_task_types: list[str]
    status: str
    status_requested: str | None
    lazy_status_request: bool
    last_seen: datetime | None


#: A worker as the task and scheduling functions need it: the ORM object or its facts.
AnyWorker = Worker | WorkerFacts

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

#: Writing last_seen on every request would cost a row update per poll; this is precise
#: enough for timeouts measured in tens of seconds.
LAST_SEEN_RESOLUTION = timedelta(seconds=2)


def authenticated_worker(
    session: Session, verifier: SecretVerifier, worker_id: str, secret: str
) -> WorkerFacts:
    row = _FACTS.first(session, worker_id=worker_id)
    if row is None or not verifier.verify(worker_id, secret, row[2]):
        raise Unauthorized("unknown worker or wrong secret", WORKER_CHALLENGE)
    return WorkerFacts(*row)


def record_seen(session: Session, worker: WorkerFacts, now: datetime) -> None:
    if worker.last_seen is None or now - worker.last_seen >= LAST_SEEN_RESOLUTION:
        _MARK_SEEN.execute(session, worker_id=worker.id, now=now)
        expire_loaded(session, Worker, worker.id)
