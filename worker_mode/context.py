"""What a command gets to work with while its task runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import TaskAbandoned
from .job_files import JobFiles
from .renderer import Renderer
from .reporter import TaskReporter


@dataclass
class CommandContext:
    task_id: str
    reporter: TaskReporter
    renderer: Renderer
    stop: threading.Event
    preview_dir: str
    steps_before: int = 0
    """Steps of the task's earlier commands, so that step counts add up over commands."""
    on_frame: Callable[[str], None] | None = None
    job_id: str = ""
    job_files: JobFiles | None = None
    """Set when the worker can fetch files from the manager's file store (no shared storage)."""

    def should_stop(self) -> str | None:
        if self.stop.is_set():
            return "the worker is shutting down"
        return self.reporter.cancel_reason

    def check(self) -> None:
        reason = self.should_stop()
        if reason:
            raise TaskAbandoned(reason)

    def log(self, line: str) -> None:
        self.reporter.log(line)

    def activity(self, text: str) -> None:
        self.reporter.set_activity(text)
        self.reporter.log(text)

    def steps(self, done_in_command: int) -> None:
        self.reporter.set_steps(self.steps_before + done_in_command)

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early (TaskAbandoned) on cancellation or shutdown."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, 0.2))
