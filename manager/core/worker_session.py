"""A worker's conversation with the manager, the same whichever protocol it arrives on.

Adapters parse the request, call these functions inside the worker's transaction and format
the answer; what a worker is told to do, and with which task, is decided here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import scheduler, variables
from manager.core.statuses import WorkerStatus
from manager.core.worker_facts import AnyWorker
from manager.db.queries.tasks import assigned_task


@dataclass(frozen=True, slots=True)
class Assignment:
    """A state to go to first, word that the worker is not awake, or its task (an
    ``AssignedTask`` with its commands expanded for the worker's platform); none of them
    when there is nothing to do."""

    status_requested: WorkerStatus | None = None
    not_awake: bool = False
    task: dict[str, Any] | None = None


def ask_for_work(
    session: Session, settings: Settings, worker: AnyWorker, now: datetime
) -> Assignment:
    poll = scheduler.poll_for_task(session, worker, now)
    if poll.task_id is None:
        return Assignment(status_requested=poll.status_requested, not_awake=poll.not_awake)
    task = assigned_task(session, poll.task_id)
    task["commands"] = variables.expand_for_platform(
        task["commands"], settings.variables, worker.platform.lower()
    )
    return Assignment(task=task)
