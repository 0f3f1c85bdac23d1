"""Response models generated from ``flamenco-v3.9.yaml`` by
``manager/api/openapi/generate_models.py``: edit that script or the spec, not this file."""

# ruff: noqa: E501
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel

from manager.api.v3.schemas import (
    JobBlocklistEntry,
    SubmittedJob,
    WorkerStatusChangeRequest,
    WorkerTag,
)


class FlamencoVersion(BaseModel):
    version: Annotated[
        str,
        Field(
            description="Version of this Manager, meant for human consumption. For release builds it is the same as `shortversion`, for other builds it also includes the `git` version info.\n"
        ),
    ]
    shortversion: str
    name: str
    git: str


class FarmStatus(StrEnum):
    active = "active"
    idle = "idle"
    waiting = "waiting"
    asleep = "asleep"
    inoperative = "inoperative"
    unknown = "unknown"
    starting = "starting"


class ManagerConfiguration(BaseModel):
    storageLocation: Annotated[str, Field(description="Directory used for job file storage.")]
    shamanEnabled: Annotated[
        bool, Field(description="Whether the Shaman file transfer API is available.")
    ]
    isFirstRun: Annotated[
        bool,
        Field(
            description="Whether this is considered the first time the Manager runs. This is determined by a few factors, like a non-existent configuration file or certain settings being empty while they shouldn't be.\n"
        ),
    ]


class ManagerVariable(BaseModel):
    value: str
    is_twoway: Annotated[
        bool,
        Field(
            description="One-way variables are the most common one, and are simple replacement from `{name}` to their value, which happens when a Task is given to a Worker. Two-way variables are also replaced when submitting a job, where the platform-specific value is replaced by `{name}`.\n"
        ),
    ]


class ManagerVariableAudience(StrEnum):
    workers = "workers"
    users = "users"


class SharedStorageLocation(BaseModel):
    location: str
    audience: ManagerVariableAudience
    platform: str
    shamanEnabled: Annotated[
        bool, Field(description="Whether the Shaman file transfer API is available.")
    ]


class PathCheckResult(BaseModel):
    path: Annotated[str, Field(description="The path that was checked.")]
    is_usable: Annotated[bool, Field(description="Whether the path is usable or not.")]
    cause: Annotated[str, Field(description="Description of why this path is (not) usable.")]


class BlenderPathSource(StrEnum):
    file_association = "file_association"
    path_envvar = "path_envvar"
    system_location = "system_location"
    input_path = "input_path"
    default = "default"


class WorkerStatus(StrEnum):
    starting = "starting"
    awake = "awake"
    asleep = "asleep"
    error = "error"
    testing = "testing"
    offline = "offline"
    restart = "restart"


class WorkerStateChange(BaseModel):
    status_requested: WorkerStatus


class MayKeepRunning(BaseModel):
    mayKeepRunning: bool
    reason: str
    statusChangeRequested: Annotated[
        bool,
        Field(
            description="Indicates that a status change requested for the worker. It should use the `workerState` operation to determine which state to go to next. If this is `true`, `mayKeepRunning` MUST be `false`.\n"
        ),
    ]


class JobStatus(StrEnum):
    active = "active"
    canceled = "canceled"
    completed = "completed"
    failed = "failed"
    paused = "paused"
    pause_requested = "pause-requested"
    queued = "queued"
    cancel_requested = "cancel-requested"
    requeueing = "requeueing"
    under_construction = "under-construction"


class TaskStatus(StrEnum):
    active = "active"
    canceled = "canceled"
    completed = "completed"
    failed = "failed"
    queued = "queued"
    soft_failed = "soft-failed"
    paused = "paused"


class Command(BaseModel):
    name: str
    parameters: dict[str, Any]
    total_step_count: Annotated[
        int,
        Field(
            description='Number of steps this command executes. This has to be implemented in the command\'s implementation on the Worker (to recognise what a "step" is), as well as given in the authoring code of the job type JavaScript script (to indicate how many steps the command invocation will perform).\nIf not given, or set to 0, the command is not expected to send any step progress. In this case, the Worker will send a step update at completion of the command.\n'
        ),
    ]


