"""Statements on the protocols' own names for core workers (``protocol_workers``): the
integer ids some protocols show, and a protocol's workers in the order of those ids."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.db.models import Worker
from manager.db.protocol_models import ProtocolWorker


def highest_worker_number(session: Session, protocol: str) -> int:
    """The highest integer id the protocol gave a worker; 0 before the first."""
    highest = session.scalar(
        select(func.max(ProtocolWorker.number)).where(ProtocolWorker.protocol == protocol)
    )
    return highest or 0


def worker_number(session: Session, protocol: str, worker_id: str) -> int | None:
    """The integer id the protocol shows for the core worker."""
    number: int | None = session.scalar(
        select(ProtocolWorker.number).where(
            ProtocolWorker.worker_id == worker_id, ProtocolWorker.protocol == protocol
        )
    )
    return number


def worker_numbered(session: Session, protocol: str, number: int) -> ProtocolWorker | None:
    row: ProtocolWorker | None = session.scalar(
        select(ProtocolWorker).where(
            ProtocolWorker.protocol == protocol, ProtocolWorker.number == number
        )
    )
    return row


def workers_by_number(session: Session, protocol: str) -> list[tuple[Worker, int | None]]:
    """The protocol's core workers and their integer ids, lowest id first."""
    rows = session.execute(
        select(Worker, ProtocolWorker.number)
        .join(ProtocolWorker, ProtocolWorker.worker_id == Worker.id)
        .where(ProtocolWorker.protocol == protocol)
        .order_by(ProtocolWorker.number)
    ).all()
    return [(worker, number) for worker, number in rows]
