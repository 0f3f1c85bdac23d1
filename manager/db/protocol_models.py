"""Tables of the protocol adapters: who a protocol's clients are in the core, and what each
protocol must remember that the core has no column for (SheepIt users, cluster reports).
They live with the other tables so that one metadata holds them all (see ``schema``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from manager.db.models import UUID_LEN, Base, UTCDateTime


class ProtocolWorker(Base):
    """A protocol's own name for a core worker: a /farm node's name, a 2015 hostname, a
    SheepIt session. ``number`` is the integer id the 2015 API shows."""

    __tablename__ = "protocol_workers"

    protocol: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    worker_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("workers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Rest2015Task(Base):
    """A 2015 task (its integer id) and the core job it became."""

    __tablename__ = "rest2015_tasks"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    job_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("jobs.id", ondelete="CASCADE"), unique=True
    )
    parser: Mapped[str] = mapped_column(String(200), default="")


class SheepitUser(Base):
    __tablename__ = "sheepit_users"

    login: Mapped[str] = mapped_column(String(200), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    can_render: Mapped[bool] = mapped_column(Boolean, default=True)
    #: After this time logins are answered 103 (web session expired) until it is renewed.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    frames_rendered: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class SheepitKey(Base):
    """A key a login answered in ``publickey``, which the client sends in place of the
    password at later logins; only its sha256 is kept (it is 256 random bits, no password)."""

    __tablename__ = "sheepit_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(
        String(200), ForeignKey("sheepit_users.login", ondelete="CASCADE"), index=True
    )
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime] = mapped_column(UTCDateTime)


class SheepitSession(Base):
    """One logged-in SheepIt client; the cookie holds the token, this table its sha256."""

    __tablename__ = "sheepit_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(
        String(200), ForeignKey("sheepit_users.login", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("workers.id", ondelete="CASCADE"), index=True
    )
    os: Mapped[str] = mapped_column(String(16))
    bits: Mapped[str] = mapped_column(String(8))
    broken_frames: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    frames_rendered: Mapped[int] = mapped_column(Integer, default=0)
    last_job_id: Mapped[str | None] = mapped_column(String(UUID_LEN), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class ProtocolFlag(Base):
    """Small switches of the adapters that every manager on the database must see alike
    (SheepIt's maintenance mode)."""

    __tablename__ = "protocol_flags"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class ClusterReport(Base):
    """A job already listed to a cluster by ``/potential``: it is never listed to it again."""

    __tablename__ = "cluster_reports"

    cluster: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )


class ClusterMirror(Base):
    """An upstream task pulled by this (downstream) manager and the local job rendering it."""

    __tablename__ = "cluster_mirrors"

    upstream_task: Mapped[str] = mapped_column(String(200), primary_key=True)
    upstream: Mapped[str] = mapped_column(String(1000))
    local_job_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    frame: Mapped[Any] = mapped_column(JSON)
    #: ``running`` while upstream waits for it; ``done`` or ``dropped`` once reported.
    state: Mapped[str] = mapped_column(String(16), default="running")
    created: Mapped[datetime] = mapped_column(UTCDateTime)
