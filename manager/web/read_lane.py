"""Listings and dashboard reads run on threads of their own, a few at a time.

Worker requests are answered on the event loop and the batch writer's thread. Forty
listings on forty threads of the shared pool would take turns with them on the GIL (and
each hold a database connection with its page cache): dispatch fell to a tenth. Queued here
instead, a reader waits on the event loop, which costs nothing, for one of ``READ_THREADS``.
The reads use the database's read connections: in WAL mode they never wait for the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request
from fastapi.responses import JSONResponse

T = TypeVar("T")

#: Threads for reads at once; more only take the GIL from the workers' requests.
READ_THREADS = 2


async def run_read(request: Request, read: Callable[[], T]) -> T:
    """``read()`` on one of the app's reading threads, once one is free."""
    state = request.app.state
    limiter: CapacityLimiter | None = getattr(state, "read_lane", None)
    if limiter is None:  # the first read of this app; no await since the look
        limiter = state.read_lane = CapacityLimiter(READ_THREADS)
    return await anyio.to_thread.run_sync(read, limiter=limiter)


async def answer_read(request: Request, read: Callable[[], Any]) -> JSONResponse:
    """The JSON answer of ``read()``, encoded on the reading thread too: a page of tasks is
    tens of kilobytes of JSON, work the event loop would otherwise do between worker requests."""
    return await run_read(request, lambda: JSONResponse(read()))
