"""Jobs: submission (validate, compile, store in one transaction) and the user's controls."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, overload

from sqlalchemy.orm import Session

from manager.core import events, job_status_steps, write_steps
from manager.core.bounds import check_name
from manager.core.compiler import CompiledTasks, plan_tasks
from manager.core.errors import BadInput, InvalidTransition, NotFound, PreconditionFailed
from manager.core.job_status_steps import CANCELED_FROM
from manager.core.job_types import JobType, JobTypeRegistry, SettingError, validate_settings
from manager.core.setting_paths import check_path_settings
from manager.core.statuses import JobStatus, TaskStatus
from manager.core.task_states import (
    bulk_set_task_status,
    follow_tasks,
    lock_job,
    lock_job_for_user,
    runnable_count,
)
from manager.core.waiting import note_jobs_waiting_for_task_types
from manager.db.models import Job, JobBlock, WorkerTag
from manager.db.queries import jobs as job_queries
from manager.db.queries import submitted_tasks
from manager.db.queries import workers as worker_queries
from manager.db.queries.job_counters import initial_job_counts, recount_job
from manager.db.queries.tasks import requeue_tasks_of_job
from manager.db.storage_models import Checkout

#: The job setting whose value ``exact`` keeps a job to workers of its file's major.minor.
BLENDER_MATCH_SETTING = "blender_version_match"
SUBMITTABLE_INITIAL_STATUSES = (JobStatus.QUEUED, JobStatus.PAUSED)
TASK_COLUMNS = (
    "id", "job_id", "index_in_job", "name", "task_type", "priority", "status", "activity",
    "commands", "steps_completed", "steps_total", "frame_count", "dispatch_rank",
    "dependency_count", "created", "updated",
)


@dataclass
class JobSubmission:
    name: str
    type: str
    priority: int = 50
    submitter_platform: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    type_etag: str | None = None
    worker_tag: str | None = None
    initial_status: str | None = None
    shaman_checkout_id: str | None = None
    blender_version: int | None = None
    """The Blender that saved the job's file (major * 100 + minor), when known."""


