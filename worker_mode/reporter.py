"""Background reporting of a running task: progress, log chunks, may-i-run, previews.

Runs in its own thread with its own HTTP session while the main thread waits on the render
process. Updates that cannot be delivered (manager down) are merged and kept until the
manager answers again; the final status is delivered before the worker takes a new task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backoff import Backoff
from .defaults import (
    HEARTBEAT_INTERVAL_S,
    LOG_BUFFER_MAX_CHARS,
    LOG_CHUNK_MAX_CHARS,
    MAY_I_RUN_INTERVAL_S,
    RETRY_FIRST_S,
    RETRY_MAX_S,
    UPDATE_INTERVAL_S,
)
from .manager_api import AuthError, ManagerClient, ManagerError, ManagerUnreachable

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """What has not reached the manager yet; later values replace earlier ones."""

    log: list[str] = field(default_factory=list)
    log_chars: int = 0
    dropped_chars: int = 0
    activity: str | None = None
    steps_completed: int | None = None
    status: str | None = None

    def empty(self) -> bool:
        return (
            not self.log and self.activity is None and self.steps_completed is None
            and self.status is None
        )


@dataclass
class ReporterTiming:
    update_interval: float = UPDATE_INTERVAL_S
    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    may_i_run_interval: float = MAY_I_RUN_INTERVAL_S
    retry_first: float = RETRY_FIRST_S
    retry_max: float = RETRY_MAX_S


class TaskReporter:
    """Sends a task's updates from a background thread; tells the runner when to stop."""

    def __init__(
        self,
        client: ManagerClient,
        task_id: str,
        timing: ReporterTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.task_id = task_id
        self.timing = timing or ReporterTiming()
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._pending = _Pending()
        self._sending = False
        self._final_delivered = threading.Event()
        self._backoff = Backoff(self.timing.retry_first, self.timing.retry_max, factor=2.0)
        self._retry_at = 0.0
        self._unreachable_since: float | None = None
        self._last_sent = clock()
        self._last_may_i_run = clock()
        self._preview: Path | None = None
        self.cancel_reason: str | None = None
        self.status_change_requested = False
        self._thread = threading.Thread(target=self._run, name=f"report-{task_id[:8]}",
                                        daemon=True)

    # -- called by the runner (main thread) -----------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def log(self, line: str) -> None:
        line = line.rstrip("\n") + "\n"
        with self._lock:
            p = self._pending
            p.log.append(line)
            p.log_chars += len(line)
            while p.log_chars > LOG_BUFFER_MAX_CHARS and len(p.log) > 1:
                dropped = p.log.pop(0)
                p.log_chars -= len(dropped)
                p.dropped_chars += len(dropped)

    def set_activity(self, activity: str) -> None:
        with self._lock:
            self._pending.activity = activity

    def set_steps(self, steps_completed: int) -> None:
        with self._lock:
            self._pending.steps_completed = steps_completed
        self._wake.set()

    def add_preview(self, path: str) -> None:
        """Queue a preview image; only the newest waiting one is sent."""
        with self._lock:
            old, self._preview = self._preview, Path(path)
        if old is not None:
            old.unlink(missing_ok=True)
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_reason is not None

    def finish(
        self,
        status: str | None,
        activity: str,
        stop: threading.Event,
        timeout: float | None = None,
    ) -> bool:
        """Deliver everything pending plus the final status; True once the manager has it.

        Waits through a manager outage (retrying) until ``stop`` is set, ``timeout`` passes or
        the task is no longer ours. With ``status`` None only the pending log is flushed.
        """
        with self._lock:
            self._pending.activity = activity
            self._pending.status = status
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = False
        while not stop.is_set() and not self.cancelled:
            if status is not None:
                if self._final_delivered.wait(0.1):
                    delivered = True
                    break
            else:
                with self._lock:
                    flushed = self._pending.empty() and not self._sending
                if flushed:
                    delivered = True
                    break
                time.sleep(0.1)
            if not self._thread.is_alive() or (deadline and time.monotonic() > deadline):
                break
        self.close()
        return delivered

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=35)
        with self._lock:
            preview, self._preview = self._preview, None
        if preview is not None:
            preview.unlink(missing_ok=True)

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing.is_set() and not self.cancelled:
            now = self._clock()
            try:
                if now >= self._retry_at and self._tick(now):
                    self._reachable()
            except ManagerUnreachable as exc:
                self._unreachable(now, exc)
            except (AuthError, ManagerError) as exc:
                log.error("task %s: manager refused an update (%s); abandoning the task",
                          self.task_id[:8], exc)
                self.cancel_reason = f"manager refused update: {exc}"
            except Exception:  # noqa: BLE001 - a reporting bug must not end the reporting
                log.exception("task %s: error while reporting; retrying", self.task_id[:8])
                self._retry_at = now + self._backoff.next_delay()
            if self._final_delivered.is_set():
                return
            self._wake.wait(0.25)
            self._wake.clear()

    def _tick(self, now: float) -> bool:
        """Send what is due; True when the manager was contacted."""
        contacted = False
        with self._lock:
            final = self._pending.status is not None
            news = not self._pending.empty()
        heartbeat_due = now - self._last_sent >= self.timing.heartbeat_interval
        if final or (news and now - self._last_sent >= self.timing.update_interval) or (
            heartbeat_due
        ):
            self._send_update(now)
            contacted = True
            if self.cancelled or self._final_delivered.is_set():
                return contacted
        contacted = self._send_preview() or contacted
        if now - self._last_may_i_run >= self.timing.may_i_run_interval:
            self._last_may_i_run = now
            contacted = True
            answer = self.client.may_i_run(self.task_id)
            if answer.status_change_requested:
                self.status_change_requested = True
            if not answer.may_keep_running:
                self.cancel_reason = answer.reason or "the manager says stop"
        return contacted

    def _take_update(self) -> tuple[dict[str, Any], _Pending]:
        """Build one update from pending state; returns it and what to put back on failure."""
        with self._lock:
            p = self._pending
            update: dict[str, Any] = {}
            taken = _Pending()
            text = ""
            if p.dropped_chars:
                text = f"[{p.dropped_chars} characters of log dropped while unreachable]\n"
                taken.dropped_chars, p.dropped_chars = p.dropped_chars, 0
            while p.log and len(text) + len(p.log[0]) <= LOG_CHUNK_MAX_CHARS:
                line = p.log.pop(0)
                p.log_chars -= len(line)
                taken.log.append(line)
                text += line
            if not text and p.log:  # One very long line: send it cut.
                line = p.log.pop(0)
                p.log_chars -= len(line)
                taken.log.append(line)
                text = line[:LOG_CHUNK_MAX_CHARS] + "\n"
            if text:
                update["log"] = text
            more_log = bool(p.log)
            if p.activity is not None:
                update["activity"] = taken.activity = p.activity
                p.activity = None
            if p.steps_completed is not None:
                update["steps_completed"] = taken.steps_completed = p.steps_completed
                p.steps_completed = None
            if p.status is not None and not more_log:
                update["taskStatus"] = taken.status = p.status
                p.status = None
            return update, taken

    def _put_back(self, taken: _Pending) -> None:
        with self._lock:
            p = self._pending
            p.log[:0] = taken.log
            p.log_chars += sum(len(line) for line in taken.log)
            p.dropped_chars += taken.dropped_chars
            if p.activity is None:
                p.activity = taken.activity
            if p.steps_completed is None:
                p.steps_completed = taken.steps_completed
            if p.status is None:
                p.status = taken.status

    def _send_update(self, now: float) -> None:
        with self._lock:
            self._sending = True
        update, taken = self._take_update()
        # With nothing new this is a heartbeat: an empty update that tells the task is still
        # ours (409 if not) without counting as progress, which only real output does.
        try:
            accepted = self.client.task_update(self.task_id, update)
        except ManagerUnreachable:
            self._put_back(taken)
            raise
        finally:
            with self._lock:
                self._sending = False
        self._last_sent = now
        if not accepted:
            self.cancel_reason = "the task is no longer assigned to this worker"
            return
        if taken.status is not None:
            self._final_delivered.set()
            return
        with self._lock:
            more = bool(self._pending.log) or self._pending.status is not None
        if more:
            self._wake.set()
            self._last_sent = now - self.timing.update_interval  # Send the rest at once.

    def _send_preview(self) -> bool:
        with self._lock:
            preview, self._preview = self._preview, None
        if preview is None:
            return False
        try:
            data = preview.read_bytes()
        except OSError as exc:
            log.debug("preview %s unreadable: %s", preview, exc)
            return False
        try:
            kind = "image/png" if preview.suffix == ".png" else "image/jpeg"
            status = self.client.output_produced(self.task_id, data, kind)
        except ManagerError as exc:
            log.debug("preview not accepted: %s", exc)
            status = 0
        finally:
            preview.unlink(missing_ok=True)
        if status not in (200, 202, 204):
            log.debug("task %s: preview not accepted (HTTP %s)", self.task_id[:8], status)
        return True

    def _unreachable(self, now: float, exc: Exception) -> None:
        delay = self._backoff.next_delay()
        self._retry_at = now + delay
        if self._unreachable_since is None:
            self._unreachable_since = now
            log.warning("manager unreachable (%s): keeping task updates, retrying", exc)

    def _reachable(self) -> None:
        if self._unreachable_since is not None:
            log.info("manager reachable again: buffered task updates sent")
            self._unreachable_since = None
        self._backoff.reset()
