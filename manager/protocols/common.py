"""What the adapters share: their clients as core workers, and a task's file and frames."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from manager.core import share_outputs, workers
from manager.core.credentials import NO_SECRET
from manager.core.frames import FrameRangeError, parse_frame_range
from manager.core.statuses import WorkerStatus
from manager.db.models import Job, Task, Worker
from manager.db.protocol_models import ProtocolWorker
from manager.db.queries import protocol_workers
from manager.db.queries.task_reads import (
    task_types_of_job as task_types_of_job,  # /potential lists them with each job
)

#: A task's frame as the protocols write it: one frame, or ``[first, last]`` of a range.
Frame = share_outputs.Frame


def protocol_worker(session: Session, protocol: str, key: str) -> tuple[Worker, int | None] | None:
    """The core worker a protocol knows by ``key`` (a node name, a hostname), and its number."""
    row = session.get(ProtocolWorker, (protocol, key))
    if row is None:
        return None
    worker = session.get(Worker, row.worker_id)
    return (worker, row.number) if worker is not None else None


def add_protocol_worker(
    session: Session,
    protocol: str,
    key: str,
    *,
    platform: str,
    task_types: list[str],
    address: str,
    now: datetime,
    numbered: bool = False,
) -> tuple[Worker, int | None]:
    """Register a core worker for a protocol client; the protocol has no secret of its own."""
    worker = workers.register_worker(
        session,
        name=key,
        secret_hash=NO_SECRET,
        platform=platform,
        supported_task_types=task_types,
        address=address,
        now=now,
    )
    number = None
    if numbered:
        number = protocol_workers.highest_worker_number(session, protocol) + 1
    session.add(ProtocolWorker(protocol=protocol, key=key, worker_id=worker.id, number=number))
    session.flush()
    return worker, number


def is_live(worker: Worker) -> bool:
    return worker.status in (WorkerStatus.AWAKE, WorkerStatus.STARTING, WorkerStatus.ASLEEP)


def _first_parameters(task: Task) -> dict[str, Any]:
    if not task.commands:
        return {}
    parameters = task.commands[0].get("parameters") or {}
    return parameters if isinstance(parameters, dict) else {}


def task_frame(task: Task) -> Frame | None:
    """The frame (or ``[first, last]``) a task renders, read from its first command."""
    return share_outputs.task_frame(task.commands)


def task_blendfile(task: Task, job: Job) -> str:
    value = _first_parameters(task).get("blendfile") or job.settings.get("blendfile") or ""
    return str(value)


def job_frame_count(job: Job) -> int:
    """How many frames a job renders: its ``frames`` setting, else its number of tasks."""
    try:
        return len(parse_frame_range(str(job.settings.get("frames", ""))))
    except FrameRangeError:
        return job.tasks_total