class TaskIds(Sequence[str]):
    """``count`` random (version 4) UUIDs, kept as their 16 random bytes each and written
    out as text when asked for: a million ids as text would be 90 MB. One read of the
    system's random source: building a ``uuid.UUID`` per task took a tenth of a
    100,000-task submission."""

    def __init__(self, count: int) -> None:
        self._random = os.urandom(16 * count)

    def __len__(self) -> int:
        return len(self._random) // 16

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        h = self._random[16 * index : 16 * index + 16].hex()
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def random_uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text."""
    return list(TaskIds(count))


def _resolve_tag(session: Session, tag_ref: str | None) -> str | None:
    if not tag_ref:
        return None
    tag = session.get(WorkerTag, tag_ref) or worker_queries.tag_named(session, tag_ref)
    if tag is None:
        raise BadInput(f"worker_tag: no worker tag {tag_ref!r}")
    return tag.id


@dataclass(frozen=True)
class CompiledSubmission:
    """A submission that passed every check, compiled into its tasks, not stored yet."""

    job_id: str
    job_type: JobType
    settings: dict[str, Any]
    initial: JobStatus
    worker_tag_id: str | None
    tasks: CompiledTasks


def compile_submission(
    session: Session, registry: JobTypeRegistry, sub: JobSubmission, now: datetime
) -> CompiledSubmission:
    """Every check of a submission and its compilation, reading only: ``/jobs/check`` runs
    this without the write lock, and ``submit_job`` stores what it returns."""
    job_type = registry.get(sub.type)
    if job_type is None:
        known = ", ".join(t.name for t in registry.all()) or "none"
        raise BadInput(f"type: unknown job type {sub.type!r} (known: {known})")
    if sub.type_etag and sub.type_etag != job_type.etag:
        raise PreconditionFailed(
            f"type_etag: job type {sub.type!r} has changed since it was fetched; refresh job types"
        )
    if not sub.name.strip():
        raise BadInput("name: a job needs a name")
    check_name(sub.name, "name")
    _refuse_nul(sub.metadata, "metadata")
    if not 0 <= sub.priority <= 100:
        raise BadInput(f"priority: {sub.priority} is outside 0..100")
    initial = JobStatus(sub.initial_status or JobStatus.QUEUED)
    if initial not in SUBMITTABLE_INITIAL_STATUSES:
        raise BadInput(f"initial_status: a job can start queued or paused, not {initial}")
    # A job naming files that were never uploaded would only fail later, on every worker.
    if sub.shaman_checkout_id and session.get(Checkout, sub.shaman_checkout_id) is None:
        raise BadInput(
            f"storage.shaman_checkout_id: there is no checkout {sub.shaman_checkout_id!r} on "
            "this manager; upload the job's files first"
        )
    try:
        settings = validate_settings(job_type, sub.settings)
    except SettingError as exc:
        raise BadInput(f"settings.{exc.key}: {exc}") from None
    _refuse_nul(settings, "settings")
    check_path_settings(job_type, settings)
    worker_tag_id = _resolve_tag(session, sub.worker_tag)

    job_id = str(uuid.uuid4())
    try:
        tasks = plan_tasks(
            job_type, settings, job_id=job_id, job_name=sub.name, priority=sub.priority, created=now
        )
        # Every task is built here once and dropped; they are built again, a step's worth at
        # a time, as they are stored.
        tasks.check()
    except SettingError as exc:
        raise BadInput(f"settings.{exc.key}: {exc}") from None
    if not tasks.count:
        raise BadInput("settings: the job compiles to no tasks")
    return CompiledSubmission(job_id, job_type, settings, initial, worker_tag_id, tasks)


def _refuse_nul(values: dict[str, Any], field: str) -> None:
    # Every door but JSON's can bring one in, and PostgreSQL refuses text that holds one.
    for key, value in values.items():
        if "\x00" in str(key) or (isinstance(value, str) and "\x00" in value):
            shown = str(key).replace("\x00", "")
            raise BadInput(f"{field}.{shown}: text may not contain NUL characters")


def submit_job(
    session: Session, registry: JobTypeRegistry, sub: JobSubmission, now: datetime
) -> Job:
    """Validate and compile a submission and store the job with all its tasks."""
    compiled = compile_submission(session, registry, sub, now)
    job = add_job(session, compiled, sub, now, compiled.initial)
    count = compiled.tasks.count
    task_ids = TaskIds(count)
    insert_tasks(session, compiled, task_ids, range(count), now)
    insert_dependencies(session, compiled, task_ids, range(count))
    note_jobs_waiting_for_task_types(session, now, job_ids=[job.id])
    events.record(session, "job", id=job.id)
    return job


def _task_status(compiled: CompiledSubmission) -> TaskStatus:
    return TaskStatus.PAUSED if compiled.initial == JobStatus.PAUSED else TaskStatus.QUEUED


def add_job(
    session: Session, compiled: CompiledSubmission, sub: JobSubmission, now: datetime,
    status: JobStatus,
) -> Job:
    """The job's row, counting all its tasks; ``status`` under-construction keeps it from the
    scheduler and the listings while its tasks go in (``staged_jobs``)."""
    job_id, job_type, settings = compiled.job_id, compiled.job_type, compiled.settings
    worker_tag_id = compiled.worker_tag_id
    task_status = _task_status(compiled)
    job = Job(
        id=job_id,
        name=sub.name,
        job_type=job_type.name,
        type_etag=job_type.etag,
        priority=sub.priority,
        status=status,
        activity="submitted",
        settings=settings,
        job_metadata=dict(sub.metadata),
        submitter_platform=sub.submitter_platform,
        shaman_checkout_id=sub.shaman_checkout_id,
        worker_tag_id=worker_tag_id,
        blender_version=sub.blender_version,
        # A preset or a job pins the exact major.minor with this setting, for frames that
        # must match bit for bit; by default any same or newer Blender renders the job.
        blender_exact=settings.get(BLENDER_MATCH_SETTING) == "exact",
        created=now,
        updated=now,
        **initial_job_counts(compiled.tasks.count, task_status),
    )
    session.add(job)
    session.flush()
    return job


DEPENDENCY_COLUMNS = ("task_id", "depends_on_id")


def task_rows(
    compiled: CompiledSubmission, task_ids: Sequence[str], which: range, now: datetime
) -> list[tuple[Any, ...]]:
    """Rows (``TASK_COLUMNS``) of the job's tasks numbered ``which``, built now; ``task_ids``
    holds every task's id."""
    job_id, status_text = compiled.job_id, _task_status(compiled).value
    return [
        (
            task_ids[i], job_id, i, spec.name, spec.task_type, spec.priority,
            status_text, "", spec.commands, 0, spec.steps_total, len(spec.frames),
            spec.dispatch_rank, len(spec.depends_on), now, now,
        )
        for i, spec in zip(which, compiled.tasks.build(which), strict=True)
    ]