class EvalInfo(BaseModel):
    showLinkButton: Annotated[
        bool,
        Field(
            description="Enables the 'eval on submit' toggle button behavior for this setting. A toggle button will be shown in Blender's submission interface. When toggled on, the `eval` expression will determine the setting's value. Manually editing the setting is then no longer possible, and instead of an input field, the 'description' string is shown.\nAn example use is the to-be-rendered frame range, which by default automatically follows the scene range, but can be overridden manually when desired.\n"
        ),
    ]
    description: Annotated[
        str,
        Field(
            description="Description of what the 'eval' expression is doing. It is also used as placeholder text to show when the manual input field is hidden (because eval-on-submit has been toggled on by the user).\n"
        ),
    ]


class AvailableJobSettingType(StrEnum):
    string = "string"
    int32 = "int32"
    float = "float"
    bool = "bool"


class AvailableJobSettingSubtype(StrEnum):
    file_path = "file_path"
    dir_path = "dir_path"
    file_name = "file_name"
    hashed_file_path = "hashed_file_path"


class AvailableJobSettingVisibility(StrEnum):
    visible = "visible"
    hidden = "hidden"
    submission = "submission"
    web = "web"


class JobSettings(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )


class JobMetadata(RootModel[dict[str, str]]):
    root: dict[str, str]


class JobDeletionInfo(BaseModel):
    shaman_checkout: Annotated[
        bool,
        Field(
            description="Whether the Shaman checkout directory will be removed along with the job."
        ),
    ]


class JobsQuery(BaseModel):
    offset: Annotated[int | None, Field(ge=0)] = None
    limit: Annotated[int | None, Field(ge=1)] = None
    order_by: list[str] | None = None
    status_in: Annotated[
        list[JobStatus] | None, Field(description="Return only jobs with a status in this array.")
    ] = None
    metadata: Annotated[
        dict[str, str] | None, Field(description="Filter by metadata, using `LIKE` notation.")
    ] = None
    settings: Annotated[
        dict[str, Any] | None, Field(description="Filter by job settings, using `LIKE` notation.")
    ] = None


class TaskWorker(BaseModel):
    id: str
    name: str
    address: str


class TaskSummary(BaseModel):
    id: str
    name: str
    status: TaskStatus
    index_in_job: int
    priority: int
    task_type: str
    updated: AwareDatetime
    worker: TaskWorker | None = None
    steps_completed: int
    steps_total: int


class TaskLogInfo(BaseModel):
    task_id: str
    job_id: str
    url: Annotated[
        str, Field(description="The URL at which the task log itself can be downloaded.")
    ]
    size: Annotated[int, Field(description="The size of the task log, in bytes.")]


class JobLastRenderedImageInfo(BaseModel):
    base: str
    suffixes: list[str]


class SecurityError(BaseModel):
    message: str


class ShamanFileSpec(BaseModel):
    sha: Annotated[str, Field(description="SHA256 checksum of the file")]
    size: Annotated[int, Field(description="File size in bytes")]
    path: Annotated[str, Field(description="Location of the file in the checkout")]


class ShamanCheckout(BaseModel):
    files: list[ShamanFileSpec]
    checkoutPath: Annotated[
        str,
        Field(
            description='Path where the Manager should create this checkout. It is relative to the Shaman checkout path as configured on the Manager. In older versions of the Shaman this was just the "checkout ID", but in this version it can be a path like `project-slug/scene-name/unique-ID`.\n'
        ),
    ]


class ShamanCheckoutResult(BaseModel):
    checkoutPath: Annotated[
        str,
        Field(
            description="Path where the Manager created this checkout. This can be different than what was requested, as the Manager will ensure a unique directory. The path is relative to the Shaman checkout path as configured on the Manager.\n"
        ),
    ]


class ShamanFileStatus(StrEnum):
    unknown = "unknown"
    uploading = "uploading"
    stored = "stored"


class ShamanSingleFileStatus(BaseModel):
    status: ShamanFileStatus


class EventJobUpdate(BaseModel):
    id: Annotated[str, Field(description="UUID of the Job")]
    name: Annotated[str | None, Field(description="Name of the job")] = None
    updated: Annotated[AwareDatetime, Field(description="Timestamp of last update")]
    status: JobStatus
    previous_status: JobStatus | None = None
    type: str
    priority: int
    refresh_tasks: Annotated[
        bool,
        Field(
            description="Indicates that the client should refresh all the job's tasks. This is sent for mass updates, where updating each individual task would generate too many updates to be practical.\n"
        ),
    ]
    steps_completed: int
    steps_total: int
    delete_requested_at: Annotated[
        AwareDatetime | None,
        Field(
            description="If job deletion was requested, this is the timestamp at which that request was stored on Flamenco Manager.\n"
        ),
    ] = None
    was_deleted: Annotated[
        bool | None,
        Field(
            description="When a job was just deleted, this is set to `true`. If this is specified, only the 'id' field is set, the rest will be empty.\n"
        ),
    ] = None


