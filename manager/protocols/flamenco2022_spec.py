"""Response models generated from ``flamenco-2022.yaml`` by
``manager/api/openapi/generate_models.py``: edit that script or the spec, not this file."""

# ruff: noqa: E501
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel


class Flamenco2022FlamencoVersion(BaseModel):
    version: str
    name: str


class Flamenco2022WorkerRegistration(BaseModel):
    secret: str
    platform: str
    supported_task_types: list[str]
    nickname: str


class Flamenco2022WorkerStatus(StrEnum):
    starting = "starting"
    awake = "awake"
    asleep = "asleep"
    error = "error"
    shutdown = "shutdown"
    testing = "testing"
    offline = "offline"


class Flamenco2022WorkerSignOn(BaseModel):
    nickname: str
    supported_task_types: list[str]
    software_version: str


class Flamenco2022WorkerStateChange(BaseModel):
    status_requested: Flamenco2022WorkerStatus


class Flamenco2022WorkerStateChanged(BaseModel):
    status: Flamenco2022WorkerStatus


class Flamenco2022JobStatus(StrEnum):
    active = "active"
    canceled = "canceled"
    completed = "completed"
    construction_failed = "construction-failed"
    failed = "failed"
    paused = "paused"
    queued = "queued"
    archived = "archived"
    archiving = "archiving"
    cancel_requested = "cancel-requested"
    fail_requested = "fail-requested"
    requeued = "requeued"
    under_construction = "under-construction"
    waiting_for_files = "waiting-for-files"


class Flamenco2022TaskStatus(StrEnum):
    active = "active"
    canceled = "canceled"
    completed = "completed"
    failed = "failed"
    queued = "queued"
    soft_failed = "soft-failed"
    cancel_requested = "cancel-requested"
    paused = "paused"


class Flamenco2022Command(BaseModel):
    name: str
    parameters: dict[str, Any]


class Flamenco2022AvailableJobSettingType(StrEnum):
    string = "string"
    int32 = "int32"
    float = "float"
    bool = "bool"


class Flamenco2022AvailableJobSettingSubtype(StrEnum):
    file_path = "file_path"
    dir_path = "dir_path"
    file_name = "file_name"
    hashed_file_path = "hashed_file_path"


class Flamenco2022JobSettings(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )


class Flamenco2022JobMetadata(RootModel[dict[str, str]]):
    root: dict[str, str]


class Flamenco2022SecurityError(BaseModel):
    message: str


class Flamenco2022RegisteredWorker(BaseModel):
    uuid: UUID
    nickname: str
    address: str
    status: Flamenco2022WorkerStatus
    platform: str
    last_activity: str
    software: str
    supported_task_types: list[str]


class Flamenco2022AssignedTask(BaseModel):
    uuid: UUID
    job: str
    name: str
    status: Flamenco2022TaskStatus
    priority: int
    job_priority: int
    job_type: str
    task_type: str
    commands: list[Flamenco2022Command]


class Flamenco2022TaskUpdate(BaseModel):
    taskStatus: Annotated[
        Flamenco2022TaskStatus | None, Field(description="The new task status.")
    ] = None
    activity: Annotated[
        str | None,
        Field(
            description="One-liner to indicate what's currently happening with the task. Overwrites previously sent activity strings."
        ),
    ] = None
    log: Annotated[
        str | None,
        Field(description="Log lines for this task, will be appended to logs sent earlier."),
    ] = None


class Flamenco2022AvailableJobSetting(BaseModel):
    key: Annotated[
        str, Field(description="Identifier for the setting, must be unique within the job type.")
    ]
    type: Flamenco2022AvailableJobSettingType
    subtype: Flamenco2022AvailableJobSettingSubtype | None = None
    choices: Annotated[
        list[str] | None,
        Field(
            description="When given, limit the valid values to these choices. Only usable with string type."
        ),
    ] = None
    propargs: Annotated[
        dict[str, Any] | None,
        Field(
            description="Any extra arguments to the bpy.props.SomeProperty() call used to create this property."
        ),
    ] = None
    description: Annotated[
        Any | None, Field(description="The description/tooltip shown in the user interface.")
    ] = None
    default: Annotated[
        Any | None,
        Field(description="The default value shown to the user when determining this setting."),
    ] = None
    eval: Annotated[
        str | None,
        Field(
            description="Python expression to be evaluated in order to determine the default value for this setting."
        ),
    ] = None
    visible: Annotated[
        bool | None,
        Field(
            description="Whether to show this setting in the UI of a job submitter (like a Blender add-on). Set to `false` when it is an internal setting that shouldn't be shown to end users.\n"
        ),
    ] = True
    required: Annotated[
        bool | None,
        Field(
            description="Whether to immediately reject a job definition, of this type, without this particular setting.\n"
        ),
    ] = False
    editable: Annotated[
        bool | None,
        Field(
            description="Whether to allow editing this setting after the job has been submitted. Would imply deleting all existing tasks for this job, and recompiling it.\n"
        ),
    ] = False


class Flamenco2022SubmittedJob(BaseModel):
    name: str
    type: str
    priority: int
    settings: Flamenco2022JobSettings | None = None
    metadata: Flamenco2022JobMetadata | None = None


class Flamenco2022Job(Flamenco2022SubmittedJob):
    id: Annotated[UUID, Field(description="UUID of the Job")]
    created: Annotated[AwareDatetime, Field(description="Creation timestamp")]
    updated: Annotated[AwareDatetime, Field(description="Creation timestamp")]
    status: Flamenco2022JobStatus


class Flamenco2022AvailableJobType(BaseModel):
    name: str
    label: str
    settings: list[Flamenco2022AvailableJobSetting]


class Flamenco2022AvailableJobTypes(BaseModel):
    job_types: list[Flamenco2022AvailableJobType]