def dependency_rows(
    compiled: CompiledSubmission, task_ids: Sequence[str], which: range
) -> list[tuple[Any, ...]]:
    """Rows (``DEPENDENCY_COLUMNS``) of what the tasks numbered ``which`` wait for."""
    return [(task_ids[i], task_ids[dep]) for i, dep in compiled.tasks.dependencies(which)]


def insert_tasks(
    session: Session, compiled: CompiledSubmission, task_ids: Sequence[str], which: range,
    now: datetime,
) -> None:
    submitted_tasks.insert_tasks(session, TASK_COLUMNS, task_rows(compiled, task_ids, which, now))


def insert_dependencies(
    session: Session, compiled: CompiledSubmission, task_ids: Sequence[str], which: range
) -> None:
    """Every task must be stored already: a task may wait for a later one."""
    rows = dependency_rows(compiled, task_ids, which)
    submitted_tasks.insert_dependencies(session, DEPENDENCY_COLUMNS, rows)


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


def set_job_status(session: Session, job_id: str, status: str, reason: str, now: datetime) -> Job:
    """A user's status request: pause, resume, cancel or requeue. For a change of more than
    ``ONE_GO_TASKS`` tasks, the job gets its new status here and its tasks move in steps once
    the session commits (``job_status_steps``)."""
    job = lock_job_for_user(session, job_id)
    current = JobStatus(job.status)
    requested = JobStatus(status)
    if requested == JobStatus.PAUSED:
        requested = JobStatus.PAUSE_REQUESTED
    if requested == JobStatus.CANCELED:
        requested = JobStatus.CANCEL_REQUESTED
    note = reason or f"{requested} by user"
    in_steps = False

    if requested == JobStatus.PAUSE_REQUESTED:
        if current not in (JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.PAUSE_REQUESTED):
            raise InvalidTransition(f"status: this job is {current}; it cannot be paused")
        job.status = JobStatus.PAUSE_REQUESTED
        # ``follow_tasks`` pauses the queued tasks below, or leaves a big job's to the steps.
        in_steps = runnable_count(job) > write_steps.ONE_GO_TASKS
    elif requested == JobStatus.CANCEL_REQUESTED:
        if current in (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED):
            raise InvalidTransition(f"status: this job is {current}; it cannot be canceled")
        job.status = JobStatus.CANCEL_REQUESTED
        # Active tasks are canceled too: their workers learn it from may-i-run and 409s. A
        # big job's other tasks are canceled in steps once this commits.
        in_steps = job_status_steps.tasks_to_cancel(job) > write_steps.ONE_GO_TASKS
        moving = (TaskStatus.ACTIVE,) if in_steps else (*CANCELED_FROM, TaskStatus.ACTIVE)
        bulk_set_task_status(session, job, moving, TaskStatus.CANCELED, now, note)
    elif requested == JobStatus.QUEUED and current in (JobStatus.PAUSED, JobStatus.PAUSE_REQUESTED):
        # A big job is queued at once and its tasks follow in steps, handed out as they come.
        in_steps = job.tasks_paused > write_steps.ONE_GO_TASKS
        if not in_steps:
            bulk_set_task_status(session, job, (TaskStatus.PAUSED,), TaskStatus.QUEUED, now, note)
        job.status = JobStatus.QUEUED
    elif requested in (JobStatus.REQUEUEING, JobStatus.QUEUED):
        if current not in (
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
            JobStatus.PAUSED,
        ):
            raise InvalidTransition(
                f"status: this job is {current}; only a finished or paused job can be requeued"
            )
        everything = current == JobStatus.COMPLETED
        in_steps = (
            job_status_steps.tasks_to_requeue(job, completed_too=everything)
            > write_steps.ONE_GO_TASKS
        )
        if in_steps:
            job.status = JobStatus.REQUEUEING
            job.requeue_completed = everything
        else:
            _requeue(session, job, everything=everything, now=now, note=note)
    else:
        raise InvalidTransition(
            f"status: {requested} cannot be requested; use queued, paused, canceled or requeueing"
        )
    job.activity = note
    job.updated = now
    follow_tasks(session, job, now)
    if in_steps:
        events.record(session, "job", id=job.id, refresh_tasks=True, **{write_steps.IN_STEPS: True})
    else:
        events.record(session, "job", id=job.id, refresh_tasks=True)
    return job


