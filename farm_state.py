"""What the add-on knows about the farm: the manager's last answers, cached.

Nothing here talks to the network. Operators fill it on request (refresh buttons, submission,
the jobs timer); panels only read it, so drawing never waits for the manager.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .client.api import JobCounts, WorkerTag
from .client.job_catalog import JobCatalog
from .client.job_settings import JobType


@dataclass
class SubmitProgress:
    """A running submission or download, shown in the panel (and the status bar)."""

    step: str = ""
    fraction: float = 0.0


@dataclass
class FarmState:
    #: The job types offered in the drop-down, the render type first.
    job_types: dict[str, JobType] = field(default_factory=dict)
    #: What the manager says each type is for, and its broken presets.
    catalog: JobCatalog | None = None
    job_types_error: str = ""
    #: The manager's worker tags, for the Worker Tag drop-down (fetched with the job types).
    worker_tags: list[WorkerTag] = field(default_factory=list)
    connection_message: str = ""
    connection_failed: bool = False
    jobs: list[dict[str, Any]] = field(default_factory=list)
    jobs_error: str = ""
    #: job id → its failed and soft-failed tasks and blocked workers.
    job_counts: dict[str, JobCounts] = field(default_factory=dict)
    #: job id → path of its latest preview image, as downloaded.
    previews: dict[str, str] = field(default_factory=dict)
    submit: SubmitProgress | None = None
    #: job id → its frames being downloaded; what the last download said, and if it failed.
    downloads: dict[str, SubmitProgress] = field(default_factory=dict)
    download_messages: dict[str, tuple[str, bool]] = field(default_factory=dict)
    #: job id → the folder its frames go to on this machine (its render output folder).
    frame_folders: dict[str, str] = field(default_factory=dict)
    last_submit_message: str = ""
    worker_message: str = ""

    def job_type(self, name: str) -> JobType | None:
        return self.job_types.get(name)


STATE = FarmState()


def reset() -> None:
    """Forget everything (on unregister, so a re-enabled add-on starts clean)."""
    global STATE
    STATE = FarmState()
