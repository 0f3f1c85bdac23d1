"""Files without shared storage: the content-addressed file store (Flamenco's "shaman"),
checkouts (a job's files by path), rendered outputs per job, and their garbage collection.

Everything here lives under the manager's data dir; nothing is ever written outside it, and
nothing in it is a link.
"""

from __future__ import annotations

from manager.config import Settings
from manager.core.events import EventBus
from manager.storage.file_store import FileStore
from manager.storage.outputs import OutputStore


def file_store(settings: Settings) -> FileStore:
    return FileStore(settings.data_dir / "file-store")


def output_store(settings: Settings, events: EventBus | None = None) -> OutputStore:
    """The outputs; given the farm's ``events``, a file that arrives whole is told to them."""
    return OutputStore(settings.data_dir / "outputs", events)
