"""Task logs as plain text files under the data dir, one file per task; each chunk appended
is told to the farm's live views as it lands on disk (no transaction to wait for)."""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

from manager.core.events import EventBus
from worker_mode.safe_paths import StorageRoot

TAIL_BYTES = 4096
TAIL_LINES = 20


def _checked_uuid(value: str) -> str:
    # Ids become path parts: only canonical UUIDs may, so no id can point outside the folder.
    return str(uuid.UUID(value))


class TaskLogStore:
    def __init__(self, root: Path, events: EventBus | None = None) -> None:
        self.root = root
        self._folder = StorageRoot(root)
        self._events = events
        self._lock = threading.Lock()

    def path(self, job_id: str, task_id: str) -> Path:
        return self._folder.path(f"{_checked_uuid(job_id)}/{_checked_uuid(task_id)}.txt")

    def append(self, job_id: str, task_id: str, text: str) -> None:
        if not text:
            return
        if not text.endswith("\n"):
            text += "\n"
        path = self.path(job_id, task_id)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(text)
        if self._events is not None:
            self._events.publish("tasklog", task_id=task_id, job_id=job_id, log=text)

    def size(self, job_id: str, task_id: str) -> int:
        try:
            return self.path(job_id, task_id).stat().st_size
        except FileNotFoundError:
            return 0

    def tail(self, job_id: str, task_id: str, lines: int = TAIL_LINES) -> str:
        """The last few lines of the log, or '' when there is none."""
        try:
            with self.path(job_id, task_id).open("rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - TAIL_BYTES))
                data = f.read()
        except FileNotFoundError:
            return ""
        text = data.decode("utf-8", errors="replace")
        if size > TAIL_BYTES:
            text = text.split("\n", 1)[-1]  # drop the partial first line
        return "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self._folder.path(_checked_uuid(job_id)), ignore_errors=True)
