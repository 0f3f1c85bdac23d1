"""Server-sent events for the dashboard, fed by the farm's event bus.

Each stream wakes every ``TICK_SECONDS``, sends what the bus delivered since (bursts merged
into one message), a comment every ``HEARTBEAT_SECONDS`` so proxies keep it open, and ends
after ``STREAM_SECONDS`` or when the client goes away. Ending on time matters: uvicorn waits
for open responses when it shuts down, and a stream that never ends would hold it forever.
The browser reconnects at once (``retry``), and the page's subscription is kept for
``KEEP_DETACHED_SECONDS`` between connections, so no event falls into the gap.

What a stream holds is bounded: its subscription's queue (the bus tells a subscriber that
fell behind to reload rather than keep more), and a client that stops reading (a tab frozen
in the background) is dropped once a message has waited ``SEND_TIMEOUT_SECONDS`` for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Send

from manager.core.events import Event, EventBus

log = logging.getLogger(__name__)

STREAM_SECONDS = 20.0
SEND_TIMEOUT_SECONDS = 10.0
TICK_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
KEEP_DETACHED_SECONDS = 30.0
RETRY_MS = 500
MAX_STREAMS = 500
MAX_LOG_CHARS = 64 * 1024
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass
class _Subscription:
    queue: queue.Queue[Event]
    closer: ExitStack
    generation: int = 0
    detached_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class EventStreams:
    """The bus subscriptions of dashboard pages, by the client id each page picks."""

    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.monotonic) -> None:
        self._bus = bus
        self._clock = clock
        self._lock = threading.Lock()
        self._subs: dict[str, _Subscription] = {}

    def attach(self, client_id: str | None) -> tuple[str, int, queue.Queue[Event], bool]:
        """The client's subscription (a new one for an unknown id), this stream's generation
        and whether the subscription was resumed; a newer stream of a client ends older ones."""
        if client_id is None or not _CLIENT_ID.match(client_id):
            client_id = secrets.token_hex(16)
        with self._lock:
            self._expire_locked()
            sub = self._subs.get(client_id)
            resumed = sub is not None
            if sub is None:
                closer = ExitStack()
                q = closer.enter_context(self._bus.subscribe())
                sub = self._subs[client_id] = _Subscription(q, closer)
            sub.generation += 1
            sub.detached_at = None
            return client_id, sub.generation, sub.queue, resumed

    def is_current(self, client_id: str, generation: int) -> bool:
        with self._lock:
            sub = self._subs.get(client_id)
            return sub is not None and sub.generation == generation

    def detach(self, client_id: str, generation: int) -> None:
        with self._lock:
            sub = self._subs.get(client_id)
            if sub is not None and sub.generation == generation:
                sub.detached_at = self._clock()
            self._expire_locked()

    def _expire_locked(self) -> None:
        now = self._clock()
        expired = [
            cid
            for cid, sub in self._subs.items()
            if sub.detached_at is not None and now - sub.detached_at > KEEP_DETACHED_SECONDS
        ]
        if len(self._subs) - len(expired) > MAX_STREAMS:
            detached = sorted(
                (sub.detached_at, cid)
                for cid, sub in self._subs.items()
                if sub.detached_at is not None and cid not in expired
            )
            expired += [cid for _, cid in detached[: len(self._subs) - len(expired) - MAX_STREAMS]]
        for cid in expired:
            self._subs.pop(cid).closer.close()

    def close(self) -> None:
        with self._lock:
            for sub in self._subs.values():
                sub.closer.close()
            self._subs.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._subs)


def drain(q: queue.Queue[Event]) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            events.append(q.get_nowait())
        except queue.Empty:
            return events


def coalesce(events: Iterable[Event]) -> list[Event]:
    """Merge a burst: one event per changed thing (flags OR-ed), log lines of a task joined.
    The bus hands the same dict to every subscriber, so events are copied, never changed."""
    merged: dict[tuple[str, ...], Event] = {}
    for event in events:
        kind = str(event.get("type"))
        key: tuple[str, ...]
        if kind == "resync":
            return [{"type": "resync"}]
        if kind == "tasklog":
            key = (kind, str(event.get("task_id")))
            if key in merged:
                log = merged[key]["log"] + str(event.get("log", ""))
                merged[key]["log"] = log[-MAX_LOG_CHARS:]
                continue
        else:
            key = (kind, str(event.get("id")), str(event.get("job_id")))
            if key in merged:
                for flag in ("was_deleted", "refresh_tasks"):
                    if event.get(flag):
                        merged[key][flag] = True
                continue
        merged[key] = dict(event)
    return list(merged.values())


def sse_message(events: list[Event]) -> str:
    return f"data: {json.dumps(events, separators=(',', ':'))}\n\n"


async def event_stream(
    request: Request,
    streams: EventStreams,
    client_id: str | None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    client_id, generation, q, resumed = streams.attach(client_id)
    hello = json.dumps({"client": client_id, "resumed": resumed})
    try:
        yield f"retry: {RETRY_MS}\nevent: hello\ndata: {hello}\n\n"
        started = last_sent = clock()
        while True:
            events = drain(q)
            now = clock()
            if events:
                yield sse_message(coalesce(events))
                last_sent = now
            elif now - last_sent >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                last_sent = now
            if now - started >= STREAM_SECONDS or not streams.is_current(client_id, generation):
                break
            if await request.is_disconnected():
                break
            await asyncio.sleep(TICK_SECONDS)
    finally:
        streams.detach(client_id, generation)


class EventStreamResponse(StreamingResponse):
    """A stream of server-sent events that ends when its client stops taking them."""

    async def stream_response(self, send: Send) -> None:
        timeout = SEND_TIMEOUT_SECONDS

        async def send_or_give_up(message: dict[str, object]) -> None:
            await asyncio.wait_for(send(message), timeout)

        try:
            await super().stream_response(send_or_give_up)  # type: ignore[arg-type]
        except TimeoutError:
            # The server closes the connection: the response was left unfinished.
            log.info("an event stream's client took nothing for %g s; dropped it", timeout)
        finally:
            # Ends the subscription's stream (its ``finally``) now, not when collected.
            await self.body_iterator.aclose()  # type: ignore[attr-defined]
