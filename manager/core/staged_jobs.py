"""Submissions stored in steps, so that a big one never holds up the workers.

A job is compiled in a read transaction, without the write lock. One that compiles to more
than ``ONE_GO_TASKS`` tasks is then stored in short write transactions of its own, between
which the worker requests queued meanwhile get their turn: first the job row, as
under-construction (which the scheduler and the listings pass over), then its tasks and their
dependencies, about ``STEP_SECONDS`` of inserting at a time, and last its real status
(queued or paused). A job
that stays under construction (the manager stopped half-way) is deleted, in steps too, by
``remove_abandoned_jobs`` at the next start and in the health checks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from manager.core import events, jobs
from manager.core.job_types import JobTypeRegistry
from manager.core.statuses import JobStatus
from manager.core.waiting import note_jobs_waiting_for_task_types
from manager.core.write_steps import FIRST_STEP, ONE_GO_TASKS, WriteSteps
from manager.db.queries import jobs as job_queries
from manager.db.queries import submitted_tasks, unfinished_jobs
from manager.db.session import Database

log = logging.getLogger(__name__)

#: A job under construction that no step has touched for this long has lost its submitter.
ABANDONED_AFTER = timedelta(minutes=5)


def submit_in_steps(
    db: Database,
    registry: JobTypeRegistry,
    sub: jobs.JobSubmission,
    now: datetime,
    clock: Callable[[], datetime],
    step: int | None = None,
    beside_job: Callable[[Session, str], None] | None = None,
) -> str:
    """Check, compile and store a submission; the new job's id once all of it is stored.
    ``now`` is the submission's time, ``clock`` tells the time as the steps go on; ``step``
    fixes the rows per step (else they follow ``STEP_SECONDS``). ``beside_job(session,
    job_id)`` stores what a door keeps beside the job in the transaction that makes the job
    visible, so neither is seen without the other; what it raises undoes the submission."""
    with db.read() as session:
        compiled = jobs.compile_submission(session, registry, sub, now)
    count = compiled.tasks.count
    task_ids = jobs.TaskIds(count)
    if count <= (step or ONE_GO_TASKS):
        with db.write() as session:
            jobs.add_job(session, compiled, sub, now, compiled.initial)
            jobs.insert_tasks(session, compiled, task_ids, range(count), now)
            jobs.insert_dependencies(session, compiled, task_ids, range(count))
            if beside_job is not None:
                beside_job(session, compiled.job_id)
            _announce(session, compiled.job_id, now)
        return compiled.job_id

    with db.write() as session:
        jobs.add_job(session, compiled, sub, now, JobStatus.UNDER_CONSTRUCTION)
    try:
        dialect = db.write_engine.dialect
        steps = WriteSteps(step)
        for which in steps.ranges(count):
            # Rows are made ready before the lock is taken; under it they are only inserted.
            rows = jobs.task_rows(compiled, task_ids, which, now)
            rows = submitted_tasks.task_rows_for_driver(dialect, jobs.TASK_COLUMNS, rows)
            with db.write() as session:
                started = time.perf_counter()
                submitted_tasks.insert_ready_tasks(session, jobs.TASK_COLUMNS, rows)
                unfinished_jobs.touch_job(session, compiled.job_id, clock())
            held = time.perf_counter() - started  # the commit too: it writes the pages
            steps.took(held)
            steps.pause(held)
        # Dependencies after every task: they may point forwards as well as back.
        for which in steps.ranges(count):
            rows = jobs.dependency_rows(compiled, task_ids, which)
            with db.write() as session:
                submitted_tasks.insert_ready_dependencies(session, jobs.DEPENDENCY_COLUMNS, rows)
        with db.write() as session:
            if not unfinished_jobs.open_job(session, compiled.job_id, compiled.initial, now):
                raise RuntimeError(f"job {compiled.job_id} was removed while it was stored")
            if beside_job is not None:
                beside_job(session, compiled.job_id)
            _announce(session, compiled.job_id, now)
    except Exception:
        log.warning("storing job %s failed; removing what was stored of it", compiled.job_id)
        try:
            _delete_in_steps(db, compiled.job_id, step or FIRST_STEP)
        except Exception:  # noqa: BLE001 - the health checks delete it later
            log.exception("could not remove the half-stored job %s", compiled.job_id)
        raise
    return compiled.job_id


def _announce(session: Session, job_id: str, now: datetime) -> None:
    note_jobs_waiting_for_task_types(session, now, job_ids=[job_id])
    events.record(session, "job", id=job_id)


def remove_abandoned_jobs(db: Database, now: datetime, step: int = FIRST_STEP) -> list[str]:
    """Delete the jobs left under construction for ``ABANDONED_AFTER``; their ids."""
    with db.read() as session:
        abandoned = unfinished_jobs.abandoned_job_ids(session, now - ABANDONED_AFTER)
    for job_id in abandoned:
        log.warning("job %s was left half-stored; deleting it", job_id)
        _delete_in_steps(db, job_id, step)
    return abandoned


def _delete_in_steps(db: Database, job_id: str, step: int) -> None:
    while True:
        with db.write() as session:
            if not unfinished_jobs.is_under_construction(session, job_id):
                return
            if not job_queries.delete_some_tasks(session, job_id, step):
                unfinished_jobs.delete_unfinished_job(session, job_id)
                return