class AssignedWorker(BaseModel):
    name: str
    uuid: str


class EventTaskLogUpdate(BaseModel):
    task_id: Annotated[str, Field(description="UUID of the Task")]
    log: Annotated[
        str, Field(description="Chunk of the task log. May contain multiple lines of text.")
    ]


class EventLastRenderedUpdate(BaseModel):
    job_id: str
    thumbnail: JobLastRenderedImageInfo


class LifeCycleEventType(StrEnum):
    manager_startup = "manager-startup"
    manager_shutdown = "manager-shutdown"


class SocketIOSubscriptionOperation(StrEnum):
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"


class SocketIOSubscriptionType(StrEnum):
    allJobs = "allJobs"
    allWorkers = "allWorkers"
    job = "job"
    tasklog = "tasklog"
    allLastRendered = "allLastRendered"
    allWorkerTags = "allWorkerTags"


class WorkerTask(TaskSummary):
    job_id: str


class WorkerTagList(BaseModel):
    tags: list[WorkerTag] | None = None


class FarmStatusReport(BaseModel):
    status: FarmStatus


class ManagerVariables(RootModel[dict[str, ManagerVariable]]):
    root: dict[str, ManagerVariable]


class BlenderPathCheckResult(BaseModel):
    input: Annotated[str, Field(description="The input that was given to find this Blender.")]
    path: Annotated[str, Field(description="The path that was found.")]
    source: BlenderPathSource
    is_usable: Annotated[bool, Field(description="Whether the path is usable or not.")]
    cause: Annotated[str, Field(description="Description of why this path is (not) usable.")]


class RegisteredWorker(BaseModel):
    uuid: str
    name: str
    address: str
    status: WorkerStatus
    platform: str
    software: str
    supported_task_types: list[str]


class AssignedTask(BaseModel):
    uuid: str
    job: str
    name: str
    status: TaskStatus
    priority: int
    job_priority: int
    job_type: str
    task_type: str
    commands: list[Command]
    steps_completed: int
    steps_total: int


