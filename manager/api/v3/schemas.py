"""Request bodies of the v3 API, named after the spec's schemas; strict JSON types.

Extra properties are accepted (the spec's objects allow them, and Flamenco clients send some).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from manager.core.bounds import Instant, NonNegativeInt32

WorkerStatusName = Literal["starting", "awake", "asleep", "error", "testing", "offline", "restart"]
TaskStatusName = Literal[
    "active", "canceled", "completed", "failed", "queued", "soft-failed", "paused"
]
JobStatusName = Literal[
    "active",
    "canceled",
    "completed",
    "failed",
    "paused",
    "pause-requested",
    "queued",
    "cancel-requested",
    "requeueing",
    "under-construction",
]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class WorkerRegistration(Body):
    secret: str
    platform: str
    supported_task_types: list[str]
    name: str = Field(max_length=200)


class WorkerSignOn(Body):
    name: str = Field(max_length=200)
    supported_task_types: list[str]
    software_version: str = Field(max_length=200)
    can_restart: bool = False
    # Farmhand's addition: the worker's own tags (``--tags``); Flamenco workers never send it.
    tags: list[str] | None = Field(default=None, max_length=50)
    # Farmhand's too: the render devices and hardware tags (``worker_mode/devices.py``), and
    # the Blender the worker renders with, which the scheduler matches to each job's file.
    hardware: dict[str, Any] | None = None
    blender_version: str | None = Field(default=None, max_length=50)


class WorkerStateChanged(Body):
    status: WorkerStatusName


class TaskUpdate(Body):
    taskStatus: TaskStatusName | None = None
    activity: str | None = None
    log: str | None = None
    steps_completed: NonNegativeInt32 | None = None


class JobStorageInfo(Body):
    shaman_checkout_id: str | None = None


class SubmittedJob(Body):
    name: str = Field(max_length=1000)
    type: str
    type_etag: str | None = None
    priority: int
    settings: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    submitter_platform: str
    storage: JobStorageInfo | None = None
    worker_tag: str | None = None
    initial_status: JobStatusName | None = None
    # Farmhand's addition: the Blender that saved the job's file ("4.2.3"); without it the
    # manager reads the file's header when it can reach the file.
    blender_version: str | None = Field(default=None, max_length=50)


class JobStatusChange(Body):
    status: JobStatusName
    reason: str


class JobPriorityChange(Body):
    priority: int = Field(ge=0, le=100)


class JobTagChange(Body):
    id: str | None = None
    name: str | None = None


class TaskStatusChange(Body):
    status: TaskStatusName
    reason: str


class JobMassDeletionSelection(Body):
    # Timestamps arrive as JSON strings; lax mode lets pydantic parse them.
    last_updated_max: Instant | None = Field(default=None, strict=False)


class JobBlocklistEntry(Body):
    worker_id: str
    task_type: str
    worker_name: str | None = None


class WorkerStatusChangeRequest(Body):
    status: WorkerStatusName
    is_lazy: bool


class WorkerSleepSchedule(Body):
    is_active: bool
    days_of_week: str
    start_time: str
    end_time: str


class WorkerTag(Body):
    id: str | None = None
    name: str = Field(max_length=200)
    description: str | None = None


class WorkerTagChangeRequest(Body):
    tag_ids: list[str]


class PathCheckInput(Body):
    path: str
