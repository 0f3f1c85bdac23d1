"""Statements on tasks: the worker hot path's as plain statements without ORM objects, and
the bulk changes of a job's tasks, which keep the session's loaded copies in step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, Text, bindparam, case, delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from manager.core.errors import NotFound
from manager.core.statuses import TaskStatus
from manager.db.models import Job, JobBlock, Task, TaskDependency, TaskFailure, Worker
from manager.db.prepared import Prepared
from manager.db.session import expire_loaded

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


# One statement for every progress report: COALESCE keeps what the report leaves out.
_REPORT = Prepared(
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"))
    .values(
        status=bindparam("status"),
        steps_completed=func.coalesce(bindparam("steps", type_=Integer), _TASKS.c.steps_completed),
        activity=func.coalesce(bindparam("activity", type_=Text), _TASKS.c.activity),
        last_touched=func.coalesce(
            bindparam("touched", type_=_TASKS.c.last_touched.type), _TASKS.c.last_touched
        ),
        updated=bindparam("now"),
    )
)


def store_report(
    session: Session,
    task_id: str,
    status: TaskStatus,
    now: datetime,
    *,
    steps: int | None,
    activity: str | None,
    touched: datetime | None,
) -> None:
    """Store a worker's report on its task; ``None`` leaves steps, activity and the lease
    (``last_touched``) as they are."""
    _REPORT.execute(
        session,
        task_id=task_id,
        status=status.value,
        steps=steps,
        activity=activity,
        now=now,
        touched=touched,
    )
    expire_loaded(session, Task, task_id)


_WORKERS = cast(Table, Worker.__table__)

_CREDIT_WORKER = Prepared(
    update(_WORKERS)
    .where(_WORKERS.c.id == bindparam("worker_id"))
    .values(
        tasks_completed=_WORKERS.c.tasks_completed + 1,
        frames_rendered=_WORKERS.c.frames_rendered
        + select(_TASKS.c.frame_count).where(_TASKS.c.id == bindparam("task_id")).scalar_subquery(),
    )
)


def credit_worker(session: Session, worker_id: str, task_id: str) -> None:
    """Count the task, just completed, and its frames to the worker that rendered them: what
    a worker did is kept on its row, so listing workers never counts a farm's history."""
    _CREDIT_WORKER.execute(session, worker_id=worker_id, task_id=task_id)
    loaded = session.identity_map.get(identity_key(Worker, worker_id))
    if loaded is not None:
        session.expire(loaded, ["tasks_completed", "frames_rendered"])


def active_tasks_of_worker(session: Session, worker_id: str) -> list[Task]:
    return list(
        session.scalars(
            select(Task).where(Task.worker_id == worker_id, Task.status == TaskStatus.ACTIVE)
        ).all()
    )


def move_tasks_of_job(
    session: Session,
    job_id: str,
    from_statuses: tuple[TaskStatus, ...],
    new: TaskStatus,
    now: datetime,
    activity: str,
) -> dict[TaskStatus, int]:
    """Move every task of the job in one of ``from_statuses`` to ``new``; how many left each
    status. The job's counters are the caller's to change."""
    session.flush()
    moved: dict[TaskStatus, int] = {}
    for old in from_statuses:
        if old == new:
            continue
        result = session.execute(
            update(Task)
            .where(Task.job_id == job_id, Task.status == old)
            .values(status=new, activity=activity, updated=now)
            .execution_options(synchronize_session=False)
        )
        count = result.rowcount  # type: ignore[attr-defined]
        if count:
            moved[old] = count
    if moved:
        _expire_tasks_of_job(session, job_id)
    return moved


def requeue_tasks_of_job(
    session: Session, job_id: str, now: datetime, activity: str, *, completed_too: bool
) -> None:
    """Queue the job's tasks again, with their steps reset (the completed ones only when
    ``completed_too``), and forget who failed them and which workers the job blocked. The
    job's counters are the caller's to rebuild."""
    session.flush()
    which = update(Task).where(Task.job_id == job_id)
    if not completed_too:
        which = which.where(Task.status != TaskStatus.COMPLETED)
    session.execute(
        which.values(
            status=TaskStatus.QUEUED, activity=activity, updated=now, steps_completed=0
        ).execution_options(synchronize_session=False)
    )
    forget_failures_and_blocks_of_job(session, job_id)
    session.expire_all()


def forget_failures_and_blocks_of_job(session: Session, job_id: str) -> None:
    """Forget which workers failed the job's tasks and which workers the job blocked."""
    session.execute(delete(TaskFailure).where(TaskFailure.job_id == job_id))
    session.execute(delete(JobBlock).where(JobBlock.job_id == job_id))


