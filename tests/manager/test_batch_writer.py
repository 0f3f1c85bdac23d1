"""The batch writer: requests share a commit, a failing one undoes only its own changes,
and a caller hears back only once its changes are committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from manager.core.events import EventBus, record
from manager.db.batch_writer import BatchWriter
from manager.db.session import Database
from tests.conftest import database_backends, database_url

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

T = TypeVar("T")


@pytest.fixture
def db(tmp_path: Path, backend: str) -> Iterator[Database]:
    database = Database(database_url(backend, tmp_path))
    with database.write() as session:
        session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(50))"))
    yield database
    database.dispose()


def add(note_id: int, body: str = "x") -> Callable[[Session], int]:
    def work(session: Session) -> int:
        insert = text("INSERT INTO notes VALUES (:id, :body)")
        session.execute(insert, {"id": note_id, "body": body})
        return note_id

    return work


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the browser tests leave an event loop running
    on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main).result()


def stored(db: Database) -> dict[int, str]:
    with db.read() as session:
        return {row[0]: row[1] for row in session.execute(text("SELECT id, body FROM notes"))}


def test_each_caller_gets_its_own_result_once_committed(db: Database) -> None:
    writer = BatchWriter(db)

    async def main() -> list[int]:
        results = []
        for note_id in range(5):
            results.append(await writer.run(add(note_id)))
            assert note_id in stored(db), "answered before the commit"
        return results

    assert run_async(main()) == [0, 1, 2, 3, 4]
    writer.close()


def test_a_failing_request_undoes_only_its_own_changes(db: Database) -> None:
    writer = BatchWriter(db)
    queued_behind = threading.Event()

    def hold(session: Session) -> str:
        # Runs alone; the next four queue up behind it and so run as one batch.
        assert queued_behind.wait(10)
        return "held"

    def half_then_duplicate(session: Session) -> None:
        session.execute(text("INSERT INTO notes VALUES (10, 'half')"))
        session.execute(text("INSERT INTO notes VALUES (1, 'duplicate')"))

    async def main() -> list[object]:
        first = asyncio.ensure_future(writer.run(hold))
        await asyncio.sleep(0.05)
        rest = [
            asyncio.ensure_future(writer.run(work))
            for work in (add(1, "one"), half_then_duplicate, add(2, "two"), add(3, "three"))
        ]
        await asyncio.sleep(0.05)
        queued_behind.set()
        return list(await asyncio.gather(first, *rest, return_exceptions=True))

    held, one, failed, two, three = run_async(main())
    assert (held, one, two, three) == ("held", 1, 2, 3)
    assert isinstance(failed, IntegrityError)
    assert stored(db) == {1: "one", 2: "two", 3: "three"}
    writer.close()


def test_close_finishes_what_is_queued(db: Database) -> None:
    writer = BatchWriter(db)

    async def main() -> None:
        pending = [asyncio.ensure_future(writer.run(add(i))) for i in range(20)]
        await asyncio.sleep(0)
        await asyncio.gather(*pending)

    run_async(main())
    writer.close()
    assert sorted(stored(db)) == list(range(20))
    with pytest.raises(RuntimeError, match="shutting down"):
        run_async(writer.run(add(99)))


def test_only_the_events_of_committed_requests_are_published(tmp_path: Path, backend: str) -> None:
    bus = EventBus()
    database = Database(database_url(backend, tmp_path), bus)
    with database.write() as session:
        session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(50))"))
    writer = BatchWriter(database)
    queued_behind = threading.Event()

    def noting(work: Callable[[Session], Any], name: str) -> Callable[[Session], Any]:
        def run(session: Session) -> Any:
            record(session, "note", name=name)
            return work(session)

        return run

    def duplicate(session: Session) -> None:
        session.execute(text("INSERT INTO notes VALUES (1, 'duplicate')"))

    async def main() -> list[object]:
        first = asyncio.ensure_future(writer.run(lambda s: queued_behind.wait(10)))
        await asyncio.sleep(0.05)
        rest = [
            asyncio.ensure_future(writer.run(work))
            for work in (noting(add(1), "one"), noting(duplicate, "dup"), noting(add(2), "two"))
        ]
        await asyncio.sleep(0.05)
        queued_behind.set()
        return list(await asyncio.gather(first, *rest, return_exceptions=True))

    with bus.subscribe() as events:
        run_async(main())
        try:
            with database.write() as session:
                record(session, "note", name="rolled back")
                raise RuntimeError("the block fails")
        except RuntimeError:
            pass
        published = [events.get_nowait()["name"] for _ in range(events.qsize())]
    writer.close()
    database.dispose()
    assert sorted(published) == ["one", "two"]
