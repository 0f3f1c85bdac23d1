"""Runs one assigned task: its commands in order, with a reporter thread alongside."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from .commands import COMMANDS
from .context import CommandContext
from .errors import CommandError, TaskAbandoned
from .job_files import JobFiles
from .manager_api import ManagerClient
from .renderer import Renderer
from .reporter import ReporterTiming, TaskReporter

log = logging.getLogger(__name__)


class TaskOutcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"
    """Cancelled by the manager, or the worker is shutting down: no final status sent."""


class TaskRunner:
    """Executes AssignedTask objects; the worker survives whatever a task does."""

    def __init__(
        self,
        client_factory: Callable[[], ManagerClient],
        renderer: Renderer,
        stop: threading.Event,
        preview_dir: str | None = None,
        timing: ReporterTiming | None = None,
        job_files: JobFiles | None = None,
    ) -> None:
        self.client_factory = client_factory
        self.renderer = renderer
        self.stop = stop
        self.preview_dir = preview_dir or tempfile.mkdtemp(prefix="farmhand-previews-")
        self.timing = timing
        self.job_files = job_files
        self.status_change_requested = False

    def run(self, task: dict[str, Any]) -> TaskOutcome:
        task_id = str(task["uuid"])
        short = task_id[:8]
        commands = task.get("commands") or []
        steps_total = int(task.get("steps_total") or 0)
        log.info("task %s started: %s (job %s, %d commands)", short, task.get("name", "?"),
                 str(task.get("job", "?"))[:8], len(commands))
        reporter = TaskReporter(self.client_factory(), task_id, self.timing)
        reporter.start()
        ctx = CommandContext(task_id, reporter, self.renderer, self.stop, self.preview_dir,
                             job_id=str(task.get("job", "")), job_files=self.job_files)
        started = time.monotonic()
        outcome = TaskOutcome.COMPLETED
        message = "task completed"
        try:
            for index, command in enumerate(commands):
                ctx.check()
                name = command.get("name")
                handler = COMMANDS.get(name)
                if handler is None:
                    raise CommandError(f"unknown command {name!r}")
                params = command.get("parameters") or {}
                if not isinstance(params, dict):
                    raise CommandError(f"command {name}: parameters must be an object")
                reporter.log(f"command {index + 1}/{len(commands)}: {name}")
                handler(ctx, params)
                ctx.steps_before += int(command.get("total_step_count") or 0)
                if steps_total:
                    ctx.steps_before = min(ctx.steps_before, steps_total)
                reporter.set_steps(ctx.steps_before)
        except TaskAbandoned as exc:
            outcome, message = TaskOutcome.ABANDONED, str(exc)
        except CommandError as exc:
            outcome, message = TaskOutcome.FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - whatever a task does fails that task only
            log.exception("task %s: unexpected error", short)
            outcome = TaskOutcome.FAILED
            message = f"unexpected error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        finally:
            self.status_change_requested = reporter.status_change_requested
        seconds = time.monotonic() - started
        if outcome is TaskOutcome.ABANDONED:
            log.warning("task %s abandoned after %.1f s: %s", short, seconds, message)
            reporter.log(f"worker abandoned the task: {message}")
            if self.stop.is_set() and not reporter.cancelled:
                # Shutting down: pass on the log lines; sign-off hands the task back.
                reporter.finish(None, f"worker stopped: {message}", threading.Event(), timeout=5)
            else:
                reporter.close()
            return outcome
        if outcome is TaskOutcome.FAILED:
            first_line = message.splitlines()[0] if message else "failed"
            log.error("task %s failed after %.1f s: %s", short, seconds, first_line)
            reporter.log(f"task failed: {message}")
            activity = f"failed: {first_line}"[:500]
            status = "failed"
        else:
            log.info("task %s completed in %.1f s", short, seconds)
            activity = f"completed in {seconds:.1f} s"
            status = "completed"
        if not reporter.finish(status, activity, self.stop):
            if reporter.cancelled:
                log.warning("task %s: manager no longer wants it (%s)", short,
                            reporter.cancel_reason)
                return TaskOutcome.ABANDONED
            log.warning("task %s: final status not delivered (worker stopping)", short)
        return outcome
