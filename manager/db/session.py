"""Engines and transactions for SQLite (embedded, WAL) and PostgreSQL.

SQLite allows one writer at a time. Writers in this process queue on a lock and open their
transaction with ``BEGIN IMMEDIATE``, so they never fail half-way with "database is locked"
when upgrading a read to a write; other processes (a second manager) wait on busy_timeout.
The lock is handed over in arrival order: a long job of many short transactions (a big
submission stored in steps) lets the worker requests that queued meanwhile go in between,
where a plain lock would let the thread that just released it take it again at once.
Readers have their own engine and connections: in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from manager.core.events import EventBus, take_recorded

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: The WAL is copied back into the database file by a thread of its own every so often,
#: not by whichever transaction commits when it passes 1000 pages (SQLite's default): that
#: copy and its fsync held up the worker requests queued behind the commit. Commits still
#: checkpoint past this many pages, should the thread fall behind.
CHECKPOINT_INTERVAL_S = 0.5
COMMIT_CHECKPOINT_PAGES = 10_000


def _json_out(value: Any) -> str:
    # JSON has no infinity or NaN: Python would write ``Infinity``, which PostgreSQL refuses
    # and which no JSON answer can carry, so one stored reading would break every read.
    return json.dumps(value, allow_nan=False)


def _json_in(text: str) -> Any:
    # A database written before that rule may hold them still: read as "no reading".
    return json.loads(text, parse_constant=lambda _constant: None)


#: How every engine stores JSON columns.
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_out, "json_deserializer": _json_in}


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, pool_size=20, max_overflow=20, pool_timeout=60, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={COMMIT_CHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class FairLock:
    """A lock that goes to its waiters in the order they came (first in, first out)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the holder before us, which hands the lock over

    def __exit__(self, *_exc: object) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False


class _Checkpointer:
    """Runs passive WAL checkpoints, which never wait for nor block the writers."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            while not self._stop.wait(CHECKPOINT_INTERVAL_S):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; trying again", exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Database:
    """The farm's database: ``read()`` and ``write()`` sessions that commit on success."""

    def __init__(self, url: str, events: EventBus | None = None) -> None:
        self.url = url
        self.events = events
        """Where the events recorded on committed write sessions go."""
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        self._checkpointer: _Checkpointer | None = None
        self._checkpoint_file: str | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        else:
            self.write_engine = create_engine(
                url, pool_size=20, max_overflow=20, pool_pre_ping=True, **JSON_CODEC
            )
            # A pool of its own: a burst of dashboard reads never takes the connections the
            # worker requests write with.
            self.read_engine = create_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True, **JSON_CODEC
            )
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_lock = FairLock() if self.is_sqlite else None
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            # After the engines' first connection has switched the file to WAL mode.
            with self.write_engine.connect():
                pass
            self._checkpoint_file = parsed.database

    def start_checkpoints(self) -> None:
        """Passive WAL checkpoints in a thread of their own, for a SQLite file; the app's
        lifespan starts them, ``dispose`` stops them."""
        if self._checkpoint_file is not None and self._checkpointer is None:
            self._checkpointer = _Checkpointer(self._checkpoint_file)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for a transaction that changes data; commits when the block succeeds,
        then publishes the events core recorded on it."""
        with self._write_lock or nullcontext(), self._write_sessions() as session:
            with session.begin():
                yield session
            committed = take_recorded(session)
        if committed and self.events is not None:
            self.events.publish_all(committed)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session:
            with session.begin():
                yield session

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (row locks and SKIP LOCKED are available)."""
    return session.get_bind().dialect.name == "postgresql"


def expire_loaded(session: Session, model: type[Any], key: str) -> None:
    """Make a loaded copy of this row, if the session holds one, read it again: plain
    statements changed the row behind the ORM's back."""
    loaded = session.identity_map.get(identity_key(model, key))
    if loaded is not None:
        session.expire(loaded)
