"""Prepared statements give what SQLAlchemy's own execution gives: typed values both ways
(aware UTC datetimes, JSON, booleans), literals in the statement, rows changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    text,
    update,
)

from manager.db.models import UTCDateTime
from manager.db.prepared import Prepared
from manager.db.session import Database
from tests.conftest import database_backends, database_url

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("seen", UTCDateTime, nullable=True),
    Column("facts", JSON),
    Column("count", Integer),
    Column("flag", Boolean),
)


@pytest.fixture
def db(tmp_path: Path, backend: str) -> Iterator[Database]:
    database = Database(database_url(backend, tmp_path))
    metadata.create_all(database.write_engine)
    yield database
    database.dispose()


READ = Prepared(select(things).where(things.c.id == bindparam("id")))
BUMP = Prepared(
    update(things)
    .where(things.c.count < bindparam("below"))
    .values(count=things.c.count + 1, seen=bindparam("now"))
)


def test_values_read_as_sqlalchemy_reads_them(db: Database) -> None:
    seen = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    with db.write() as session:
        session.execute(
            things.insert(),
            [
                {"id": "a", "seen": seen, "facts": {"t": ["blender"]}, "count": 1, "flag": True},
                {"id": "b", "seen": None, "facts": [], "count": 5, "flag": False},
            ],
        )
    with db.read() as session:
        for key in ("a", "b"):
            expected = tuple(session.execute(select(things).where(things.c.id == key)).one())
            assert READ.first(session, id=key) == expected
        row = READ.first(session, id="a")
        assert row is not None and row[1] == seen and row[1].tzinfo == UTC
        assert READ.first(session, id="missing") is None
        count_of = Prepared(text("SELECT count FROM things WHERE id = :id"))
        assert count_of.scalar(session, id="b") == 5


def test_updates_bind_datetimes_and_literals_and_count_rows(db: Database) -> None:
    with db.write() as session:
        session.execute(
            things.insert(), [{"id": k, "facts": {}, "count": n} for k, n in (("a", 1), ("b", 5))]
        )
    now = datetime(2026, 11, 29, 8, 0, 0, 0, tzinfo=UTC)
    with db.write() as session:
        assert BUMP.execute(session, below=3, now=now) == 1
    with db.read() as session:
        rows = {r.id: (r.count, r.seen) for r in session.execute(select(things))}
        assert rows == {"a": (2, now), "b": (5, None)}
        # Stored as SQLAlchemy stores it, so its own comparisons still find the row.
        assert session.scalar(select(things.c.id).where(things.c.seen == now)) == "a"
