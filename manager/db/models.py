"""SQLAlchemy models of the farm: jobs, tasks, workers, tags and the scheduler's bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from manager.core.statuses import RUNNABLE_TASK_STATUSES


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


UUID_LEN = 36


def sql_literals(*statuses: str) -> str:
    """Statuses as SQL literals, ``'queued', 'active'``, for statements written out in SQL:
    inline rather than bound, so the planner can match a partial index on them."""
    return ", ".join(f"'{status}'" for status in statuses)


#: The condition of the partial index of runnable tasks; queries repeat it word for word.
RUNNABLE_SQL = f"status IN ({sql_literals(*RUNNABLE_TASK_STATUSES)})"


def _uuid_fk(target: str, ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete)


worker_tag_membership = Table(
    "worker_tag_membership",
    Base.metadata,
    Column("worker_id", String(UUID_LEN), _uuid_fk("workers.id"), primary_key=True),
    Column("tag_id", String(UUID_LEN), _uuid_fk("worker_tags.id"), primary_key=True),
)


class WorkerTag(Base):
    __tablename__ = "worker_tags"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")

    workers: Mapped[list[Worker]] = relationship(
        secondary=worker_tag_membership, back_populates="tags"
    )


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(64), default="")
    software: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(100), default="")
    supported_task_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(32), default="starting")
    #: A state the manager wants the worker to go to; None when nothing is requested.
    status_requested: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: Lazy requests wait until the worker's current task is done.
    lazy_status_request: Mapped[bool] = mapped_column(Boolean, default=False)
    can_restart: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Free-form facts the worker reports (load, memory, protocol-specific details).
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The Blender it renders with, as major * 100 + minor (402 for 4.2); None when the worker
    #: does not say (Flamenco's workers), which takes jobs of any version.
    blender_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Seconds the worker may stay silent before the health check calls it gone; None means
    #: the manager's ``worker_timeout``. Set by doors whose clients are told how often to talk
    #: (a /farm node's heartbeat).
    silent_after_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Tasks this worker completed and the frames they rendered, counted as it reports them
    #: (``db/queries/tasks.credit_worker``): its history, kept when jobs are requeued or deleted.
    tasks_completed: Mapped[int] = mapped_column(Integer, default=0)
    frames_rendered: Mapped[int] = mapped_column(Integer, default=0)

    tags: Mapped[list[WorkerTag]] = relationship(
        secondary=worker_tag_membership, back_populates="workers"
    )

    __table_args__ = (Index("ix_workers_status_seen", "status", "last_seen"),)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(1000))
    job_type: Mapped[str] = mapped_column(String(200))
    type_etag: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[str] = mapped_column(String(32), index=True)
    activity: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_metadata: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    submitter_platform: Mapped[str] = mapped_column(String(64), default="")
    shaman_checkout_id: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    worker_tag_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), _uuid_fk("worker_tags.id", "SET NULL"), nullable=True
    )
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: The Blender that saved the job's file, as major * 100 + minor; None when unknown. Only
    #: workers with this version or newer get its tasks; with ``blender_exact``, only this one.
    blender_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    blender_exact: Mapped[bool] = mapped_column(Boolean, default=False)
    #: While the job is requeueing in steps (``core/job_status_steps``): whether its completed
    #: tasks go back to the queue too, as for a requeue of a completed job.
    requeue_completed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When a user deleted the job, while its tasks are deleted in steps (a big job,
    #: ``core/job_status_steps``); the scheduler hands out none of its tasks meanwhile.
    delete_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Per-status task counters, kept in step with every task status change so that job
    # status and progress never need a scan over a 100,000-task job.
    tasks_total: Mapped[int] = mapped_column(Integer, default=0)
    tasks_queued: Mapped[int] = mapped_column(Integer, default=0)
    tasks_active: Mapped[int] = mapped_column(Integer, default=0)
    tasks_completed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_failed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_soft_failed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_canceled: Mapped[int] = mapped_column(Integer, default=0)
    tasks_paused: Mapped[int] = mapped_column(Integer, default=0)

    worker_tag: Mapped[WorkerTag | None] = relationship()


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(UUID_LEN), _uuid_fk("jobs.id"))
    index_in_job: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(1000))
    task_type: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[str] = mapped_column(String(32))
    activity: Mapped[str] = mapped_column(Text, default="")
    commands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    steps_completed: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int] = mapped_column(Integer, default=1)
    #: Frames the task renders (its chunk's); 0 for a task that renders none, such as the
    #: video made of a job's frames. A job's frame totals are the sum of these, not of steps.
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Order in which the scheduler hands out tasks of one job (first, last, middle, ...).
    dispatch_rank: Mapped[int] = mapped_column(Integer, default=0)
    #: Number of tasks this one waits for; lets the scheduler skip the dependency check.
    dependency_count: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), _uuid_fk("workers.id", "SET NULL"), nullable=True
    )
    last_touched: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When the current (or last) worker took the task.
    started: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)

    worker: Mapped[Worker | None] = relationship()

    __table_args__ = (
        Index("ix_tasks_job_status", "job_id", "status"),
        Index("ix_tasks_job_index", "job_id", "index_in_job"),
        Index("ix_tasks_worker_status", "worker_id", "status"),
        Index("ix_tasks_status_touched", "status", "last_touched"),
    )


# Only runnable tasks, in hand-out order: the scheduler's query reads its first row. Named by
# its columns (not "priority DESC" as text) so that Alembic can compare it with the database.
Index(
    "ix_tasks_runnable",
    Task.job_id,
    Task.priority.desc(),
    Task.dispatch_rank,
    sqlite_where=text(RUNNABLE_SQL),
    postgresql_where=text(RUNNABLE_SQL),
)


class TaskDependency(Base):
    __tablename__ = "task_dependencies"

    task_id: Mapped[str] = mapped_column(String(UUID_LEN), _uuid_fk("tasks.id"), primary_key=True)
    depends_on_id: Mapped[str] = mapped_column(
        String(UUID_LEN), _uuid_fk("tasks.id"), primary_key=True, index=True
    )


class TaskFailure(Base):
    """A worker that failed a task; the scheduler never gives it that task again."""

    __tablename__ = "task_failures"

    task_id: Mapped[str] = mapped_column(String(UUID_LEN), _uuid_fk("tasks.id"), primary_key=True)
    worker_id: Mapped[str] = mapped_column(
        String(UUID_LEN), _uuid_fk("workers.id"), primary_key=True
    )
    job_id: Mapped[str] = mapped_column(String(UUID_LEN), _uuid_fk("jobs.id"))
    created: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_task_failures_job_worker", "job_id", "worker_id"),)


class JobBlock(Base):
    """A worker blocked from one task type of one job after failing too many of its tasks."""

    __tablename__ = "job_blocklist"

    job_id: Mapped[str] = mapped_column(String(UUID_LEN), _uuid_fk("jobs.id"), primary_key=True)
    worker_id: Mapped[str] = mapped_column(
        String(UUID_LEN), _uuid_fk("workers.id"), primary_key=True
    )
    task_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class SleepSchedule(Base):
    __tablename__ = "sleep_schedules"

    worker_id: Mapped[str] = mapped_column(
        String(UUID_LEN), _uuid_fk("workers.id"), primary_key=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    days_of_week: Mapped[str] = mapped_column(String(40), default="")
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