def _requeue(session: Session, job: Job, *, everything: bool, now: datetime, note: str) -> None:
    """Requeue a finished job: all tasks of a completed one, the unfinished tasks otherwise."""
    requeue_tasks_of_job(session, job.id, now, note, completed_too=everything)
    recount_job(session, job)
    job.status = JobStatus.QUEUED


def set_job_priority(session: Session, job_id: str, priority: int, now: datetime) -> Job:
    if not 0 <= priority <= 100:
        raise BadInput(f"priority: {priority} is outside 0..100")
    job = lock_job_for_user(session, job_id)
    job.priority = priority
    job.updated = now
    events.record(session, "job", id=job.id)
    return job


def set_job_tag(
    session: Session, job_id: str, tag_id: str | None, tag_name: str | None, now: datetime
) -> Job:
    if tag_id and tag_name:
        raise BadInput("give either the tag's id or its name, not both")
    job = lock_job_for_user(session, job_id)
    if tag_id:
        if session.get(WorkerTag, tag_id) is None:
            raise BadInput(f"id: no worker tag {tag_id!r}")
        job.worker_tag_id = tag_id
    elif tag_name:
        tag = worker_queries.tag_named(session, tag_name)
        if tag is None:
            raise BadInput(f"name: no worker tag named {tag_name!r}")
        job.worker_tag_id = tag.id
    else:
        job.worker_tag_id = None
    job.updated = now
    events.record(session, "job", id=job.id)
    return job


def delete_job(session: Session, job_id: str, now: datetime) -> None:
    """Delete the job with its tasks; a job of more than ``ONE_GO_TASKS`` tasks only gets
    its ``delete_requested_at`` here, and its active tasks are canceled (their workers
    learn it from may-i-run); its tasks then go in steps (``job_status_steps``), and the
    job last."""
    job = lock_job(session, job_id)
    if job.tasks_total > write_steps.ONE_GO_TASKS:
        if job.delete_requested_at is None:
            job.delete_requested_at = now
            bulk_set_task_status(
                session, job, (TaskStatus.ACTIVE,), TaskStatus.CANCELED, now, "job deleted"
            )
            job.activity = "being deleted"
            job.updated = now
        events.record(session, "job", id=job_id, **{write_steps.IN_STEPS: True})
        return
    job_queries.delete_job(session, job)
    job_status_steps.record_deleted(session, job_id)


def jobs_updated_before(session: Session, last_updated_max: datetime) -> list[str]:
    # Timestamps are rounded up to the whole second, as the API documents.
    limit = last_updated_max.replace(microsecond=0)
    if last_updated_max.microsecond:
        limit += timedelta(seconds=1)
    return job_queries.job_ids_updated_until(session, limit)


def fetch_blocklist(session: Session, job_id: str) -> list[JobBlock]:
    get_job(session, job_id)
    return job_queries.blocklist(session, job_id)


def remove_from_blocklist(session: Session, job_id: str, entries: list[tuple[str, str]]) -> None:
    lock_job_for_user(session, job_id)
    job_queries.unblock(session, job_id, entries)
    events.record(session, "job", id=job_id)
