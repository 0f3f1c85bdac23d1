"""The 2015 manager REST API of Flamenco manager 2015: ``/tasks`` and ``/workers``.

A 2015 task is a core job over a frame range (the ``range-render`` job type: one task that
one worker renders frame by frame); its integer id is kept in ``rest2015_tasks``. A 2015
worker is a core worker known by its hostname, with an integer id; the metrics it sends
(load average, CPU, memory and disk percent) are kept in the worker's ``extra``. Errors are
the manager's JSON ``Error{code, message}``. Deviations from the 2015 text: answers the text
shows as "204" with a body are sent as 200 (HTTP forbids a body with 204), and
``GET /tasks/{id}`` is added so a worker can read the task it was given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import jobs, scheduler, staged_jobs, tasks, worker_session, workers
from manager.core.bounds import FRAME_MAX, FRAME_MIN, INT32_MAX, Frame, Id32, Int32, Name
from manager.core.errors import BadInput, Conflict, NotFound
from manager.core.farm import Farm, utcnow
from manager.core.statuses import JobStatus
from manager.db.models import Job, Worker
from manager.db.protocol_models import Rest2015Task
from manager.db.queries import protocol_workers, task_reads
from manager.db.queries import rest2015 as rest2015_queries
from manager.db.queries import tasks as task_queries
from manager.protocols import common
from manager.protocols.rest2015_answers import (
    Task2015,
    WorkerFacts2015,
    WorkerOrder2015,
    Workers2015,
)
from manager.web.deps import AccessDep, FarmDep, NowDep, RegistrationDep, client_address
from manager.web.json_body import read_json
from manager.web.openapi import answers

PROTOCOL = "rest2015"
TASK_TYPE = "blender-range"
#: 2015 task compilers and the job types they became.
COMPILERS = {"blender_simple": "range-render", "blender_render": "range-render"}
router = APIRouter(tags=["rest2015"], dependencies=[AccessDep])

_STATUS_OUT = {
    JobStatus.QUEUED: "ready",
    JobStatus.ACTIVE: "rendering",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELED: "canceled",
    JobStatus.CANCEL_REQUESTED: "canceled",
    JobStatus.PAUSED: "paused",
    JobStatus.PAUSE_REQUESTED: "paused",
    JobStatus.REQUEUEING: "ready",
    JobStatus.UNDER_CONSTRUCTION: "ready",
}
_USER_STATUS_IN = {
    "ready": "queued",
    "queued": "queued",
    "paused": "paused",
    "canceled": "canceled",
}
_WORKER_STATUS_IN = {"rendering": None, "completed": "completed", "failed": "failed"}


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class TaskCreate(_Body):
    priority: Int32 = 50
    settings: str = Field(max_length=100_000)
    task_id: Id32 | None = None
    type: str = Field(min_length=1, max_length=200)
    parser: str = Field("", max_length=200)


class TaskPatch(_Body):
    priority: Int32 | None = None
    status: str | None = None
    frame_current: Frame | None = None
    worker_id: Id32 | None = None


class LoadAverage(_Body):
    one: float = Field(alias="1min", ge=0)
    five: float = Field(alias="5min", ge=0)
    fifteen: float = Field(alias="15min", ge=0)


Percent = Annotated[float, Field(ge=0, le=100)]
#: A MAC address as a number: 48 bits.
MacAddress = Annotated[int, Field(ge=0, le=2**48 - 1)]


class UpdateFrequent(_Body):
    load_average: LoadAverage | None = None
    worker_cpu_percent: Percent | None = None


class UpdateLessFrequent(_Body):
    worker_architecture: str | None = Field(None, max_length=100)
    worker_disk_percent: Percent | None = None
    worker_mem_percent: Percent | None = None
    worker_num_cpus: int | None = Field(None, ge=1, le=INT32_MAX)


class Metrics(_Body):
    mac_address: MacAddress | Annotated[str, Field(max_length=100)] | None = None
    port: int | None = Field(None, ge=1, le=65535)
    update_frequent: UpdateFrequent | None = None
    update_less_frequent: UpdateLessFrequent | None = None


class WorkerRegistration2015(Metrics):
    hostname: Name = Field(min_length=1, max_length=200)
    system: str = Field(max_length=200)


class WorkerPatch(Metrics):
    status: Literal["rendering", "available"]


# Tasks ---------------------------------------------------------------------------------------


def _job_settings(body: TaskCreate) -> dict[str, Any]:
    given = read_json(body.settings, "settings")
    if not isinstance(given, dict):
        raise BadInput("settings: expected a JSON object")
    if body.type not in COMPILERS:
        return given
    start, end = given.get("frame_start"), given.get("frame_end")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        raise BadInput("settings.frame_start, settings.frame_end: whole numbers are required")
    for key, frame in (("frame_start", start), ("frame_end", end)):
        if not FRAME_MIN <= frame <= FRAME_MAX:
            raise BadInput(f"settings.{key}: {frame} is outside {FRAME_MIN}..{FRAME_MAX}")
    blendfile = given.get("filepath", given.get("blendfile"))
    if not isinstance(blendfile, str) or not blendfile:
        raise BadInput("settings.filepath: the blend file to render is required")
    fmt = given.get("format", "")
    if not isinstance(fmt, str):
        raise BadInput("settings.format: expected text")
    settings = {"blendfile": blendfile, "frames": f"{start}-{end}", "format": fmt}
    # Where the file's scene writes its frames, when the submitter says: the manager then
    # keeps them with the job's outputs, as for every worker that does not upload.
    output = given.get("render_output_path")
    if output is not None:
        if not isinstance(output, str):
            raise BadInput("settings.render_output_path: expected text")
        settings["render_output_path"] = output
    return settings


def _task_number(session: Session, job_id: str) -> int:
    row = rest2015_queries.task_of_job(session, job_id)
    if row is not None:
        return row.number
    number = rest2015_queries.highest_task_number(session) + 1
    session.add(Rest2015Task(number=number, job_id=job_id, parser=""))
    session.flush()
    return number


def _job_of(session: Session, number: int) -> Job:
    # No number outside the column's range was ever stored; asking the database would fail.
    row = session.get(Rest2015Task, number) if 1 <= number <= INT32_MAX else None
    job = session.get(Job, row.job_id) if row is not None else None
    if job is None:
        raise NotFound("task", str(number))
    return job


def _worker_number(session: Session, worker_id: str | None) -> int | None:
    if worker_id is None:
        return None
    return protocol_workers.worker_number(session, PROTOCOL, worker_id)


def _task_out(session: Session, number: int, job: Job) -> dict[str, Any]:
    first = task_reads.first_task_of_job(session, job.id)
    frame = common.task_frame(first) if first is not None else None
    start, end = (frame, frame) if isinstance(frame, int) else (frame or [0, 0])
    done = first.steps_completed if job.tasks_total == 1 and first else job.tasks_completed
    active = task_reads.a_worker_of_job(session, job.id)
    return {
        "id": number,
        "worker_id": _worker_number(session, active),
        "priority": job.priority,
        "frame_start": start,
        "frame_end": end,
        "frame_current": min(start + done, end),
        "status": _STATUS_OUT.get(JobStatus(job.status), job.status),
        "format": str(job.settings.get("format", "")),
    }


@router.post("/tasks", status_code=202, response_model=Task2015, responses=answers(409, 412))
def create_task(body: TaskCreate, farm: FarmDep, now: NowDep) -> JSONResponse:
    submission = jobs.JobSubmission(
        name=f"2015 task {body.task_id}" if body.task_id else "2015 task",
        type=COMPILERS.get(body.type, body.type),
        priority=body.priority,
        settings=_job_settings(body),
        metadata={"rest2015.type": body.type, "rest2015.parser": body.parser},
    )
    numbers: list[int] = []

    def keep_number(session: Session, job_id: str) -> None:
        # Asked again here: another submission may have taken the number meanwhile.
        _refuse_taken_number(session, body.task_id)
        numbers.append(body.task_id or _task_number(session, job_id))
        if body.task_id:
            session.add(Rest2015Task(number=body.task_id, job_id=job_id, parser=body.parser))
            session.flush()

    with farm.db.read() as session:
        _refuse_taken_number(session, body.task_id)
    # Compiled without the write lock and stored in steps: a big job never holds up workers.
    job_id = staged_jobs.submit_in_steps(
        farm.db, farm.job_types, submission, now, utcnow, beside_job=keep_number
    )
    with farm.db.read() as session:
        out = _task_out(session, numbers[0], jobs.get_job(session, job_id))
    return JSONResponse(out, status_code=202)


def _refuse_taken_number(session: Session, number: int | None) -> None:
    if number is not None and session.get(Rest2015Task, number) is not None:
        raise Conflict(f"task_id: task {number} already exists")


@router.get("/tasks/{number}", response_model=Task2015, responses=answers(404))
def fetch_task(number: int, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse(_task_out(session, number, _job_of(session, number)))


@router.patch("/tasks/{number}", status_code=204, responses=answers(404, 422))
async def update_task(number: int, body: TaskPatch, farm: FarmDep, now: NowDep) -> Response:
    if body.worker_id is not None:
        result = await farm.writer.run(
            lambda session: _update_from_worker(session, farm.settings, number, body, now)
        )
        worker_session.keep_frames_of_report(farm, result)
    else:
        await run_in_threadpool(_update_by_user, farm, number, body, now)
    return Response(status_code=204)


def _update_by_user(farm: Farm, number: int, body: TaskPatch, now: datetime) -> None:
    with farm.db.write() as session:
        job = _job_of(session, number)
        if body.frame_current is not None:
            raise BadInput("frame_current: only the task's worker (worker_id) reports it")
        if body.priority is not None:
            jobs.set_job_priority(session, job.id, body.priority, now)
        if body.status is not None:
            if body.status not in _USER_STATUS_IN:
                known = ", ".join(_USER_STATUS_IN)
                raise BadInput(f"status: {body.status!r} is not one of {known}")
            jobs.set_job_status(session, job.id, _USER_STATUS_IN[body.status], "2015 API", now)


def _update_from_worker(
    session: Session, settings: Settings, number: int, body: TaskPatch, now: datetime
) -> tasks.TaskUpdateResult:
    job = _job_of(session, number)
    assert body.worker_id is not None
    worker = _worker_by_number(session, body.worker_id)
    worker_session.mark_seen(session, worker, now)
    if body.status is not None and body.status not in _WORKER_STATUS_IN:
        raise BadInput(f"status: a worker reports {', '.join(_WORKER_STATUS_IN)}")
    # A 2015 worker names the job: its report is about the job's task it holds.
    task_id = task_queries.task_of_job_for_worker(session, job.id, worker.id)
    if task_id is None:
        raise NotFound("task", str(number))
    steps = None
    if body.frame_current is not None:
        frame = common.task_frame(tasks.get_task(session, task_id))
        start = frame[0] if isinstance(frame, list) else frame or 0
        steps = body.frame_current - start
    return worker_session.report(
        session,
        settings,
        worker,
        task_id,
        now=now,
        task_status=_WORKER_STATUS_IN.get(body.status or "rendering"),
        activity=f"frame {body.frame_current}" if body.frame_current is not None else None,
        steps_completed=steps,
    )


@router.delete("/tasks/{number}", status_code=202, response_class=Response, responses=answers(404))
def delete_task(number: int, farm: FarmDep, now: NowDep) -> Response:
    with farm.db.write() as session:
        job_id = _job_of(session, number).id
        jobs.delete_job(session, job_id, now)
    return Response(status_code=202)


# Workers -------------------------------------------------------------------------------------


def _store_metrics(
    session: Session, worker: Worker, body: Metrics, system: str | None = None
) -> None:
    extra = dict(worker.extra or {})
    extra["protocol"] = PROTOCOL
    if system is not None:
        extra["system"] = system
    for key in ("mac_address", "port"):
        if getattr(body, key) is not None:
            extra[key] = getattr(body, key)
    for key in ("update_frequent", "update_less_frequent"):
        value = getattr(body, key)
        if value is not None:
            extra[key] = value.model_dump(by_alias=True, exclude_none=True)
    workers.update_reported_facts(session, worker, extra=extra)


def _worker_out(session: Session, worker: Worker, number: int) -> dict[str, Any]:
    current = scheduler.current_task_of(session, worker)
    return {
        "activity": current.activity if current else None,
        "connection": "online" if common.is_live(worker) else "offline",
        "current_task": _task_number(session, current.job_id) if current else None,
        "hostname": worker.name,
        "id": number,
        "ip_address": worker.address,
        "log": None,
        "port": worker.extra.get("port", 5000),
        "status": "disabled" if worker.status in ("asleep", "offline") else "enabled",
        "system": worker.extra.get("system", worker.platform),
        "time_cost": None,
    }


def _worker_by_number(session: Session, number: int) -> Worker:
    if not 1 <= number <= INT32_MAX:
        raise NotFound("worker", str(number))
    row = protocol_workers.worker_numbered(session, PROTOCOL, number)
    worker = session.get(Worker, row.worker_id) if row is not None else None
    if worker is None:
        raise NotFound("worker", str(number))
    return worker


@router.get("/workers", response_model=Workers2015)
def list_workers(farm: FarmDep) -> JSONResponse:
    with farm.db.write() as session:
        rows = protocol_workers.workers_by_number(session, PROTOCOL)
        return JSONResponse({w.name: _worker_out(session, w, n or 0) for w, n in rows})


@router.post("/workers", dependencies=[RegistrationDep], response_model=Workers2015)
async def register_worker(
    body: WorkerRegistration2015, farm: FarmDep, now: NowDep, request: Request
) -> JSONResponse:
    address = client_address(request)

    def work(session: Session) -> dict[str, Any]:
        found = common.protocol_worker(session, PROTOCOL, body.hostname)
        if found is None:
            found = common.add_protocol_worker(
                session,
                PROTOCOL,
                body.hostname,
                platform=body.system,
                task_types=[TASK_TYPE],
                address=address,
                now=now,
                numbered=True,
            )
        worker, number = found
        assert number is not None
        worker_session.bring_online(
            session,
            worker,
            name=body.hostname,
            task_types=[TASK_TYPE],
            software=f"2015 worker ({body.system})",
            address=address,
            now=now,
        )
        _store_metrics(session, worker, body, body.system)
        return {worker.name: _worker_out(session, worker, number)}

    return JSONResponse(await farm.writer.run(work))


@router.get("/workers/{number}", response_model=WorkerFacts2015, responses=answers(404))
def fetch_worker(number: int, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        worker = _worker_by_number(session, number)
        extra = worker.extra or {}
        return JSONResponse(
            {
                "hostname": worker.name,
                "mac_address": extra.get("mac_address"),
                "system": extra.get("system", worker.platform),
                "update_frequent": extra.get("update_frequent", {}),
                "update_less_frequent": extra.get("update_less_frequent", {}),
            }
        )


@router.patch("/workers/{number}", response_model=WorkerOrder2015, responses=answers(404))
async def update_worker(number: int, body: WorkerPatch, farm: FarmDep, now: NowDep) -> JSONResponse:
    def work(session: Session) -> dict[str, Any]:
        worker = _worker_by_number(session, number)
        if not common.is_live(worker):
            worker_session.bring_online(
                session,
                worker,
                name=worker.name,
                task_types=[TASK_TYPE],
                software=worker.software,
                address=worker.address,
                now=now,
            )
        worker_session.mark_seen(session, worker, now)
        _store_metrics(session, worker, body)
        given = worker_session.poll_on_behalf(
            session, worker, now, claim=body.status == "available"
        )
        task = tasks.get_task(session, given.task_id) if given.task_id else None
        return {"task_id": _task_number(session, task.job_id) if task else None}

    return JSONResponse(await farm.writer.run(work))


def install(app: FastAPI) -> None:
    app.include_router(router)
