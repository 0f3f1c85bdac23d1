"""Status enums of jobs, tasks and workers, exactly as the Flamenco v3 API names them."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    ACTIVE = "active"
    CANCELED = "canceled"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    PAUSE_REQUESTED = "pause-requested"
    QUEUED = "queued"
    CANCEL_REQUESTED = "cancel-requested"
    REQUEUEING = "requeueing"
    UNDER_CONSTRUCTION = "under-construction"


class TaskStatus(StrEnum):
    ACTIVE = "active"
    CANCELED = "canceled"
    COMPLETED = "completed"
    FAILED = "failed"
    QUEUED = "queued"
    SOFT_FAILED = "soft-failed"
    PAUSED = "paused"


class WorkerStatus(StrEnum):
    STARTING = "starting"
    AWAKE = "awake"
    ASLEEP = "asleep"
    ERROR = "error"
    TESTING = "testing"
    OFFLINE = "offline"
    RESTART = "restart"


#: Tasks in these states may be handed to a worker.
RUNNABLE_TASK_STATUSES = (TaskStatus.QUEUED, TaskStatus.SOFT_FAILED)

#: Jobs in these states have tasks that may be handed out.
SCHEDULABLE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.ACTIVE)

#: Worker states in which a worker is expected to keep talking to the manager; a worker in
#: one of them (asleep too: it wakes up) may still take work.
LIVE_WORKER_STATUSES = (
    WorkerStatus.STARTING,
    WorkerStatus.AWAKE,
    WorkerStatus.ASLEEP,
    WorkerStatus.TESTING,
)

#: Task states that no longer change on their own.
FINAL_TASK_STATUSES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED)
