"""The farm's one-word status (the spec's FarmStatus) from worker and job counts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from manager.core.statuses import JobStatus, WorkerStatus
from manager.db.queries.jobs import job_status_counts
from manager.db.queries.workers import worker_status_counts

_DOWN = (WorkerStatus.OFFLINE, WorkerStatus.ERROR)


def farm_status(session: Session) -> str:
    workers = worker_status_counts(session)
    live = {status: n for status, n in workers.items() if status not in _DOWN}
    if not live:
        return "inoperative"
    jobs = job_status_counts(session)
    if jobs.get(JobStatus.ACTIVE):
        return "active"
    work_waiting = bool(jobs.get(JobStatus.QUEUED))
    awake = live.get(WorkerStatus.AWAKE, 0)
    if not awake and live.get(WorkerStatus.ASLEEP):
        return "waiting" if work_waiting else "asleep"
    if not awake:
        return "starting"
    return "idle" if not work_waiting else "active"
