"""In-process publish/subscribe of farm changes, for live views (dashboard server-sent events).

Core functions publish small dicts after their transaction commits; subscribers get them on
their own queue and never block a publisher: a subscriber that falls behind loses its oldest
events and is told to reload (``{"type": "resync"}``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Event = dict[str, Any]

SUBSCRIBER_QUEUE_SIZE = 1000


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Event]] = []

    def publish(self, kind: str, **payload: Any) -> None:
        event: Event = {"type": kind, **payload}
        with self._lock:
            subscribers = list(self._subscribers)
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
