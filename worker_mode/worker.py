"""The worker loop: register, sign on, take tasks, obey state changes, sign off.

One iteration is ``loop_once()``, which returns how long to wait before the next one, so
tests drive the state machine step by step with a fake transport.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .backoff import Backoff
from .credentials import CredentialStore, new_secret
from .defaults import (
    ASLEEP_POLL_S,
    IDLE_POLL_FACTOR,
    IDLE_POLL_FIRST_S,
    IDLE_POLL_MAX_S,
    POLL_JITTER,
    RETRY_FIRST_S,
    RETRY_MAX_S,
    SUPPORTED_TASK_TYPES,
)
from .manager_api import (
    AuthError,
    ManagerClient,
    ManagerError,
    ManagerUnreachable,
    RegistrationRefused,
)

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    STARTING = "starting"
    AWAKE = "awake"
    ASLEEP = "asleep"
    OFFLINE = "offline"
    RESTART = "restart"


@dataclass
class WorkerOptions:
    manager_url: str
    name: str
    software_version: str = "unknown"
    task_types: list[str] = field(default_factory=lambda: list(SUPPORTED_TASK_TYPES))
    once: bool = False
    """Exit when the manager has had no task for this worker for ``once_idle_s``."""
    once_idle_s: float = 5.0
    idle_poll_max_s: float = IDLE_POLL_MAX_S
    can_restart: bool = True
    tags: list[str] = field(default_factory=list)
    """The worker's tags, sent at sign-on; empty leaves the tags given on the manager."""
    hardware: dict[str, Any] | None = None
    """Render devices and hardware tags (``devices.hardware_report``), sent at sign-on."""
    blender_version: str | None = None
    """The Blender the worker renders with, sent at sign-on for version-aware routing."""


