"""The cluster puller's statements: the upstream tasks this manager pulled and the local jobs
that render them (``cluster_mirrors``), and what the local farm offers upstream."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.core.statuses import JobStatus, WorkerStatus
from manager.db.models import Job, Worker, WorkerTag
from manager.db.protocol_models import ClusterMirror

#: A mirror's state while upstream waits for its task (see ``ClusterMirror.state``).
RUNNING = "running"


def running_mirrors(session: Session, upstream: str) -> list[ClusterMirror]:
    """The tasks pulled from ``upstream`` that it still waits for."""
    return list(
        session.scalars(
            select(ClusterMirror).where(
                ClusterMirror.state == RUNNING, ClusterMirror.upstream == upstream
            )
        ).all()
    )


def queued_mirror_count(session: Session) -> int:
    """How many pulled tasks wait in the local queue, not yet handed to a local worker."""
    count = session.scalar(
        select(func.count())
        .select_from(ClusterMirror)
        .join(Job, Job.id == ClusterMirror.local_job_id)
        .where(ClusterMirror.state == RUNNING, Job.status == JobStatus.QUEUED)
    )
    return count or 0


def awake_workers(session: Session) -> list[Worker]:
    return list(session.scalars(select(Worker).where(Worker.status == WorkerStatus.AWAKE)).all())


def tag_names(session: Session) -> list[str]:
    return list(session.scalars(select(WorkerTag.name)).all())


def first_tag_named_among(session: Session, names: list[str]) -> str | None:
    """The name of a tag that one of ``names`` names, if any does."""
    name: str | None = session.scalar(select(WorkerTag.name).where(WorkerTag.name.in_(names)))
    return name
