"""What the worker hot path needs to know of a worker, read without the ORM.

Every poll and task report is authenticated; loading the full ``Worker`` object for each
cost more than the rest of the request's database work. Work that changes the worker itself
(sign-on, state changes) loads the ORM object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from manager.db.models import Worker


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    id: str
    name: str
    secret_hash: str
    platform: str
    supported_task_types: list[str]
    status: str
    status_requested: str | None
    lazy_status_request: bool
    last_seen: datetime | None
    blender_version: int | None


#: A worker as the task and scheduling functions need it: the ORM object or its facts.
AnyWorker = Worker | WorkerFacts
