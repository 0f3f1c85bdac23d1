"""Work that follows a worker's answer on the event loop: reading the frames a task left on
shared storage, which may be slow or big, once the worker that finished it has been answered."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

#: How many jobs without frames to keep are remembered (the most recently found).
REMEMBERED_JOBS = 10_000


class FrameCollections:
    """The collections of frames from shared storage under way. Each runs on the event loop
    after the worker that finished the task got its answer; ``wait_idle`` lets a caller on
    another thread (the shutdown, a test) see them through."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[None]] = set()
        self._idle = threading.Condition()
        self._jobs_without_frames: OrderedDict[str, None] = OrderedDict()

    def job_has_none(self, job_id: str) -> bool:
        """Whether the job is known to leave no frames to keep: most jobs are, and looking
        again at each of their tasks' completion would cost every worker's report a read."""
        with self._idle:
            return job_id in self._jobs_without_frames

    def note_job_has_none(self, job_id: str) -> None:
        with self._idle:
            self._jobs_without_frames[job_id] = None
            while len(self._jobs_without_frames) > REMEMBERED_JOBS:
                self._jobs_without_frames.popitem(last=False)

    def start(self, collection: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(collection)
        with self._idle:
            self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        with self._idle:
            self._pending.discard(task)
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Whether every collection started so far ended within ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)
