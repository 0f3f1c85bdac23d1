"""Whether a worker holds a task of a job, asked three ways: by the job, by the job's
checkout, and by a file in that checkout. Each is one indexed lookup that starts from the
worker's own active tasks (``ix_tasks_worker_status``), which are few."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.core.statuses import TaskStatus
from manager.db.models import Job, Task
from manager.db.storage_models import CheckoutFile


def _held_tasks(worker_id: str) -> Select[Any]:
    return select(Task.job_id).where(Task.worker_id == worker_id, Task.status == TaskStatus.ACTIVE)


def _any(session: Session, query: Select[Any]) -> bool:
    return session.execute(query.limit(1)).first() is not None


def holds_task_of_job(session: Session, worker_id: str, job_id: str) -> bool:
    return _any(session, _held_tasks(worker_id).where(Task.job_id == job_id))


def holds_task_of_checkout(session: Session, worker_id: str, checkout_path: str) -> bool:
    return _any(
        session,
        _held_tasks(worker_id)
        .join(Job, Job.id == Task.job_id)
        .where(Job.shaman_checkout_id == checkout_path),
    )


def holds_task_needing_file(session: Session, worker_id: str, sha256: str, size: int) -> bool:
    return _any(
        session,
        _held_tasks(worker_id)
        .join(Job, Job.id == Task.job_id)
        .join(CheckoutFile, CheckoutFile.checkout_path == Job.shaman_checkout_id)
        .where(CheckoutFile.sha256 == sha256, CheckoutFile.size == size),
    )
