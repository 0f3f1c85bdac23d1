"""Statements for jobs whose tasks are still going in (status under-construction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from manager.core.statuses import JobStatus
from manager.db.models import Job


def touch_job(session: Session, job_id: str, now: datetime) -> None:
    """Note that the job's insertion is still going on (see ``abandoned_job_ids``)."""
    session.execute(update(Job).where(Job.id == job_id).values(updated=now))


def open_job(session: Session, job_id: str, status: JobStatus, updated: datetime) -> bool:
    """Give a job under construction its first real status; False when it is gone."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.UNDER_CONSTRUCTION)
        .values(status=status, updated=updated)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def is_under_construction(session: Session, job_id: str) -> bool:
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    return status == JobStatus.UNDER_CONSTRUCTION


def abandoned_job_ids(session: Session, untouched_since: datetime) -> list[str]:
    return list(
        session.scalars(
            select(Job.id).where(
                Job.status == JobStatus.UNDER_CONSTRUCTION, Job.updated < untouched_since
            )
        )
    )


def delete_unfinished_job(session: Session, job_id: str) -> None:
    """Delete the job row once its tasks are gone; a job that got its status stays."""
    session.execute(
        delete(Job)
        .where(Job.id == job_id, Job.status == JobStatus.UNDER_CONSTRUCTION)
        .execution_options(synchronize_session=False)
    )
