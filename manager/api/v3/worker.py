"""The v3 worker API: registration, sign-on/off, state, task scheduling and updates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from manager.api.v3 import schemas, serialize, spec_models
from manager.core import tasks, worker_session, workers
from manager.core.errors import BadInput, FarmError
from manager.core.last_rendered import ACCEPTED_TYPES, MAX_IMAGE_BYTES
from manager.core.worker_facts import WorkerFacts
from manager.db.models import Worker
from manager.web.deps import (
    WORKER_AUTH_DOC,
    CredentialsDep,
    FarmDep,
    NowDep,
    RegistrationDep,
    as_loaded_worker,
    as_worker,
    client_address,
    worker_call,
)
from manager.web.openapi import answers, no_content

router = APIRouter(prefix="/api/v3/worker", tags=["worker"])


class FarmError411(FarmError):
    status = 411


@router.post(
    "/register-worker",
    dependencies=[RegistrationDep],
    response_model=spec_models.RegisteredWorker,
)
async def register_worker(
    body: schemas.WorkerRegistration, farm: FarmDep, now: NowDep, request: Request
) -> JSONResponse:
    registered = await worker_session.register(
        farm,
        serialize.registered_worker,
        name=body.name,
        secret=body.secret,
        platform=body.platform,
        supported_task_types=body.supported_task_types,
        address=client_address(request),
        now=now,
    )
    return JSONResponse(registered)


@router.post("/sign-on", response_model=spec_models.WorkerStateChange, responses=answers(401))
async def sign_on(
    body: schemas.WorkerSignOn,
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
            name=body.name,
            supported_task_types=body.supported_task_types,
            software=body.software_version,
            can_restart=body.can_restart,
            address=address,
            tags=body.tags,
            hardware=body.hardware,
            blender_version=body.blender_version,
            now=now,
        )

    wanted = await as_loaded_worker(farm, credentials, now, work)
    return JSONResponse({"status_requested": wanted})


@router.post("/sign-off", status_code=204, responses=answers(401))
async def sign_off(farm: FarmDep, credentials: CredentialsDep, now: NowDep) -> Response:
    await as_loaded_worker(farm, credentials, now, lambda s, w: workers.sign_off(s, w, now))
    return Response(status_code=204)


@router.get(
    "/state",
    response_model=spec_models.WorkerStateChange,
    responses={**no_content(description="No status change requested"), **answers(401)},
)
async def worker_state(farm: FarmDep, credentials: CredentialsDep, now: NowDep) -> Response:
    wanted = await as_worker(farm, credentials, now, worker_session.state_to_go_to)
    if wanted is None:
        return Response(status_code=204)
    return JSONResponse({"status_requested": wanted})


@router.post("/state-changed", status_code=204, responses=answers(401))
async def worker_state_changed(
    body: schemas.WorkerStateChanged, farm: FarmDep, credentials: CredentialsDep, now: NowDep
) -> Response:
    await as_loaded_worker(
        farm, credentials, now, lambda s, w: workers.state_changed(s, w, body.status, now)
    )
    return Response(status_code=204)


@router.post(
    "/task",
    openapi_extra=WORKER_AUTH_DOC,
    response_model=spec_models.AssignedTask,
    responses={
        **no_content(description="No task for this worker now"),
        **no_content(409, "The worker is not awake"),
        423: {"model": spec_models.WorkerStateChange, "description": "Change status first"},
        **answers(401, 403),
    },
)
async def schedule_task(request: Request) -> Response:
    farm, credentials, now = await worker_call(request)

    def work(session: Session, worker: WorkerFacts) -> tuple[int, dict[str, Any] | None]:
        given = worker_session.ask_for_work(session, farm.settings, worker, now)
        if given.status_requested is not None:
            return 423, {"status_requested": given.status_requested}
        if given.task is None:
            return (409 if given.not_awake else 204), None
        return 200, given.task

    status, out = await as_worker(farm, credentials, now, work)
    if out is None:
        return Response(status_code=status)
    if status != 200:
        return JSONResponse(out, status_code=status)
    return JSONResponse(out)


@router.post(
    "/task/{task_id}",
    status_code=204,
    openapi_extra=WORKER_AUTH_DOC,
    responses=answers(401, 404, 409),
)
async def task_update(task_id: str, body: schemas.TaskUpdate, request: Request) -> Response:
    farm, credentials, now = await worker_call(request)

    def work(session: Session, worker: WorkerFacts) -> tasks.TaskUpdateResult:
        return worker_session.report(
            session,
            farm.settings,
            worker,
            task_id,
            now=now,
            task_status=body.taskStatus,
            activity=body.activity,
            steps_completed=body.steps_completed,
            has_log=bool(body.log),
        )

    result = await as_worker(farm, credentials, now, work)
    if body.log:
        await run_in_threadpool(farm.logs.append, result.job_id, task_id, body.log)
    worker_session.keep_frames_of_report(farm, result)
    return Response(status_code=204)


@router.get(
    "/task/{task_id}/may-i-run",
    openapi_extra=WORKER_AUTH_DOC,
    response_model=spec_models.MayKeepRunning,
    responses=answers(401, 404),
)
async def may_worker_run(task_id: str, request: Request) -> JSONResponse:
    farm, credentials, now = await worker_call(request)

    def work(session: Session, worker: WorkerFacts) -> worker_session.MayRun:
        return worker_session.may_keep_running(session, worker, task_id)

    may = await as_worker(farm, credentials, now, work)
    return JSONResponse(
        {
            "mayKeepRunning": may.may_keep_running,
            "reason": may.reason,
            "statusChangeRequested": may.status_change_requested,
        }
    )


@router.post(
    "/task/{task_id}/output-produced",
    status_code=202,
    response_class=Response,
    responses=answers(401, 404, 411, 413, 415),
)
async def task_output_produced(
    task_id: str,
    request: Request,
    farm: FarmDep,
    credentials: CredentialsDep,
    now: NowDep,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    if content_length is None:
        raise FarmError411("send a Content-Length header")
    if not content_length.isdigit():
        raise BadInput("Content-Length: not a number")
    if int(content_length) > MAX_IMAGE_BYTES:
        return JSONResponse(
            {"code": 413, "message": f"images up to {MAX_IMAGE_BYTES} bytes are accepted"}, 413
        )
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        return JSONResponse(
            {
                "code": 415,
                "message": f"Content-Type {media or 'missing'}: send image/jpeg or image/png",
            },
            415,
        )
    data = await request.body()

    def work(session: Session, worker: WorkerFacts) -> str:
        return worker_session.owned_task(session, worker, task_id, running=False).job_id

    job_id = await as_worker(farm, credentials, now, work)
    await run_in_threadpool(farm.last_rendered.store, job_id, data)
    return Response(status_code=202)
