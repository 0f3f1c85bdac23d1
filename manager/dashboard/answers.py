"""What the dashboard's queries answer, for the served OpenAPI document: the v3 models with
the dashboard's additions (the routes build the bodies in ``queries``; these only describe
them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from manager.api.v3 import spec_models
from manager.api.v3.schemas import WorkerSleepSchedule


class SessionInfo(BaseModel):
    token_required: bool
    signed_in: bool


class TaskCounts(BaseModel):
    total: int
    queued: int
    active: int
    completed: int
    failed: int
    soft_failed: int
    canceled: int
    paused: int


class JobRow(spec_models.Job):
    tasks: TaskCounts
    blocked_workers: int
    progress: float
    frames_done: int
    frames_total: int
    elapsed_seconds: float
    remaining_seconds: float | None
    finished: bool
    worker_tag_name: str | None


class JobDetail(JobRow):
    now: datetime


class Jobs(BaseModel):
    """A page of jobs (total, offset, limit, order_by), or with ``ids`` the named jobs and
    the ids that no longer exist (missing)."""

    jobs: list[JobRow]
    now: datetime
    total: int | None = None
    offset: int | None = None
    limit: int | None = None
    order_by: str | None = None
    missing: list[str] | None = None


class TaskRow(spec_models.TaskSummary):
    job_id: str
    activity: str
    retries: int
    last_touched: datetime | None


class Tasks(BaseModel):
    total: int
    offset: int
    limit: int
    tasks: list[TaskRow]


class WorkerRow(spec_models.Worker):
    software: str
    protocol: str
    metrics: list[list[str]]
    """Label and value pairs of what the worker reports about its machine."""
    tasks_completed: int
    frames_rendered: int
    sleep_schedule: WorkerSleepSchedule | None


class Workers(BaseModel):
    workers: list[WorkerRow]
    missing: list[str]


class BlocklistEntry(BaseModel):
    job_id: str
    job_name: str
    worker_id: str
    worker_name: str
    task_type: str
    created: datetime


class Blocklist(BaseModel):
    entries: list[BlocklistEntry]


class WorkerCounts(BaseModel):
    total: int
    idle: int
    busy: int
    asleep: int
    offline: int
    other: int


class FarmSummary(BaseModel):
    farm_status: spec_models.FarmStatus
    workers: WorkerCounts
    jobs: dict[str, int]
    """Jobs by status."""
    queued_tasks: int
    queued_frames: int
    tasks_per_hour: int
    frames_per_hour: int
    now: datetime
    refresh_in: float | None = None
    """Seconds until a newer summary can be had: set when the farm changed since this one was
    summed, so that a page asks again although no further change may come to tell it."""