class Worker:
    """The state machine; ``run_task`` executes one task (blocking) and returns its outcome."""

    def __init__(
        self,
        options: WorkerOptions,
        client: ManagerClient,
        store: CredentialStore,
        run_task: Callable[[dict[str, Any]], Any],
        stop: threading.Event,
        status_change_requested: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.options = options
        self.client = client
        self.store = store
        self.run_task = run_task
        self.stop = stop
        self._status_change_requested = status_change_requested
        self._clock = clock or time.monotonic
        self.state = WorkerState.STARTING
        self.signed_on = False
        self.done = False
        self.restart = False
        idle_max = max(0.05, options.idle_poll_max_s)
        self.idle = Backoff(min(IDLE_POLL_FIRST_S, idle_max), idle_max, IDLE_POLL_FACTOR,
                            POLL_JITTER)
        self.retry = Backoff(RETRY_FIRST_S, RETRY_MAX_S, 2.0, POLL_JITTER)
        self.asleep_poll = Backoff(ASLEEP_POLL_S, ASLEEP_POLL_S, 1.0, POLL_JITTER)
        self._idle_since: float | None = None
        self._unreachable = False
        self.tasks_run = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Loop until stopped (signal), told to go offline/restart, or --once is done."""
        try:
            while not self.done and not self.stop.is_set():
                delay = self.loop_once()
                if delay > 0 and not self.done:
                    self.stop.wait(delay)
        finally:
            self.sign_off()

    def loop_once(self) -> float:
        """One step of the state machine; the seconds to wait before the next."""
        try:
            if not self.signed_on:
                self.sign_on()
                delay = 0.0
            elif self.state is WorkerState.ASLEEP:
                delay = self.poll_asleep()
            else:
                delay = self.poll_task()
        except ManagerUnreachable as exc:
            delay = self.retry.next_delay()
            if not self._unreachable or self.retry.attempts % 10 == 0:
                log.warning("manager %s unreachable (%s); retrying in %.0f s",
                            self.options.manager_url, exc, delay)
            self._unreachable = True
            return delay
        except RegistrationRefused as exc:
            delay = self.retry.next_delay()
            log.error("manager %s refused to register this worker (%s); start the worker with "
                      "--registration-token (or FARMHAND_REGISTRATION_TOKEN) set to the "
                      "manager's registration_token; trying again in %.0f s",
                      self.options.manager_url, exc, delay)
            return delay
        except AuthError as exc:
            delay = self.retry.next_delay()
            log.warning("manager rejected this worker's credentials (%s); registering again "
                        "in %.0f s", exc, delay)
            self.store.save(self.options.manager_url, None)
            self.client.credentials = None
            self.signed_on = False
            return delay
        except ManagerError as exc:
            delay = self.retry.next_delay()
            log.error("manager answered unexpectedly (%s); retrying in %.0f s", exc, delay)
            return delay
        except Exception:  # noqa: BLE001 - only a kill stops a worker; this step is retried
            delay = self.retry.next_delay()
            log.exception("unexpected error in the worker loop; going on in %.0f s", delay)
            return delay
        if self._unreachable:
            log.info("manager %s reachable again", self.options.manager_url)
            self._unreachable = False
        self.retry.reset()
        return delay

    # -- steps ----------------------------------------------------------------------------

    def sign_on(self) -> None:
        opts = self.options
        if self.client.credentials is None:
            self.client.credentials = self.store.load(opts.manager_url)
        if self.client.credentials is None:
            creds = self.client.register(opts.name, new_secret(), platform_name(), opts.task_types)
            self.store.save(opts.manager_url, creds)
            self.client.credentials = creds
            log.info("registered with %s as worker %s", opts.manager_url, creds.worker_id)
        requested = self.client.sign_on(
            opts.name, opts.task_types, opts.software_version, opts.can_restart, opts.tags,
            hardware=opts.hardware, blender_version=opts.blender_version,
        )
        self.signed_on = True
        log.info("signed on to %s as %s (worker %s, Blender %s)", opts.manager_url, opts.name,
                 self.client.credentials.worker_id[:8], opts.software_version)
        # Sign-on leaves the worker "starting" on the manager, whatever this process believed
        # before (it may have been marked error or offline while out of touch): the state it
        # enters now is always acknowledged.
        self.state = WorkerState.STARTING
        self.go_to(requested or WorkerState.AWAKE)

    def poll_task(self) -> float:
        result = self.client.schedule_task()
        if result.task is not None:
            self._idle_since = None
            self.idle.reset()
            self.run_task(result.task)
            self.tasks_run += 1
            if self._status_change_requested():
                requested = self.client.state()
                if requested:
                    self.go_to(requested)
            return 0.0
        if result.status_requested:
            self.go_to(result.status_requested)
            return 0.0
        if result.not_awake:
            log.info("manager says this worker is not awake; signing on again")
            self.signed_on = False
            return self.retry.next_delay()
        now = self._clock()
        if self._idle_since is None:
            self._idle_since = now
            log.info("idle: no task for this worker, asking again every %.1f-%.1f s",
                     self.idle.first, self.idle.maximum)
        if self.options.once and now - self._idle_since >= self.options.once_idle_s:
            log.info("--once: no task for %.0f s, exiting", now - self._idle_since)
            self.done = True
            return 0.0
        return self.idle.next_delay()

    def poll_asleep(self) -> float:
        requested = self.client.state()
        if requested and requested != WorkerState.ASLEEP:
            self.go_to(requested)
            return 0.0
        return self.asleep_poll.next_delay()

    def go_to(self, status: str) -> None:
        """Enter the state the manager asks for, and acknowledge it."""
        try:
            state = WorkerState(status)
        except ValueError:
            log.warning("manager asked for state %r, which a worker cannot enter; ignoring",
                        status)
            return
        if state is WorkerState.STARTING:
            return
        if state is not self.state:
            self.client.state_changed(state.value)
        previous, self.state = self.state, state
        if state is WorkerState.AWAKE:
            self._idle_since = None
            if previous is WorkerState.ASLEEP:
                log.info("awake: taking tasks again")
        elif state is WorkerState.ASLEEP:
            log.info("asleep: not taking tasks until the manager wakes this worker")
        elif state is WorkerState.OFFLINE:
            log.info("manager asks this worker to go offline: stopping")
            self.done = True
        elif state is WorkerState.RESTART:
            log.info("manager asks this worker to restart")
            self.done = True
            self.restart = True

    def sign_off(self) -> None:
        if not self.signed_on:
            return
        try:
            self.client.sign_off()
            log.info("signed off from %s", self.options.manager_url)
        except (ManagerUnreachable, ManagerError, AuthError) as exc:
            log.warning("could not sign off (%s); the manager will notice the silence", exc)
        self.signed_on = False


def platform_name() -> str:
    """Lower-case OS name as Go's runtime.GOOS writes it (linux, windows, darwin)."""
    name = sys.platform
    if name.startswith("linux"):
        return "linux"
    if name == "win32":
        return "windows"
    return name if name == "darwin" else platform.system().lower()
