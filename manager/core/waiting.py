"""Why work cannot go on: failed tasks that no worker is left to run, and jobs whose next
tasks are of a type that no worker runs. A job always either ends or says why it waits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from client.blend_header import version_text
from manager.core import events
from manager.db.models import Job, WorkerTag
from manager.db.queries import waiting as waiting_queries

NO_WORKER_LEFT = (
    "no worker left that can run it (every capable worker failed it or is blocked from this job)"
)
#: How a job's activity starts while it waits for a task type that no worker runs.
WAITING_FOR_TASK_TYPE = "waiting: no worker runs task type"
#: The activity that replaces the waiting one once a worker runs the job's task types.
TASK_TYPES_RUN_AGAIN = "a worker that runs its task types is on the farm now"
#: How a job's activity starts while no connected worker's Blender can open its file.
WAITING_FOR_BLENDER = "waiting: needs Blender"
#: The activity that replaces that once a worker whose Blender opens the file is connected.
BLENDER_ON_FARM_AGAIN = "a worker whose Blender opens its file is on the farm now"


def capable_workers(session: Session, job: Job, task_type: str) -> set[str]:
    """Ids of the live or sleeping workers that run the task type, carry the job's worker tag
    and are not blocked from the job for that type; who failed which task is not looked at."""
    workers = waiting_queries.unblocked_live_workers(session, job.id, job.worker_tag_id, task_type)
    return {worker_id for worker_id, task_types in workers if task_type in task_types}


def tasks_no_worker_can_run(session: Session, job: Job, task_type: str) -> list[str]:
    """Soft-failed tasks of the job and task type that every capable worker has failed.

    Only tasks that some worker tried and failed are judged: a queued task nobody tried
    waits for workers to come online (a farm may be empty overnight).
    """
    soft_failed = waiting_queries.soft_failed_task_ids(session, job.id, task_type)
    if not soft_failed:
        return []
    capable = capable_workers(session, job, task_type)
    if not capable:
        return list(soft_failed)
    failed_by: dict[str, set[str]] = defaultdict(set)
    for task_id, worker_id in waiting_queries.failures_by(session, job.id, capable):
        failed_by[task_id].add(worker_id)
    return [task_id for task_id in soft_failed if capable <= failed_by[task_id]]


# Jobs waiting for a task type ---------------------------------------------------------------


def task_types_of_connected_workers(session: Session) -> set[str]:
    """The task types that workers which are on the farm now (awake, asleep, starting,
    testing) run, so submitters can mark the job types none of them runs."""
    return waiting_queries.task_types_of_live_workers(session)


class _TaskTypesRun:
    """The task types that registered workers run, in any state, per worker tag."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._by_tag: dict[str | None, set[str]] = {}

    def of(self, tag_id: str | None) -> set[str]:
        if tag_id not in self._by_tag:
            self._by_tag[tag_id] = waiting_queries.task_types_of_workers(self._session, tag_id)
        return self._by_tag[tag_id]


def _missing_task_type(session: Session, job: Job, run: _TaskTypesRun) -> str | None:
    """The type of the job's next task when no worker runs the type of any task that is
    ready to go; None when some ready task can be run (or none is ready)."""
    types = run.of(job.worker_tag_id)
    if types and waiting_queries.has_ready_task_of_types(session, job.id, types):
        return None
    return waiting_queries.next_ready_task_type(session, job.id)


def _waiting_activity(session: Session, job: Job, task_type: str) -> str:
    activity = f"{WAITING_FOR_TASK_TYPE} '{task_type}'"
    if job.worker_tag_id:
        tag = session.get(WorkerTag, job.worker_tag_id)
        if tag is not None:
            activity += f" among the workers tagged '{tag.name}'"
    return activity


def _blender_missing(session: Session, job: Job) -> str | None:
    """"waiting: needs Blender ≥ 5.0; workers have 4.2, 4.5" when workers are connected and
    none of them has a Blender that opens the job's file (the scheduler's rule); None when
    one has, when one does not say its version (it takes any job), or when none is there."""
    if job.blender_version is None:
        return None
    versions = waiting_queries.blender_versions_of_live_workers(session, job.worker_tag_id)
    if not versions or None in versions:
        return None
    known = sorted({v for v in versions if v is not None})
    wanted = job.blender_version
    if any(v == wanted or (v > wanted and not job.blender_exact) for v in known):
        return None
    need = f"{version_text(wanted)} exactly" if job.blender_exact else f"≥ {version_text(wanted)}"
    have = ", ".join(version_text(v) for v in known)
    return f"{WAITING_FOR_BLENDER} {need}; workers have {have}"


def note_jobs_waiting_for_task_types(
    session: Session, now: datetime, *, job_ids: Iterable[str] | None = None
) -> list[str]:
    """Say in the activity of each queued or active job with no task running that it waits
    for a task type no worker runs, and take that back once a worker runs it.

    ``job_ids`` limits the look to those jobs. Returns the ids of jobs whose activity changed.
    """
    candidates = waiting_queries.schedulable_jobs_idle_or_saying(
        session, (WAITING_FOR_TASK_TYPE, WAITING_FOR_BLENDER), job_ids
    )
    return _note(session, candidates, now)


def recheck_jobs_waiting_for_task_types(session: Session, now: datetime) -> list[str]:
    """Look again at the jobs that say they wait for a task type: after a worker registered
    or signed on with task types that may be the ones they wait for."""
    candidates = waiting_queries.schedulable_jobs_saying(
        session, (WAITING_FOR_TASK_TYPE, WAITING_FOR_BLENDER)
    )
    return _note(session, candidates, now)


def _note(session: Session, candidates: Iterable[Job], now: datetime) -> list[str]:
    run = _TaskTypesRun(session)
    changed = []
    for job in candidates:
        missing = blender = None
        if not job.tasks_active and job.tasks_queued + job.tasks_soft_failed:
            missing = _missing_task_type(session, job, run)
            if missing is None:
                blender = _blender_missing(session, job)
        if missing is not None:
            activity = _waiting_activity(session, job, missing)
        elif blender is not None:
            activity = blender
        elif job.activity.startswith(WAITING_FOR_TASK_TYPE):
            activity = TASK_TYPES_RUN_AGAIN
        elif job.activity.startswith(WAITING_FOR_BLENDER):
            activity = BLENDER_ON_FARM_AGAIN
        else:
            continue
        if job.activity != activity:
            job.activity = activity
            job.updated = now
            changed.append(job.id)
            events.record(session, "job", id=job.id)
    return changed
