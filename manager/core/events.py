"""In-process publish/subscribe of farm changes, for live views (dashboard server-sent events).

Core functions ``record`` what happened on their database session; the database layer
publishes those events once the transaction has committed (and drops them when it rolls
back), so an event never tells of a change that did not happen, whichever door the change
came through. Subscribers get them on their own queue and never block a publisher: a
subscriber that falls behind loses its oldest events and is told to reload
(``{"type": "resync"}``). Reactions that must follow a change (the clean-up of a deleted
job's files) are ``on`` hooks, run by the publisher after the commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Event = dict[str, Any]

SUBSCRIBER_QUEUE_SIZE = 1000


_RECORDED = "farmhand.events"


def record(session: Session, kind: str, **payload: Any) -> None:
    """Note an event on the session; it is published if and when the session commits.
    Payload values are plain ones (ids, flags, short text), compared to drop repeats."""
    session.info.setdefault(_RECORDED, []).append({"type": kind, **payload})


def recorded_count(session: Session) -> int:
    return len(session.info.get(_RECORDED, ()))


def forget_since(session: Session, count: int) -> None:
    """Drop what was recorded after ``count`` events: that part was rolled back."""
    del session.info.get(_RECORDED, [])[count:]


def take_recorded(session: Session) -> list[Event]:
    """What the session recorded, each distinct event once: a transaction that changes a
    job twice (or a batch in which two requests touch one task) tells of it once."""
    unique: dict[tuple[tuple[str, Any], ...], Event] = {}
    for event in session.info.pop(_RECORDED, ()):
        unique.setdefault(tuple(sorted(event.items())), event)
    return list(unique.values())


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Event]] = []
        self._hooks: list[tuple[str, Callable[[Event], None]]] = []

    def on(self, kind: str, hook: Callable[[Event], None]) -> None:
        """Call ``hook(event)`` for every published event of ``kind``, in the publisher."""
        with self._lock:
            self._hooks.append((kind, hook))

    def publish_all(self, events: list[Event]) -> None:
        for event in events:
            payload = {key: value for key, value in event.items() if key != "type"}
            self.publish(event["type"], **payload)

    def publish(self, kind: str, **payload: Any) -> None:
        event: Event = {"type": kind, **payload}
        with self._lock:
            subscribers = list(self._subscribers)
            hooks = [hook for hooked, hook in self._hooks if hooked == kind]
        for hook in hooks:
            try:
                hook(event)
            except Exception:  # noqa: BLE001 - the change is committed; a hook cannot undo it
                log.exception("event hook for %s failed", kind)
        for q in subscribers:
            try:
                q.put_nowait(event)
            except queue.Full:
                self._drain_and_resync(q)

    @staticmethod
    def _drain_and_resync(q: queue.Queue[Event]) -> None:
        try:
            while True:
                q.get_nowait()
        except queue.Empty:
            pass
        q.put_nowait({"type": "resync"})

    @contextmanager
    def subscribe(self) -> Iterator[queue.Queue[Event]]:
        q: queue.Queue[Event] = queue.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        with self._lock:
            self._subscribers.append(q)
        try:
            yield q
        finally:
            with self._lock:
                self._subscribers.remove(q)
