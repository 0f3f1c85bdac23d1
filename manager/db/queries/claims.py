"""The scheduler's statements: a worker's current task, candidate jobs, the next task of a job
and the claim of it.

Every worker poll runs these, so they are plain SQL built once: composing them with the ORM
on each call cost ten times more than running them. Status literals are inline, not bound,
so the planner can use the partial index of runnable tasks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from manager.core.statuses import SCHEDULABLE_JOB_STATUSES, TaskStatus
from manager.db.models import RUNNABLE_SQL, Task, UTCDateTime, sql_literals
from manager.db.prepared import Prepared
from manager.db.session import expire_loaded

#: How many candidate jobs one claim looks at before giving up.
CANDIDATE_JOBS = 25

_ACTIVE = sql_literals(TaskStatus.ACTIVE)

_CURRENT_TASK = Prepared(
    text(f"SELECT id FROM tasks WHERE worker_id = :worker_id AND status = {_ACTIVE} LIMIT 1")
)

_CANDIDATE_JOBS = Prepared(
    text(
        f"""
    SELECT jobs.id FROM jobs
    WHERE jobs.status IN ({sql_literals(*SCHEDULABLE_JOB_STATUSES)})
      AND jobs.delete_requested_at IS NULL
      AND jobs.tasks_queued + jobs.tasks_soft_failed > 0
      AND (jobs.worker_tag_id IS NULL OR jobs.worker_tag_id IN (
           SELECT m.tag_id FROM worker_tag_membership m WHERE m.worker_id = :worker_id))
      AND (jobs.blender_version IS NULL OR (jobs.blender_version <= :blender_newest
           AND (jobs.blender_exact = FALSE OR jobs.blender_version >= :blender_oldest)))
    ORDER BY jobs.priority DESC, jobs.tasks_active ASC, jobs.created ASC
    LIMIT {CANDIDATE_JOBS}
    """
    )
)

_NEXT_TASK_SQL = f"""
    SELECT tasks.id, tasks.status FROM tasks
    WHERE tasks.job_id = :job_id
      AND tasks.{RUNNABLE_SQL}
      AND tasks.task_type IN ({{task_types}})
      AND tasks.task_type NOT IN (
          SELECT b.task_type FROM job_blocklist b
          WHERE b.job_id = :job_id AND b.worker_id = :worker_id)
      AND NOT EXISTS (
          SELECT 1 FROM task_failures f WHERE f.task_id = tasks.id AND f.worker_id = :worker_id)
      AND (tasks.dependency_count = 0 OR NOT EXISTS (
          SELECT 1 FROM task_dependencies d JOIN tasks dep ON dep.id = d.depends_on_id
          WHERE d.task_id = tasks.id AND dep.status != {sql_literals(TaskStatus.COMPLETED)}))
    ORDER BY tasks.priority DESC, tasks.dispatch_rank ASC
    LIMIT 1
"""
#: Prepared per database and number of task types the worker supports, which is a handful;
#: a worker naming more than this many gets its statement compiled for each claim.
_NEXT_TASK: dict[tuple[bool, int], Prepared] = {}
_CACHED_TYPE_COUNTS = 32

_CLAIM = Prepared(
    text(
        f"""
        UPDATE tasks SET status = {_ACTIVE}, worker_id = :worker_id, last_touched = :now,
                         started = :now, updated = :now, activity = :activity
        WHERE id = :task_id AND {RUNNABLE_SQL}
        """
    ).bindparams(bindparam("now", type_=UTCDateTime))
)

_LOCK_JOB = Prepared(
    text("SELECT status FROM jobs WHERE id = :job_id AND delete_requested_at IS NULL FOR UPDATE")
)


def current_task_id(session: Session, worker_id: str) -> str | None:
    """The task the worker runs now, if any."""
    task_id: str | None = _CURRENT_TASK.scalar(session, worker_id=worker_id)
    return task_id


def candidate_jobs(
    session: Session, worker_id: str, blender_version: int | None = None
) -> list[str]:
    """Jobs with runnable tasks that the worker's tags admit and whose file its Blender
    (major * 100 + minor; None: a worker that does not say, which takes any) opens, best
    first: a file saved by the same or an older Blender, or the same one for a job pinned
    to its version."""
    newest, oldest = (blender_version, blender_version) if blender_version else (9999, 0)
    rows = _CANDIDATE_JOBS.rows(
        session, worker_id=worker_id, blender_newest=newest, blender_oldest=oldest
    )
    return [row[0] for row in rows]


def lock_schedulable_job(session: Session, job_id: str) -> bool:
    """Lock the job's row (PostgreSQL only); whether it still hands out tasks (a job being
    deleted hands out none)."""
    return _LOCK_JOB.scalar(session, job_id=job_id) in SCHEDULABLE_JOB_STATUSES


def _next_task_statement(postgres: bool, type_count: int) -> Prepared:
    key = (postgres, type_count)
    statement = _NEXT_TASK.get(key)
    if statement is None:
        placeholders = ", ".join(f":task_type_{i}" for i in range(type_count))
        sql = _NEXT_TASK_SQL.format(task_types=placeholders)
        if postgres:
            sql += " FOR UPDATE OF tasks SKIP LOCKED"
        statement = Prepared(text(sql))
        if type_count <= _CACHED_TYPE_COUNTS:
            _NEXT_TASK[key] = statement
    return statement


def next_task_in_job(
    session: Session, worker_id: str, task_types: list[str], job_id: str, postgres: bool
) -> tuple[str, str] | None:
    """The id and status of the job's best runnable task for this worker."""
    types = {f"task_type_{i}": task_type for i, task_type in enumerate(task_types)}
    row = _next_task_statement(postgres, len(types)).first(
        session, job_id=job_id, worker_id=worker_id, **types
    )
    return (row[0], row[1]) if row is not None else None


def claim_task(
    session: Session, task_id: str, worker_id: str, now: datetime, activity: str
) -> bool:
    """Make the task the worker's if it is still runnable; whether it was."""
    claimed = _CLAIM.execute(
        session, worker_id=worker_id, now=now, activity=activity, task_id=task_id
    )
    if claimed == 1:
        expire_loaded(session, Task, task_id)
    return claimed == 1
