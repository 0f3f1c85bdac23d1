"""Reads of tasks for the worker hot path: plain statements, no ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, select
from sqlalchemy.orm import Session

from manager.core.errors import NotFound
from manager.db.models import Job, Task
from manager.db.prepared import Prepared

_TASKS = cast(Table, Task.__table__)
_JOBS = cast(Table, Job.__table__)

# Read in one statement, without ORM objects: a task goes out on every worker poll.
_ASSIGNED_TASK = Prepared(
    select(
        _TASKS.c.id.label("uuid"),
        _TASKS.c.job_id.label("job"),
        _TASKS.c.name,
        _TASKS.c.status,
        _TASKS.c.priority,
        _JOBS.c.priority.label("job_priority"),
        _JOBS.c.job_type,
        _TASKS.c.task_type,
        _TASKS.c.commands,
        _TASKS.c.steps_completed,
        _TASKS.c.steps_total,
    )
    .join_from(_TASKS, _JOBS, _JOBS.c.id == _TASKS.c.job_id)
    .where(_TASKS.c.id == bindparam("task_id"))
)


_ASSIGNED_TASK_FIELDS = (
    "uuid",
    "job",
    "name",
    "status",
    "priority",
    "job_priority",
    "job_type",
    "task_type",
    "commands",
    "steps_completed",
    "steps_total",
)


def assigned_task(session: Session, task_id: str) -> dict[str, Any]:
    """The ``AssignedTask`` of the API for a task a worker has just been given."""
    row = _ASSIGNED_TASK.first(session, task_id=task_id)
    if row is None:
        raise NotFound("task", task_id)
    return dict(zip(_ASSIGNED_TASK_FIELDS, row, strict=True))


_TASK_FACTS = Prepared(
    select(
        _TASKS.c.id,
        _TASKS.c.job_id,
        _TASKS.c.worker_id,
        _TASKS.c.status,
        _TASKS.c.steps_total,
        _TASKS.c.name,
    ).where(_TASKS.c.id == bindparam("task_id"))
)


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What deciding on a worker's report needs to know of its task."""

    id: str
    job_id: str
    worker_id: str | None
    status: str
    steps_total: int
    name: str


def task_facts(session: Session, task_id: str) -> TaskFacts | None:
    session.flush()  # the statement reads rows the ORM may still hold changes for
    row = _TASK_FACTS.first(session, task_id=task_id)
    return TaskFacts(*row) if row is not None else None


def task_of_job_for_worker(session: Session, job_id: str, worker_id: str) -> str | None:
    """The job's task that the worker holds, else the job's first task: the task a client
    that names jobs rather than tasks (the 2015 API) reports on."""
    held_first = case((_TASKS.c.worker_id == worker_id, 0), else_=1)
    found: str | None = session.scalar(
        select(_TASKS.c.id)
        .where(_TASKS.c.job_id == job_id)
        .order_by(held_first, _TASKS.c.index_in_job)
        .limit(1)
    )
    return found
