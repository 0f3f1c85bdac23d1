"""Listings and dashboard reads run on threads of their own, a few at a time, and hold back
while workers are being answered.

Worker requests are answered on the event loop and the batch writer's thread. Forty
listings on forty threads of the shared pool would take turns with them on the GIL (and
each hold a database connection with its page cache): dispatch fell to a tenth. Queued here
instead, a reader waits on the event loop, which costs nothing, for one of ``READ_THREADS``;
and while the batch writer is busy, reads take about ``BUSY_READ_SHARE`` of the time at most,
so a wall of dashboards slows itself down, not the farm. The reads use the database's read
connections: in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request
from fastapi.responses import JSONResponse

T = TypeVar("T")

#: Threads for reads at once; more only take the GIL from the workers' requests.
READ_THREADS = 2
#: The share of the time reads may take while workers are being answered. Each read also
#: costs the event loop its request and the other threads their turns at the GIL: at a tenth,
#: 40 clients listing flat out took a quarter of the dispatch rate (``bench/mixed_load.py``).
BUSY_READ_SHARE = 0.05
#: Workers count as being answered if the batch writer did a batch this recently.
BUSY_WITHIN_SECONDS = 1.0


class ReadLane:
    def __init__(self, last_write: Callable[[], float]) -> None:
        self._slots = CapacityLimiter(READ_THREADS)
        self._threads = CapacityLimiter(READ_THREADS)
        self._last_write = last_write
        self._next_at = 0.0
        """While workers are busy, no read starts before this (``time.monotonic``)."""

    def _busy(self) -> bool:
        return time.monotonic() - self._last_write() < BUSY_WITHIN_SECONDS

    async def run(self, read: Callable[[], T]) -> T:
        async with self._slots:
            wait = self._next_at - time.monotonic()
            if wait > 0 and self._busy():
                await asyncio.sleep(wait)
            used = [0.0]

            def timed() -> T:
                # The processor time of the read, not the time it waited for the GIL: with
                # workers busy, that wait is most of a read's time.
                started = time.thread_time()
                try:
                    return read()
                finally:
                    used[0] = time.thread_time() - started

            try:
                return await anyio.to_thread.run_sync(timed, limiter=self._threads)
            finally:
                if self._busy():
                    pause = used[0] * (1 - BUSY_READ_SHARE) / BUSY_READ_SHARE
                    self._next_at = max(self._next_at, time.monotonic()) + pause / READ_THREADS


def _lane(request: Request) -> ReadLane:
    state = request.app.state
    lane: ReadLane | None = getattr(state, "read_lane", None)
    if lane is None:  # the first read of this app; nothing awaited since the look
        writer = state.farm.writer
        lane = state.read_lane = ReadLane(lambda: float(writer.last_batch_at))
    return lane


async def run_read(request: Request, read: Callable[[], T]) -> T:
    """``read()`` on one of the app's reading threads, once it is its turn."""
    return await _lane(request).run(read)


async def answer_read(request: Request, read: Callable[[], Any]) -> JSONResponse:
    """The JSON answer of ``read()``, encoded on the reading thread too: a page of tasks is
    tens of kilobytes of JSON, work the event loop would otherwise do between worker requests."""
    return await run_read(request, lambda: JSONResponse(read()))
