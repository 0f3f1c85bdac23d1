"""Submissions stored in steps, so that a big one never holds up the workers.

A job is compiled in a read transaction, without the write lock. One that compiles to more
than ``STEP_TASKS`` tasks is then stored in short write transactions of its own, between
which the worker requests queued meanwhile get their turn: first the job row, as
under-construction (which the scheduler and the listings pass over), then its tasks and their
dependencies ``STEP_TASKS`` at a time, and last its real status (queued or paused). A job
that stays under construction (the manager stopped half-way) is deleted, in steps too, by
``remove_abandoned_jobs`` at the next start and in the health checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from manager.core import events, jobs
from manager.core.job_types import JobTypeRegistry
from manager.core.statuses import JobStatus
from manager.core.waiting import note_jobs_waiting_for_task_types
from manager.db.queries import unfinished_jobs
from manager.db.session import Database

log = logging.getLogger(__name__)

#: Tasks per write transaction: a fraction of a second of inserting, the longest a worker
#: request waits behind a big submission.
STEP_TASKS = 5_000

#: A job under construction that no step has touched for this long has lost its submitter.
ABANDONED_AFTER = timedelta(minutes=5)


def submit_in_steps(
    db: Database,
    registry: JobTypeRegistry,
    sub: jobs.JobSubmission,
    now: datetime,
    clock: Callable[[], datetime],
    step: int = STEP_TASKS,
) -> str:
    """Check, compile and store a submission; the new job's id once all of it is stored.
    ``now`` is the submission's time, ``clock`` tells the time as the steps go on."""
    with db.read() as session:
        compiled = jobs.compile_submission(session, registry, sub, now)
    count = len(compiled.specs)
    task_ids = jobs.random_uuids(count)
    if count <= step:
        with db.write() as session:
            jobs.add_job(session, compiled, sub, now, compiled.initial)
            jobs.insert_tasks(session, compiled, task_ids, range(count), now)
            jobs.insert_dependencies(session, compiled, task_ids, range(count))
            _announce(session, compiled.job_id, now)
        return compiled.job_id

    with db.write() as session:
        jobs.add_job(session, compiled, sub, now, JobStatus.UNDER_CONSTRUCTION)
    try:
        for start in range(0, count, step):
            with db.write() as session:
                jobs.insert_tasks(
                    session, compiled, task_ids, range(start, min(count, start + step)), now
                )
                unfinished_jobs.touch_job(session, compiled.job_id, clock())
        # Dependencies after every task: they may point forwards as well as back.
        for start in range(0, count, step):
            with db.write() as session:
                jobs.insert_dependencies(
                    session, compiled, task_ids, range(start, min(count, start + step))
                )
        with db.write() as session:
            if not unfinished_jobs.open_job(session, compiled.job_id, compiled.initial, now):
                raise RuntimeError(f"job {compiled.job_id} was removed while it was stored")
            _announce(session, compiled.job_id, now)
    except Exception:
        log.warning("storing job %s failed; removing what was stored of it", compiled.job_id)
        try:
            _delete_in_steps(db, compiled.job_id, step)
        except Exception:  # noqa: BLE001 - the health checks delete it later
            log.exception("could not remove the half-stored job %s", compiled.job_id)
        raise
    return compiled.job_id


def _announce(session: Session, job_id: str, now: datetime) -> None:
    note_jobs_waiting_for_task_types(session, now, job_ids=[job_id])
    events.record(session, "job", id=job_id)


def remove_abandoned_jobs(db: Database, now: datetime, step: int = STEP_TASKS) -> list[str]:
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
            if not unfinished_jobs.delete_some_tasks(session, job_id, step):
                unfinished_jobs.delete_unfinished_job(session, job_id)
                return
