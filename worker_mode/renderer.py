"""Runs render requests on a render process, restarting it as needed, abandoning on request."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from .errors import CommandError, TaskAbandoned
from .render_process import RenderProcess, RenderProcessError

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], str | None]


class Renderer:
    """Owns the worker's render process; one request at a time."""

    def __init__(
        self,
        device: str | None = None,
        process_factory: Callable[..., RenderProcess] = RenderProcess,
        pins: list[int] | None = None,
    ) -> None:
        self.device = device
        self.pins = pins
        """GPU numbers the render process renders on (``--devices``); None for all."""
        self._factory = process_factory
        self.process: RenderProcess | None = None
        self.hello: dict[str, Any] = {}

    def ensure_started(self) -> RenderProcess:
        if self.process is not None and self.process.alive():
            return self.process
        if self.process is not None:
            self.process.kill()
        started = time.perf_counter()
        process = (self._factory(self.device, pins=self.pins) if self.pins is not None
                   else self._factory(self.device))
        self.hello = process.start()
        self.process = process
        log.debug("render process %s started in %.1f s", process.pid,
                  time.perf_counter() - started)
        return process

    def run(
        self,
        request: dict[str, Any],
        on_event: EventHandler,
        on_log: Callable[[str], None],
        should_stop: StopCheck,
        max_frame_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Send one request and handle its events until done; kill the process to abandon.

        A request that does not end normally (abandoned, a frame over ``max_frame_seconds``,
        an exception in ``on_event``) kills the render process: it may still be rendering, and
        its late events must not be taken for the next request's.
        """
        try:
            process = self.ensure_started()
        except RenderProcessError as exc:
            raise CommandError(str(exc)) from exc
        while True:  # Drop events left over from an earlier request.
            try:
                process.events.get_nowait()
            except queue.Empty:
                break
        process.tail.clear()
        process.log_sink = on_log
        finished = False
        frames: list[Any] = []
        frames_done = 0
        frame_started: float | None = None
        try:
            process.send(request)
            while True:
                reason = should_stop()
                if reason:
                    log.info("abandoning the render: %s", reason)
                    raise TaskAbandoned(reason)
                if (
                    max_frame_seconds
                    and frame_started is not None
                    and clock() - frame_started > max_frame_seconds
                ):
                    frame = frames[frames_done] if frames_done < len(frames) else "?"
                    raise CommandError(
                        f"frame {frame} ran longer than max_frame_seconds "
                        f"({max_frame_seconds:g} s); render stopped"
                    )
                try:
                    event = process.events.get(timeout=0.2)
                except queue.Empty:
                    continue
                kind = event.get("ev")
                if kind == "done":
                    finished = True
                    return
                if kind == "error":
                    finished = True
                    raise CommandError(str(event.get("message", "render failed")))
                if kind == "exit":
                    finished = True
                    process.join_output()
                    tail = "\n".join(process.tail)
                    self.process = None
                    raise CommandError(
                        f"Blender crashed (render process exit code {event.get('code')})"
                        + (f"; last output:\n{tail}" if tail else "")
                    )
                if kind == "frames":
                    frames = list(event.get("frames") or [])
                    frame_started = clock()
                elif kind == "frame":
                    frames_done += 1
                    frame_started = clock()
                on_event(event)
        except RenderProcessError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            process.log_sink = None
            if not finished:
                self.kill()

    def log_tail(self) -> list[str]:
        return list(self.process.tail) if self.process else []

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
