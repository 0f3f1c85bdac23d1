"""Statements on what the SheepIt-style door keeps beside the core: its users, the keys their
logins answered and the sessions its clients open (``sheepit_users``, ``sheepit_keys``,
``sheepit_sessions``)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from manager.db.protocol_models import SheepitKey, SheepitSession, SheepitUser


def users_by_login(session: Session) -> list[SheepitUser]:
    return list(session.scalars(select(SheepitUser).order_by(SheepitUser.login)).all())


def keys_of_login(session: Session, login: str) -> list[SheepitKey]:
    """The login's keys, the most recently used first."""
    return list(
        session.scalars(
            select(SheepitKey)
            .where(SheepitKey.login == login)
            .order_by(SheepitKey.last_used.desc(), SheepitKey.created.desc())
        ).all()
    )


def key_counts_by_login(session: Session) -> dict[str, int]:
    rows = session.execute(select(SheepitKey.login, func.count()).group_by(SheepitKey.login)).all()
    return {login: count for login, count in rows}


def delete_keys_of_login(session: Session, login: str) -> None:
    session.execute(delete(SheepitKey).where(SheepitKey.login == login))


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
