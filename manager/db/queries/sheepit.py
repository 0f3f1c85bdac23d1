"""Statements on what the SheepIt-style door keeps beside the core: its users and the
sessions its clients open (``sheepit_users``, ``sheepit_sessions``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db.protocol_models import SheepitSession, SheepitUser


def users_by_login(session: Session) -> list[SheepitUser]:
    return list(session.scalars(select(SheepitUser).order_by(SheepitUser.login)).all())


def open_sessions_of_worker(session: Session, worker_id: str) -> list[SheepitSession]:
    return list(
        session.scalars(
            select(SheepitSession).where(
                SheepitSession.worker_id == worker_id, SheepitSession.ended.is_(False)
            )
        ).all()
    )


def worker_has_open_session(session: Session, worker_id: str) -> bool:
    open_session = session.scalar(
        select(SheepitSession.token_hash)
        .where(SheepitSession.worker_id == worker_id, SheepitSession.ended.is_(False))
        .limit(1)
    )
    return open_session is not None
