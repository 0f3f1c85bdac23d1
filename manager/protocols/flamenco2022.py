"""The 2022 Flamenco manager API (``/api/...``, ``nickname`` instead of ``name``), exactly per
``openapi/flamenco-2022.yaml``, as a thin translation over the same core as ``/api/v3``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session

import manager
from manager.api.v3.schemas import Body
from manager.core import jobs, staged_jobs, tasks, worker_session, workers
from manager.core.farm import utcnow
from manager.core.worker_facts import WorkerFacts
from manager.db.models import Job, Worker
from manager.protocols import flamenco2022_spec as spec
from manager.web.deps import (
    AccessDep,
    CredentialsDep,
    FarmDep,
    NowDep,
    RegistrationDep,
    as_loaded_worker,
    as_worker,
    client_address,
)
from manager.web.openapi import answers, no_content

router = APIRouter(prefix="/api", tags=["flamenco-2022"])

Status2022 = Literal["starting", "awake", "asleep", "error", "shutdown", "testing", "offline"]
TaskStatus2022 = Literal[
    "active",
    "canceled",
    "completed",
    "failed",
    "queued",
    "soft-failed",
    "cancel-requested",
    "paused",
]

# Statuses the 2022 enums lack, mapped to their nearest 2022 meaning.
_WORKER_STATUS_OUT = {"restart": "shutdown"}
_WORKER_STATUS_IN = {"shutdown": "offline"}
_JOB_STATUS_OUT = {"pause-requested": "active", "requeueing": "requeued"}
_TASK_STATUS_IN = {"cancel-requested": "failed"}


def _worker_status(status: str) -> str:
    return _WORKER_STATUS_OUT.get(status, status)


# The 2022 request bodies carry the year: the served document lists them beside v3's.
class WorkerRegistration2022(Body):
    secret: str
    platform: str
    supported_task_types: list[str]
    nickname: str = Field(max_length=200)


class WorkerSignOn2022(Body):
    nickname: str = Field(max_length=200)
    supported_task_types: list[str]
    software_version: str


class WorkerStateChanged2022(Body):
    status: Status2022


class TaskUpdate2022(Body):
    taskStatus: TaskStatus2022 | None = None
    activity: str | None = None
    log: str | None = None


class SubmittedJob2022(Body):
    name: str = Field(max_length=1000)
    type: str
    priority: int
    settings: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)


def _registered(worker: Worker) -> dict[str, Any]:
    return {
        "uuid": worker.id,
        "nickname": worker.name,
        "address": worker.address,
        "status": _worker_status(worker.status),
        "platform": worker.platform,
        "current_task": "",
        "last_activity": worker.updated.isoformat(),
        "software": worker.software,
        "supported_task_types": worker.supported_task_types,
    }


def _job(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "type": job.job_type,
        "priority": job.priority,
        "settings": job.settings,
        "metadata": job.job_metadata,
        "created": job.created.isoformat(),
        "updated": job.updated.isoformat(),
        "status": _JOB_STATUS_OUT.get(job.status, job.status),
    }


def _assigned(task: dict[str, Any]) -> dict[str, Any]:
    """The 2022 ``AssignedTask``: the v3 one without step counts."""
    out = {key: task[key] for key in _ASSIGNED_KEYS_2022}
    out["commands"] = [{"name": c["name"], "parameters": c["parameters"]} for c in task["commands"]]
    return out


_ASSIGNED_KEYS_2022 = (
    "uuid",
    "job",
    "name",
    "status",
    "priority",
    "job_priority",
    "job_type",
    "task_type",
)


_SETTING_KEYS_2022 = (
    "key",
    "type",
    "subtype",
    "choices",
    "propargs",
    "description",
    "default",
    "eval",
    "required",
    "editable",
)


def _job_type(served: dict[str, Any]) -> dict[str, Any]:
    settings = []
    for setting in served["settings"]:
        out = {k: setting[k] for k in _SETTING_KEYS_2022 if k in setting}
        out["visible"] = setting.get("visible", "visible") in ("visible", "submission")
        settings.append(out)
    return {"name": served["name"], "label": served["label"], "settings": settings}


@router.get("/version", response_model=spec.Flamenco2022FlamencoVersion)
def get_version() -> JSONResponse:
    return JSONResponse({"version": manager.__version__, "name": manager.NAME})


@router.post(
    "/worker/register-worker",
    dependencies=[RegistrationDep],
    response_model=spec.Flamenco2022RegisteredWorker,
)
async def register_worker(
    body: WorkerRegistration2022, farm: FarmDep, now: NowDep, request: Request
) -> JSONResponse:
    registered = await worker_session.register(
        farm,
        _registered,
        name=body.nickname,
        secret=body.secret,
        platform=body.platform,
        supported_task_types=body.supported_task_types,
        address=client_address(request),
        now=now,
    )
    return JSONResponse(registered)


@router.post(
    "/worker/sign-on", response_model=spec.Flamenco2022WorkerStateChange, responses=answers(401)
)
async def sign_on(
    body: WorkerSignOn2022,
    farm: FarmDep,
    credentials: CredentialsDep,
    now: NowDep,
    request: Request,
) -> JSONResponse:
    address = client_address(request)

    def work(session: Session, worker: Worker) -> str:
        return workers.sign_on(
            session,
            worker,
            name=body.nickname,
            supported_task_types=body.supported_task_types,
            software=body.software_version,
            can_restart=False,
            address=address,
            now=now,
        )

    wanted = await as_loaded_worker(farm, credentials, now, work)
    return JSONResponse({"status_requested": _worker_status(wanted)})


@router.post("/worker/sign-off", status_code=204, responses=answers(401))
async def sign_off(farm: FarmDep, credentials: CredentialsDep, now: NowDep) -> Response:
    await as_loaded_worker(farm, credentials, now, lambda s, w: workers.sign_off(s, w, now))
    return Response(status_code=204)


@router.get(
    "/worker/state",
    response_model=spec.Flamenco2022WorkerStateChange,
    responses={**no_content(description="No status change requested"), **answers(401)},
)
async def worker_state(farm: FarmDep, credentials: CredentialsDep, now: NowDep) -> Response:
    wanted = await as_worker(farm, credentials, now, worker_session.state_to_go_to)
    if wanted is None:
        return Response(status_code=204)
    return JSONResponse({"status_requested": _worker_status(wanted)})


@router.post("/worker/state-changed", status_code=204, responses=answers(401))
async def worker_state_changed(
    body: WorkerStateChanged2022, farm: FarmDep, credentials: CredentialsDep, now: NowDep
) -> Response:
    status = _WORKER_STATUS_IN.get(body.status, body.status)
    await as_loaded_worker(
        farm, credentials, now, lambda s, w: workers.state_changed(s, w, status, now)
    )
    return Response(status_code=204)


@router.post(
    "/worker/task",
    response_model=spec.Flamenco2022AssignedTask,
    responses={
        **no_content(description="No task for this worker now"),
        **no_content(409, "The worker is not awake"),
        423: {"model": spec.Flamenco2022WorkerStateChange, "description": "Change status first"},
        **answers(401, 403),
    },
)
async def schedule_task(farm: FarmDep, credentials: CredentialsDep, now: NowDep) -> Response:
    def work(session: Session, worker: WorkerFacts) -> tuple[int, dict[str, Any] | None]:
        given = worker_session.ask_for_work(session, farm.settings, worker, now)
        if given.status_requested is not None:
            return 423, {"status_requested": _worker_status(given.status_requested)}
        if given.task is None:
            return (409 if given.not_awake else 204), None
        return 200, _assigned(given.task)

    status, out = await as_worker(farm, credentials, now, work)
    if out is None:
        return Response(status_code=status)
    if status != 200:
        return JSONResponse(out, status_code=status)
    return JSONResponse(out)


@router.post("/worker/task/{task_id}", status_code=204, responses=answers(401, 404, 409))
async def task_update(
    task_id: str, body: TaskUpdate2022, farm: FarmDep, credentials: CredentialsDep, now: NowDep
) -> Response:
    status = _TASK_STATUS_IN.get(body.taskStatus, body.taskStatus) if body.taskStatus else None

    def work(session: Session, worker: WorkerFacts) -> tasks.TaskUpdateResult:
        return worker_session.report(
            session,
            farm.settings,
            worker,
            task_id,
            now=now,
            task_status=status,
            activity=body.activity,
            has_log=bool(body.log),
        )

    result = await as_worker(farm, credentials, now, work)
    if body.log:
        await run_in_threadpool(farm.logs.append, result.job_id, task_id, body.log)
    worker_session.keep_frames_of_report(farm, result)
    return Response(status_code=204)


@router.get(
    "/jobs/types",
    dependencies=[AccessDep],
    response_model=spec.Flamenco2022AvailableJobTypes,
)
def get_job_types(farm: FarmDep) -> JSONResponse:
    return JSONResponse({"job_types": [_job_type(t.to_api()) for t in farm.job_types.all()]})


@router.post(
    "/jobs",
    dependencies=[AccessDep],
    response_model=spec.Flamenco2022Job,
    responses=answers(412),
)
def submit_job(body: SubmittedJob2022, farm: FarmDep, now: NowDep) -> JSONResponse:
    submission = jobs.JobSubmission(
        name=body.name,
        type=body.type,
        priority=body.priority,
        settings=body.settings,
        metadata=body.metadata,
    )
    job_id = staged_jobs.submit_in_steps(farm.db, farm.job_types, submission, now, utcnow)
    with farm.db.read() as session:
        return JSONResponse(_job(jobs.get_job(session, job_id)))


@router.get(
    "/jobs/{job_id}",
    dependencies=[AccessDep],
    response_model=spec.Flamenco2022Job,
    responses=answers(404),
)
def fetch_job(job_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse(_job(jobs.get_job(session, job_id)))


def install(app: FastAPI) -> None:
    app.include_router(router)
