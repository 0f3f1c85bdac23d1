"""Choosing and claiming the next task for a worker.

Order: job priority, then the job with the fewest active tasks (so jobs of equal priority
share the workers), then job age; within a job: task priority, then dispatch rank (first,
last and middle chunks first). Only task types the worker supports, jobs of its tags, tasks
whose dependencies completed, never a task it failed, never a job that blocked it.

Claiming is one UPDATE that checks the task is still runnable; with the job row locked on
PostgreSQL (and ``SKIP LOCKED`` on the task) two managers on one database never hand out
the same task.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from manager.core.statuses import SCHEDULABLE_JOB_STATUSES, TaskStatus
from manager.core.task_states import count_change, follow_tasks, lock_job
from manager.db.models import RUNNABLE_SQL, Task, UTCDateTime, Worker
from manager.db.session import is_postgres

#: How many candidate jobs one claim looks at before giving up.
CANDIDATE_JOBS = 25


_CURRENT_TASK = text(
    "SELECT id FROM tasks WHERE worker_id = :worker_id AND status = 'active' LIMIT 1"
)


def current_task_of(session: Session, worker: Worker) -> Task | None:
    task_id = session.scalar(_CURRENT_TASK, {"worker_id": worker.id})
    return session.get(Task, task_id) if task_id is not None else None


# The two queries every claim runs are plain SQL built once: composing them with the ORM on
# each call cost ten times more than running them. Status literals are inline, not bound,
# so the planner can use the partial index of runnable tasks.
_CANDIDATE_JOBS_SQL = text(
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

_NEXT_TASK_SQL = """
    SELECT tasks.id, tasks.status FROM tasks
    WHERE tasks.job_id = :job_id
      AND tasks.{runnable}
      AND tasks.task_type IN :task_types
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
_NEXT_TASK = {
    postgres: text(
        _NEXT_TASK_SQL.format(runnable=RUNNABLE_SQL)
        + (" FOR UPDATE OF tasks SKIP LOCKED" if postgres else "")
    ).bindparams(bindparam("task_types", expanding=True))
    for postgres in (False, True)
}

_CLAIM = text(
    f"""
    UPDATE tasks SET status = 'active', worker_id = :worker_id, last_touched = :now, started = :now,
                     updated = :now, activity = :activity
    WHERE id = :task_id AND {RUNNABLE_SQL}
    """
).bindparams(bindparam("now", type_=UTCDateTime))


def _candidate_jobs(session: Session, worker: Worker) -> list[str]:
    return list(session.scalars(_CANDIDATE_JOBS_SQL, {"worker_id": worker.id}).all())


def _next_task_in_job(
    session: Session, worker: Worker, job_id: str, postgres: bool
) -> tuple[str, str] | None:
    """The id and status of the job's best runnable task for this worker."""
    row = session.execute(
        _NEXT_TASK[postgres],
        {"job_id": job_id, "worker_id": worker.id, "task_types": worker.supported_task_types},
    ).first()
    return (row[0], row[1]) if row is not None else None


def claim_next_task(session: Session, worker: Worker, now: datetime) -> Task | None:
    """Assign the best runnable task to the worker and return it, or None when there is none."""
    if not worker.supported_task_types:
        return None
    postgres = is_postgres(session)
    for job_id in _candidate_jobs(session, worker):
        job = lock_job(session, job_id)
        if job.status not in SCHEDULABLE_JOB_STATUSES:
            continue
        found = _next_task_in_job(session, worker, job_id, postgres)
        if found is None:
            continue
        task_id, old_status = found
        claimed = session.execute(
            _CLAIM,
            {
                "worker_id": worker.id,
                "now": now,
                "activity": f"assigned to {worker.name}",
                "task_id": task_id,
            },
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue
        task = session.get(Task, task_id, populate_existing=True)
        assert task is not None
        count_change(job, old_status, TaskStatus.ACTIVE)
        job.updated = now
        follow_tasks(session, job, now)
        return task
    return None
