"""Statements of the ``/farm`` and ``/potential`` door: its live nodes, the tags they provide,
and which jobs each cluster of managers has been told about."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.core.statuses import LIVE_WORKER_STATUSES, JobStatus
from manager.db.models import Job, Worker, WorkerTag
from manager.db.protocol_models import ClusterReport, ProtocolWorker


def count_live_workers_of_protocol(session: Session, protocol: str) -> int:
    """How many of the protocol's workers are expected to talk to the manager."""
    count = session.scalar(
        select(func.count())
        .select_from(Worker)
        .join(ProtocolWorker, ProtocolWorker.worker_id == Worker.id)
        .where(ProtocolWorker.protocol == protocol, Worker.status.in_(LIVE_WORKER_STATUSES))
    )
    return int(count or 0)


def tags_named(session: Session, names: list[str]) -> list[WorkerTag]:
    """The worker tags among ``names``; names of no tag are left out."""
    return list(session.scalars(select(WorkerTag).where(WorkerTag.name.in_(names))).all())


def unfinished_jobs_not_reported_to(session: Session, cluster: str) -> list[Job]:
    """Queued and active jobs the cluster has not been told about, oldest first."""
    reported = select(ClusterReport.job_id).where(ClusterReport.cluster == cluster)
    return list(
        session.scalars(
            select(Job)
            .where(Job.status.in_((JobStatus.QUEUED, JobStatus.ACTIVE)), Job.id.not_in(reported))
            .order_by(Job.created)
        ).all()
    )


def note_reported_to(session: Session, cluster: str, job_ids: list[str]) -> None:
    session.add_all(ClusterReport(cluster=cluster, job_id=job_id) for job_id in job_ids)
