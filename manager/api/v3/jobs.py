"""The v3 jobs API: job types, submission, listing, control, tasks and logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.orm import Session

from client.blend_header import version_number
from manager.api.v3 import schemas, serialize, spec_models
from manager.core import jobs, staged_jobs, tasks, variables
from manager.core.bounds import INT32_MAX
from manager.core.errors import BadInput, NotFound
from manager.core.farm import Farm, utcnow
from manager.db.queries import listings
from manager.storage import file_store
from manager.storage.blend_versions import saved_with_version
from manager.web.deps import FarmDep, NowDep
from manager.web.openapi import answers, no_content
from manager.web.read_lane import answer_read

router = APIRouter(prefix="/api/v3", tags=["jobs"])


@router.get("/jobs/types", response_model=spec_models.AvailableJobTypes)
def get_job_types(farm: FarmDep) -> JSONResponse:
    return JSONResponse({"job_types": [t.to_api() for t in farm.job_types.all()]})


@router.get(
    "/jobs/type/{type_name}", response_model=spec_models.AvailableJobType, responses=answers(404)
)
def get_job_type(type_name: str, farm: FarmDep) -> JSONResponse:
    job_type = farm.job_types.get(type_name)
    if job_type is None:
        raise NotFound("job type", type_name)
    return JSONResponse(job_type.to_api())


def _submission(body: schemas.SubmittedJob, farm: Farm, session: Session) -> jobs.JobSubmission:
    checkout_id = body.storage.shaman_checkout_id if body.storage else None
    return jobs.JobSubmission(
        name=body.name,
        type=body.type,
        priority=body.priority,
        submitter_platform=body.submitter_platform,
        settings=variables.to_variables(
            body.settings, farm.settings.variables, body.submitter_platform.lower()
        ),
        metadata=body.metadata,
        type_etag=body.type_etag,
        worker_tag=body.worker_tag,
        initial_status=body.initial_status,
        shaman_checkout_id=checkout_id,
        blender_version=_blender_version(body, farm, session, checkout_id),
    )


def _blender_version(
    body: schemas.SubmittedJob, farm: Farm, session: Session, checkout_id: str | None
) -> int | None:
    """What the submitter says saved the file, else what its header says, else unknown."""
    if body.blender_version is not None:
        try:
            return version_number(body.blender_version)
        except ValueError as exc:
            raise BadInput(f"blender_version: {exc}") from None
    return saved_with_version(
        session, file_store(farm.settings), body.settings.get("blendfile"), checkout_id
    )


@router.post("/jobs", response_model=spec_models.Job, responses=answers(412))
def submit_job(body: schemas.SubmittedJob, farm: FarmDep, now: NowDep) -> JSONResponse:
    # Compiled without the write lock and stored in steps: a big job never holds up workers.
    with farm.db.read() as session:
        submission = _submission(body, farm, session)
    job_id = staged_jobs.submit_in_steps(farm.db, farm.job_types, submission, now, utcnow)
    with farm.db.read() as session:
        return JSONResponse(serialize.job(jobs.get_job(session, job_id)))


@router.post("/jobs/check", status_code=204, responses=answers(412))
def submit_job_check(body: schemas.SubmittedJob, farm: FarmDep, now: NowDep) -> Response:
    # Checks and compiles in a read transaction: no write lock, nothing to roll back.
    with farm.db.read() as session:
        jobs.compile_submission(session, farm.job_types, _submission(body, farm, session), now)
    return Response(status_code=204)


# Flamenco's clients list everything; ``offset`` and ``limit`` page through a busy farm.
OffsetQ = Annotated[int, Query(ge=0, le=INT32_MAX)]
LimitQ = Annotated[int | None, Query(ge=1, le=INT32_MAX)]


@router.get("/jobs", response_model=spec_models.JobsQueryResult)
async def fetch_jobs(
    request: Request, farm: FarmDep, offset: OffsetQ = 0, limit: LimitQ = None
) -> JSONResponse:
    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            rows = listings.jobs_by_last_change(session, offset, limit)
            return {"jobs": [serialize.job(j) for j in rows]}

    return await answer_read(request, read)


@router.delete("/jobs/mass-delete", status_code=204, responses=answers(416))
def delete_job_mass(body: schemas.JobMassDeletionSelection, farm: FarmDep, now: NowDep) -> Response:
    if body.last_updated_max is None:
        return JSONResponse(
            {"code": 400, "message": "last_updated_max: this field is required"}, 400
        )
    with farm.db.write() as session:
        ids = jobs.jobs_updated_before(session, body.last_updated_max)
        if not ids:
            return JSONResponse({"code": 416, "message": "no jobs match"}, status_code=416)
        for job_id in ids:
            jobs.delete_job(session, job_id, now)
    return Response(status_code=204)


@router.get(
    "/jobs/last-rendered",
    response_model=spec_models.JobLastRenderedImageInfo,
    responses=no_content(description="Nothing rendered yet"),
)
def fetch_global_last_rendered_info(farm: FarmDep) -> Response:
    info = farm.last_rendered.global_info()
    return Response(status_code=204) if info is None else JSONResponse(info)


@router.get("/jobs/{job_id}", response_model=spec_models.Job, responses=answers(404))
def fetch_job(job_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse(serialize.job(jobs.get_job(session, job_id)))


@router.delete("/jobs/{job_id}", status_code=204, responses=answers(404))
def delete_job(job_id: str, farm: FarmDep, now: NowDep) -> Response:
    with farm.db.write() as session:
        jobs.delete_job(session, job_id, now)
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}/what-would-delete-do",
    response_model=spec_models.JobDeletionInfo,
    responses=answers(404),
)
def delete_job_what_would_it_do(job_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        job = jobs.get_job(session, job_id)
        return JSONResponse({"shaman_checkout": bool(job.shaman_checkout_id)})


@router.get(
    "/jobs/{job_id}/last-rendered",
    response_model=spec_models.JobLastRenderedImageInfo,
    responses={**no_content(description="Nothing rendered yet"), **answers(404)},
)
def fetch_job_last_rendered_info(job_id: str, farm: FarmDep) -> Response:
    with farm.db.read() as session:
        jobs.get_job(session, job_id)
    info = farm.last_rendered.job_info(job_id)
    return Response(status_code=204) if info is None else JSONResponse(info)


@router.post("/jobs/{job_id}/setstatus", status_code=204, responses=answers(404, 422))
def set_job_status(
    job_id: str, body: schemas.JobStatusChange, farm: FarmDep, now: NowDep
) -> Response:
    with farm.db.write() as session:
        jobs.set_job_status(session, job_id, body.status, body.reason, now)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/setpriority", status_code=204, responses=answers(404))
def set_job_priority(
    job_id: str, body: schemas.JobPriorityChange, farm: FarmDep, now: NowDep
) -> Response:
    with farm.db.write() as session:
        jobs.set_job_priority(session, job_id, body.priority, now)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/settag", status_code=204, responses=answers(404))
def set_job_tag(job_id: str, body: schemas.JobTagChange, farm: FarmDep, now: NowDep) -> Response:
    with farm.db.write() as session:
        jobs.set_job_tag(session, job_id, body.id, body.name, now)
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}/tasks", response_model=spec_models.JobTasksSummary, responses=answers(404)
)
async def fetch_job_tasks(
    request: Request, job_id: str, farm: FarmDep, offset: OffsetQ = 0, limit: LimitQ = None
) -> JSONResponse:
    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            jobs.get_job(session, job_id)
            end = offset + limit if limit is not None else None
            rows = listings.tasks_of_job_from_index(session, job_id, offset, end)
            return {"tasks": [serialize.task_summary(t) for t in rows]}

    return await answer_read(request, read)


@router.get(
    "/jobs/{job_id}/blocklist", response_model=spec_models.JobBlocklist, responses=answers(404)
)
def fetch_job_blocklist(job_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        entries = jobs.fetch_blocklist(session, job_id)
        names = listings.worker_names(session, [e.worker_id for e in entries])
        return JSONResponse([serialize.blocklist_entry(e, names.get(e.worker_id)) for e in entries])


@router.delete("/jobs/{job_id}/blocklist", status_code=204, responses=answers(404))
def remove_job_blocklist(
    job_id: str, farm: FarmDep, body: list[schemas.JobBlocklistEntry] | None = None
) -> Response:
    with farm.db.write() as session:
        jobs.remove_from_blocklist(
            session, job_id, [(e.worker_id, e.task_type) for e in body or []]
        )
    return Response(status_code=204)


@router.get("/tasks/{task_id}", response_model=spec_models.Task, responses=answers(404))
def fetch_task(task_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        task = tasks.get_task(session, task_id)
        failed_by = listings.workers_who_failed_task(session, task_id)
        return JSONResponse(serialize.task(task, failed_by))


@router.get(
    "/tasks/{task_id}/logtail",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "The last lines of the task's log"},
        **no_content(description="No log yet"),
        **answers(404),
    },
)
def fetch_task_log_tail(task_id: str, farm: FarmDep) -> Response:
    with farm.db.read() as session:
        task = tasks.get_task(session, task_id)
    tail = farm.logs.tail(task.job_id, task.id)
    return PlainTextResponse(tail) if tail else Response(status_code=204)


@router.get(
    "/tasks/{task_id}/log",
    response_model=spec_models.TaskLogInfo,
    responses={**no_content(description="No log yet"), **answers(404)},
)
def fetch_task_log_info(task_id: str, farm: FarmDep) -> Response:
    with farm.db.read() as session:
        task = tasks.get_task(session, task_id)
    size = farm.logs.size(task.job_id, task.id)
    if not size:
        return Response(status_code=204)
    return JSONResponse(
        {
            "task_id": task.id,
            "job_id": task.job_id,
            "url": f"/job-files/task-logs/{task.job_id}/{task.id}.txt",
            "size": size,
        }
    )


@router.post("/tasks/{task_id}/setstatus", status_code=204, responses=answers(404, 422))
def set_task_status(
    task_id: str, body: schemas.TaskStatusChange, farm: FarmDep, now: NowDep
) -> Response:
    with farm.db.write() as session:
        tasks.set_task_status_by_user(session, task_id, body.status, body.reason, now)
    return Response(status_code=204)
