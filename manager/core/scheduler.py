"""Choosing and claiming the next task for a worker.

Order: job priority, then the job with the fewest active tasks (so jobs of equal priority
share the workers), then job age; within a job: task priority, then dispatch rank (first,
last and middle chunks first). Only task types the worker supports, jobs of its tags, tasks
whose dependencies completed, never a task it failed, never a job that blocked it.

Claiming is one UPDATE that checks the task is still runnable; with the job row locked on
PostgreSQL (and ``SKIP LOCKED`` on the task) two managers on one database never hand out
the same task. Every worker poll runs this, so it is a handful of plain statements, and
the job's counters change relative to what is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from manager.core import events
from manager.core.statuses import SCHEDULABLE_JOB_STATUSES, TaskStatus
from manager.core.worker_facts import AnyWorker
from manager.db.models import RUNNABLE_SQL, Job, Task, UTCDateTime, Worker
from manager.db.prepared import Prepared
from manager.db.session import expire_loaded, is_postgres

#: How many candidate jobs one claim looks at before giving up.
CANDIDATE_JOBS = 25


_CURRENT_TASK = Prepared(
    text("SELECT id FROM tasks WHERE worker_id = :worker_id AND status = 'active' LIMIT 1")
)


def current_task_id(session: Session, worker_id: str) -> str | None:
    task_id: str | None = _CURRENT_TASK.scalar(session, worker_id=worker_id)
    return task_id


def current_task_of(session: Session, worker: Worker) -> Task | None:
    task_id = current_task_id(session, worker.id)
    return session.get(Task, task_id) if task_id is not None else None


# The two queries every claim runs are plain SQL built once: composing them with the ORM on
# each call cost ten times more than running them. Status literals are inline, not bound,
# so the planner can use the partial index of runnable tasks.
_CANDIDATE_JOBS = Prepared(
    text(
        f"""
    SELECT jobs.id FROM jobs
    WHERE jobs.status IN ('queued', 'active')
      AND jobs.tasks_queued + jobs.tasks_soft_failed > 0
      AND (jobs.worker_tag_id IS NULL OR jobs.worker_tag_id IN (
           SELECT m.tag_id FROM worker_tag_membership m WHERE m.worker_id = :worker_id))
    ORDER BY jobs.priority DESC, jobs.tasks_active ASC, jobs.created ASC
    LIMIT {CANDIDATE_JOBS}
    """
    )
)

_NEXT_TASK_SQL = """
    SELECT tasks.id, tasks.status FROM tasks
    WHERE tasks.job_id = :job_id
      AND tasks.{runnable}
      AND tasks.task_type IN ({task_types})
      AND tasks.task_type NOT IN (
          SELECT b.task_type FROM job_blocklist b
          WHERE b.job_id = :job_id AND b.worker_id = :worker_id)
      AND NOT EXISTS (
          SELECT 1 FROM task_failures f WHERE f.task_id = tasks.id AND f.worker_id = :worker_id)
      AND (tasks.dependency_count = 0 OR NOT EXISTS (
          SELECT 1 FROM task_dependencies d JOIN tasks dep ON dep.id = d.depends_on_id
          WHERE d.task_id = tasks.id AND dep.status != 'completed'))
    ORDER BY tasks.priority DESC, tasks.dispatch_rank ASC
    LIMIT 1
"""
#: Prepared per database and number of task types the worker supports, which is a handful;
#: a worker naming more than this many gets its statement compiled for each claim.
_NEXT_TASK: dict[tuple[bool, int], Prepared] = {}
_CACHED_TYPE_COUNTS = 32


def _next_task_statement(postgres: bool, type_count: int) -> Prepared:
    key = (postgres, type_count)
    statement = _NEXT_TASK.get(key)
    if statement is None:
        placeholders = ", ".join(f":task_type_{i}" for i in range(type_count))
        sql = _NEXT_TASK_SQL.format(runnable=RUNNABLE_SQL, task_types=placeholders)
        if postgres:
            sql += " FOR UPDATE OF tasks SKIP LOCKED"
        statement = Prepared(text(sql))
        if type_count <= _CACHED_TYPE_COUNTS:
            _NEXT_TASK[key] = statement
    return statement


_CLAIM = Prepared(
    text(
        f"""
        UPDATE tasks SET status = 'active', worker_id = :worker_id, last_touched = :now,
                         started = :now, updated = :now, activity = :activity
        WHERE id = :task_id AND {RUNNABLE_SQL}
        """
    ).bindparams(bindparam("now", type_=UTCDateTime))
)

# Counters change relative to what is stored, so no loaded copy of the job is written back.
# The job was queued or active (a claim checks), and with a task active it is active.
_COUNT_CLAIM = Prepared(
    text(
        """
        UPDATE jobs SET tasks_queued = tasks_queued - :from_queued,
                        tasks_soft_failed = tasks_soft_failed - :from_soft_failed,
                        tasks_active = tasks_active + 1, status = 'active', updated = :now
        WHERE id = :job_id
        """
    ).bindparams(bindparam("now", type_=UTCDateTime))
)

_LOCK_JOB = Prepared(text("SELECT status FROM jobs WHERE id = :job_id FOR UPDATE"))


def _candidate_jobs(session: Session, worker_id: str) -> list[str]:
    return [row[0] for row in _CANDIDATE_JOBS.rows(session, worker_id=worker_id)]


def _next_task_in_job(
    session: Session, worker_id: str, task_types: list[str], job_id: str, postgres: bool
) -> tuple[str, str] | None:
    """The id and status of the job's best runnable task for this worker."""
    types = {f"task_type_{i}": task_type for i, task_type in enumerate(task_types)}
    row = _next_task_statement(postgres, len(types)).first(
        session, job_id=job_id, worker_id=worker_id, **types
    )
    return (row[0], row[1]) if row is not None else None


def claim_task_id(session: Session, worker: AnyWorker, now: datetime) -> str | None:
    """Assign the best runnable task to the worker; its id, or None when there is none.

    Plain statements, no ORM objects: every worker poll runs this.
    """
    if not worker.supported_task_types:
        return None
    postgres = is_postgres(session)
    session.flush()
    for job_id in _candidate_jobs(session, worker.id):
        # On SQLite the write transaction (BEGIN IMMEDIATE) already holds the database, so
        # the candidate query's status check still holds; PostgreSQL locks and checks again.
        if postgres and _LOCK_JOB.scalar(session, job_id=job_id) not in SCHEDULABLE_JOB_STATUSES:
            continue
        found = _next_task_in_job(session, worker.id, worker.supported_task_types, job_id, postgres)
        if found is None:
            continue
        task_id, old_status = found
        claimed = _CLAIM.execute(
            session,
            worker_id=worker.id,
            now=now,
            activity=f"assigned to {worker.name}",
            task_id=task_id,
        )
        if claimed != 1:
            continue
        _COUNT_CLAIM.execute(
            session,
            from_queued=int(old_status == TaskStatus.QUEUED),
            from_soft_failed=int(old_status == TaskStatus.SOFT_FAILED),
            now=now,
            job_id=job_id,
        )
        expire_loaded(session, Job, job_id)
        expire_loaded(session, Task, task_id)
        events.record(session, "task", id=task_id, job_id=job_id, worker_id=worker.id)
        return task_id
    return None
