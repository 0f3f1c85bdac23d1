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

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from manager.core import events
from manager.core.statuses import TaskStatus
from manager.core.worker_facts import AnyWorker
from manager.db.models import Task, Worker
from manager.db.queries import claims
from manager.db.queries.claims import current_task_id
from manager.db.queries.job_counters import change_job_counts
from manager.db.session import is_postgres

__all__ = ["claim_task_id", "current_task_id", "current_task_of"]


def current_task_of(session: Session, worker: Worker) -> Task | None:
    task_id = current_task_id(session, worker.id)
    return session.get(Task, task_id) if task_id is not None else None


def claim_task_id(
    session: Session,
    worker: AnyWorker,
    now: datetime,
    accept_job: Callable[[str], bool] | None = None,
) -> str | None:
    """Assign the best runnable task to the worker; its id, or None when there is none.

    Plain statements, no ORM objects: every worker poll runs this. ``accept_job`` lets a
    protocol skip jobs its client cannot reach (a /farm node lacking the file's share).
    """
    if not worker.supported_task_types:
        return None
    postgres = is_postgres(session)
    session.flush()
    for job_id in claims.candidate_jobs(session, worker.id, worker.blender_version):
        # On SQLite the write transaction (BEGIN IMMEDIATE) already holds the database, so
        # the candidate query's status check still holds; PostgreSQL locks and checks again.
        if postgres and not claims.lock_schedulable_job(session, job_id):
            continue
        if accept_job is not None and not accept_job(job_id):
            continue
        found = claims.next_task_in_job(
            session, worker.id, worker.supported_task_types, job_id, postgres
        )
        if found is None:
            continue
        task_id, old_status = found
        if not claims.claim_task(session, task_id, worker.id, now, f"assigned to {worker.name}"):
            continue
        # The job was queued or active (a claim checks), and with a task active it is active.
        change_job_counts(
            session,
            job_id,
            {old_status: -1, TaskStatus.ACTIVE: 1},
            now,
            status=TaskStatus.ACTIVE,
        )
        events.record(session, "task", id=task_id, job_id=job_id, worker_id=worker.id)
        return task_id
    return None
