"""Statements on the 2015 REST API's tasks (``rest2015_tasks``): the integer id each core
job is known by there."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.db.protocol_models import Rest2015Task


def task_of_job(session: Session, job_id: str) -> Rest2015Task | None:
    row: Rest2015Task | None = session.scalar(
        select(Rest2015Task).where(Rest2015Task.job_id == job_id)
    )
    return row


def highest_task_number(session: Session) -> int:
    """The highest 2015 task id given; 0 before the first."""
    return session.scalar(select(func.max(Rest2015Task.number))) or 0
