"""What runs beside the requests, for as long as the app runs: the health checks (silent
workers, hung tasks, sleep schedules, garbage), SQLite's WAL checkpoints and, for a cluster,
the puller that takes work from the upstream manager. All of them start and stop here."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager

from fastapi import FastAPI

from manager.core.farm import Farm, utcnow
from manager.core.health import run_health_checks
from manager.core.staged_jobs import remove_abandoned_jobs

log = logging.getLogger(__name__)

#: How long a stopping manager waits for frames still being read off shared storage.
SHUTDOWN_COLLECTIONS_S = 30.0


class Periodic:
    """Calls ``step`` every ``interval`` seconds in a daemon thread until stopped; a failed
    round is logged and the next one runs as planned."""

    def __init__(self, name: str, interval: float, step: Callable[[], object]) -> None:
        self._name = name
        self._interval = interval
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._step()
            except Exception:  # one failed round must not end the loop for good
                log.exception("%s: round failed; retrying next round", self._name)


def lifespan_of(
    farm: Farm, *, health_checks: bool = True
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    settings = farm.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as running:
            running.callback(farm.close)
            farm.db.start_checkpoints()
            # A job the last run left half-stored goes before any worker asks for work.
            remove_abandoned_jobs(farm.db, utcnow())
            if health_checks:
                checks = Periodic(
                    "health-checks", settings.health_check_interval, lambda: run_health_checks(farm)
                )
                running.callback(checks.start().stop)
            if settings.upstream and settings.cluster:
                from manager.protocols.cluster_puller import ClusterPuller

                puller = ClusterPuller(
                    farm,
                    settings.upstream,
                    settings.cluster,
                    token=os.environ.get("FARMHAND_UPSTREAM_TOKEN"),
                )
                puller.start()
                running.callback(puller.stop)
            yield
            # Frames being read off shared storage for tasks already answered complete.
            await asyncio.to_thread(farm.frame_collections.wait_idle, SHUTDOWN_COLLECTIONS_S)

    return lifespan
