"""Short write transactions run back to back on one thread, many to a commit.

Every worker request (poll for a task, progress, completion) is a small write transaction.
Run in the request thread pool, dozens of them would queue on SQLite's single write lock and
take turns on the GIL, and each would pay for its own BEGIN and COMMIT. Here they queue once
and run one after another on a thread of their own; those waiting together share one
commit. Should one of them fail, the shared transaction rolls back and they run again, each
in a SAVEPOINT, so the failure undoes only its own changes. A caller is answered only after
the commit that holds its changes, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from manager.core.events import forget_since, recorded_count
from manager.db.session import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Enough to share a commit among a busy farm's polls, few enough that the first of them
#: does not wait long for the last.
MAX_BATCH = 64


@dataclass(slots=True)
class _Work:
    run: Callable[[Session], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _run_one(work: _Work, session: Session) -> Any:
    """Run one request's work so that the next one starts as if in a session of its own:
    its changes written, nothing it loaded left in the session."""
    result = work.run(session)
    session.flush()
    session.expunge_all()
    return result


class BatchWriter:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.last_batch_at = 0.0
        """When the last batch was done (``time.monotonic``): readers hold back while the
        workers' requests keep coming."""

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a write transaction; its result once it is committed."""
        if self._closed:
            raise RuntimeError("the manager is shutting down")
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Work(work, future, loop))
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._closed = True
        with self._start_lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="farmhand-batch-writer", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._run_batch(batch)
            self.last_batch_at = time.monotonic()

    def _run_batch(self, batch: list[_Work]) -> None:
        if len(batch) == 1:
            outcomes = [self._run_alone(batch[0])]
        else:
            try:
                outcomes = self._run_together(batch)
            except Exception:  # noqa: BLE001 - rolled back; each runs again on its own
                outcomes = self._run_apart(batch)
        for work, (ok, value) in zip(batch, outcomes, strict=True):
            try:
                work.loop.call_soon_threadsafe(_settle, work.future, ok, value)
            except RuntimeError:  # that caller's event loop has closed; nobody is waiting
                pass

    def _run_alone(self, work: _Work) -> tuple[bool, Any]:
        try:
            with self._db.write() as session:
                result = work.run(session)
        except Exception as exc:  # noqa: BLE001 - handed to the caller to answer
            return False, exc
        return True, result

    def _run_together(self, batch: list[_Work]) -> list[tuple[bool, Any]]:
        """All in one transaction without savepoints: the common case, where none fails.
        When one does, the whole transaction rolls back and ``_run_apart`` runs them again."""
        with self._db.write() as session:
            results = [_run_one(work, session) for work in batch]
        return [(True, result) for result in results]

    def _run_apart(self, batch: list[_Work]) -> list[tuple[bool, Any]]:
        """Each in a savepoint, so one that fails rolls back only its own changes."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._db.write() as session:
                for work in batch:
                    recorded = recorded_count(session)
                    try:
                        with session.begin_nested():
                            outcomes.append((True, _run_one(work, session)))
                    except Exception as exc:  # noqa: BLE001 - handed to the caller to answer
                        forget_since(session, recorded)  # its events did not happen
                        outcomes.append((False, exc))
        except Exception as exc:  # noqa: BLE001 - the commit failed: none of it was stored
            log.exception("a batch of %d write transactions failed to commit", len(batch))
            outcomes = [(False, exc)] * len(batch)
        return outcomes