class AvailableJobSetting(BaseModel):
    key: Annotated[
        str, Field(description="Identifier for the setting, must be unique within the job type.")
    ]
    type: AvailableJobSettingType
    subtype: AvailableJobSettingSubtype | None = None
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
    label: Annotated[
        Any | None,
        Field(
            description="Label for displaying this setting. If not specified, the key is used to generate a reasonable label."
        ),
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
    evalInfo: Annotated[
        EvalInfo | None, Field(description="Meta-data for the 'eval' expression.")
    ] = None
    visible: AvailableJobSettingVisibility | None = AvailableJobSettingVisibility.visible
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


class Job(SubmittedJob):
    id: Annotated[str, Field(description="UUID of the Job")]
    created: Annotated[AwareDatetime, Field(description="Creation timestamp")]
    updated: Annotated[AwareDatetime, Field(description="Timestamp of last update.")]
    status: JobStatus
    activity: Annotated[str, Field(description="Description of the last activity on this job.")]
    steps_completed: int
    steps_total: int
    delete_requested_at: Annotated[
        AwareDatetime | None,
        Field(
            description="If job deletion was requested, this is the timestamp at which that request was stored on Flamenco Manager.\n"
        ),
    ] = None


class JobsQueryResult(BaseModel):
    jobs: list[Job]


class Task(BaseModel):
    id: str
    created: Annotated[AwareDatetime, Field(description="Creation timestamp")]
    updated: Annotated[AwareDatetime, Field(description="Timestamp of last update.")]
    job_id: str
    index_in_job: int
    name: str
    status: TaskStatus
    priority: int
    task_type: str
    activity: str
    commands: list[Command]
    steps_completed: int
    steps_total: int
    worker: TaskWorker | None = None
    last_touched: Annotated[
        AwareDatetime | None, Field(description="Timestamp of when any worker worked on this task.")
    ] = None
    failed_by_workers: list[TaskWorker] | None = None


class JobTasksSummary(BaseModel):
    tasks: list[TaskSummary] | None = None


class JobBlocklist(RootModel[list[JobBlocklistEntry]]):
    root: Annotated[
        list[JobBlocklistEntry],
        Field(
            description="List of workers that are not allowed certain task types on a specific job."
        ),
    ]


class ShamanRequirementsRequest(BaseModel):
    files: list[ShamanFileSpec]


class ShamanFileSpecWithStatus(BaseModel):
    sha: Annotated[str, Field(description="SHA256 checksum of the file")]
    size: Annotated[int, Field(description="File size in bytes")]
    path: Annotated[str, Field(description="Location of the file in the checkout")]
    status: ShamanFileStatus


class EventTaskUpdate(BaseModel):
    id: Annotated[str, Field(description="UUID of the Task")]
    job_id: str
    worker: AssignedWorker | None = None
    name: Annotated[str, Field(description="Name of the task")]
    updated: Annotated[AwareDatetime, Field(description="Timestamp of last update")]
    status: TaskStatus
    previous_status: TaskStatus | None = None
    activity: str
    steps_completed: int
    steps_total: int


class EventWorkerUpdate(BaseModel):
    id: Annotated[str, Field(description="UUID of the Worker")]
    name: Annotated[str, Field(description="Name of the worker")]
    updated: Annotated[AwareDatetime, Field(description="Timestamp of last update")]
    last_seen: Annotated[
        AwareDatetime | None, Field(description="Last time this worker was seen by the Manager.")
    ] = None
    status: WorkerStatus
    previous_status: WorkerStatus | None = None
    status_change: WorkerStatusChangeRequest | None = None
    version: str
    deleted_at: Annotated[
        AwareDatetime | None, Field(description="This is only set when the worker was deleted.")
    ] = None
    can_restart: Annotated[bool, Field(description="Whether this Worker can auto-restart.")]


class EventWorkerTagUpdate(BaseModel):
    tag: WorkerTag
    was_deleted: Annotated[
        bool | None, Field(description="When a tag was just deleted, this is set to `true`.")
    ] = None


class EventLifeCycle(BaseModel):
    type: LifeCycleEventType


class EventFarmStatus(RootModel[FarmStatusReport]):
    root: FarmStatusReport


class SocketIOSubscription(BaseModel):
    op: SocketIOSubscriptionOperation
    type: SocketIOSubscriptionType
    uuid: Annotated[
        str | None, Field(description="UUID of the thing to subscribe to / unsubscribe from.")
    ] = None


class WorkerSummary(BaseModel):
    id: str
    name: str
    status: WorkerStatus
    status_change: WorkerStatusChangeRequest | None = None
    last_seen: Annotated[
        AwareDatetime | None, Field(description="Last time this worker was seen by the Manager.")
    ] = None
    version: Annotated[str, Field(description="Version of Flamenco this Worker is running")]
    can_restart: Annotated[bool, Field(description="Whether this worker can auto-restart.")]


class Worker(WorkerSummary):
    ip_address: Annotated[str, Field(description="IP address of the Worker")]
    platform: Annotated[str, Field(description="Operating system of the Worker")]
    supported_task_types: list[str]
    task: WorkerTask | None = None
    tags: Annotated[
        list[WorkerTag] | None, Field(description="Tags of which this Worker is a member.")
    ] = None
    id: str
    name: str
    status: WorkerStatus
    version: Annotated[str, Field(description="Version of Flamenco this Worker is running")]


class SetupAssistantConfig(BaseModel):
    storageLocation: Annotated[str, Field(description="Directory used for job file storage.")]
    blenderExecutable: BlenderPathCheckResult


class BlenderPathFindResult(RootModel[list[BlenderPathCheckResult]]):
    root: list[BlenderPathCheckResult]


class AvailableJobType(BaseModel):
    name: str
    label: str
    description: Annotated[
        str | None, Field(description="The description/tooltip shown in the user interface.")
    ] = None
    settings: list[AvailableJobSetting]
    etag: Annotated[
        str,
        Field(
            description="Hash of the job type. If the job settings or the label change, this etag will change. This is used on job submission to ensure that the submitted job settings are up to date.\n"
        ),
    ]


class ShamanRequirementsResponse(BaseModel):
    files: list[ShamanFileSpecWithStatus]


class WorkerList(BaseModel):
    workers: list[WorkerSummary]


class AvailableJobTypes(BaseModel):
    job_types: list[AvailableJobType]