def move_some_tasks_of_job(
    session: Session,
    job_id: str,
    old: TaskStatus,
    new: TaskStatus,
    now: datetime,
    activity: str,
    limit: int,
    *,
    reset_steps: bool = False,
) -> int:
    """Move up to ``limit`` of the job's tasks in status ``old`` to ``new`` (their steps
    back to 0 with ``reset_steps``), in one statement; how many moved. The job's counters
    are the caller's to change."""
    session.flush()
    chosen = (
        select(Task.id).where(Task.job_id == job_id, Task.status == old).limit(limit)
    ).scalar_subquery()
    values: dict[str, Any] = {"status": new, "activity": activity, "updated": now}
    if reset_steps:
        values["steps_completed"] = 0
    result = session.execute(
        update(Task)
        .where(Task.id.in_(chosen))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        _expire_tasks_of_job(session, job_id)
    return count


#: How many task ids one statement names, well under every database's limit of parameters.
_BATCH = 500


def requeue_tasks(
    session: Session,
    task_ids: list[str],
    seen: TaskStatus,
    status: TaskStatus,
    now: datetime,
    activity: str,
) -> int:
    """Queue (or pause) these tasks again with their steps reset, those still in status
    ``seen`` (what was decided on), and forget who failed them; how many moved. The job's
    counters are the caller's to change."""
    moved = 0
    for start in range(0, len(task_ids), _BATCH):
        batch = task_ids[start : start + _BATCH]
        result = session.execute(
            update(Task)
            .where(Task.id.in_(batch), Task.status == seen)
            .values(status=status, activity=activity, updated=now, steps_completed=0)
            .execution_options(synchronize_session=False)
        )
        moved += result.rowcount  # type: ignore[attr-defined]
        session.execute(delete(TaskFailure).where(TaskFailure.task_id.in_(batch)))
    session.expire_all()
    return moved


def tasks_of_job_in_order(session: Session, job_id: str) -> Iterator[tuple[str, str, str, Any]]:
    """Id, name, status and commands of each of the job's tasks, in the job's order, read a
    batch at a time (a job may have a million)."""
    session.flush()
    rows = session.execute(
        select(Task.id, Task.name, Task.status, Task.commands)
        .where(Task.job_id == job_id)
        .order_by(Task.index_in_job)
        .execution_options(yield_per=2_000)
    )
    yield from ((row.id, row.name, row.status, row.commands) for row in rows)


def dependencies_of_job(session: Session, job_id: str) -> list[tuple[str, str]]:
    """(task, the task it depends on) of each dependency among the job's tasks."""
    rows = session.execute(
        select(TaskDependency.task_id, TaskDependency.depends_on_id)
        .join(Task, Task.id == TaskDependency.task_id)
        .where(Task.job_id == job_id)
    ).all()
    return [(task_id, depends_on) for task_id, depends_on in rows]


def _expire_tasks_of_job(session: Session, job_id: str) -> None:
    # Loaded Task objects still hold their old values; make them reload.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Task) and obj.job_id == job_id:
            session.expire(obj)


# Failures and blocks ------------------------------------------------------------------------


def failure_count(session: Session, task_id: str) -> int:
    """How many workers failed the task."""
    count = session.scalar(
        select(func.count()).select_from(TaskFailure).where(TaskFailure.task_id == task_id)
    )
    return count or 0


def failures_on_job(session: Session, job_id: str, worker_id: str, task_type: str) -> int:
    """How many of the job's tasks of this type the worker failed."""
    count = session.scalar(
        select(func.count())
        .select_from(TaskFailure)
        .join(Task, Task.id == TaskFailure.task_id)
        .where(
            TaskFailure.job_id == job_id,
            TaskFailure.worker_id == worker_id,
            Task.task_type == task_type,
        )
    )
    return count or 0


def forget_failures_of_task(session: Session, task_id: str) -> None:
    session.execute(delete(TaskFailure).where(TaskFailure.task_id == task_id))


# The health checks' reads --------------------------------------------------------------------


def active_tasks(session: Session) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.status == TaskStatus.ACTIVE)).all())


def active_tasks_untouched_since(session: Session, deadline: datetime) -> list[Task]:
    """Active tasks whose lease ran out: no progress reported since ``deadline``."""
    return list(
        session.scalars(
            select(Task).where(Task.status == TaskStatus.ACTIVE, Task.last_touched < deadline)
        ).all()
    )


def latest_completed_times(
    session: Session, job_id: str, task_type: str, limit: int
) -> list[tuple[datetime | None, datetime | None, int]]:
    """Started, finished and steps of the job's latest completed tasks of the type."""
    rows = session.execute(
        select(Task.started, Task.updated, Task.steps_total)
        .where(
            Task.job_id == job_id,
            Task.task_type == task_type,
            Task.status == TaskStatus.COMPLETED,
        )
        .order_by(Task.updated.desc())
        .limit(limit)
    ).all()
    return [(started, finished, steps) for started, finished, steps in rows]


def tasks_of_jobs_starting_with(session: Session, job_prefix: str, worker_id: str) -> list[str]:
    """Tasks of the jobs whose id starts with ``job_prefix`` (a client that names jobs by a
    short number), the worker's own first, its active one before the rest."""
    return [
        str(task_id)
        for task_id in session.scalars(
            select(Task.id)
            .where(Task.job_id.startswith(job_prefix, autoescape=True))
            .order_by(
                (Task.worker_id == worker_id).desc(),
                (Task.status == TaskStatus.ACTIVE).desc(),
                Task.updated.desc(),
            )
        )
    ]
