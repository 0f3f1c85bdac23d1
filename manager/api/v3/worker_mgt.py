"""The v3 worker management API: workers, their status requests, tags and sleep schedules."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from manager.api.v3 import schemas, serialize, spec_models
from manager.core import scheduler, workers
from manager.db.models import SleepSchedule
from manager.db.queries import listings
from manager.web.deps import FarmDep, NowDep
from manager.web.openapi import answers, no_content

router = APIRouter(prefix="/api/v3/worker-mgt", tags=["worker-mgt"])


@router.get("/workers", response_model=spec_models.WorkerList)
def fetch_workers(farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        rows = listings.all_workers_by_name(session)
        return JSONResponse({"workers": [serialize.worker_summary(w) for w in rows]})


@router.get("/workers/{worker_id}", response_model=spec_models.Worker, responses=answers(404))
def fetch_worker(worker_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        worker = workers.get_worker(session, worker_id)
        return JSONResponse(serialize.worker(worker, scheduler.current_task_of(session, worker)))


@router.delete("/workers/{worker_id}", status_code=204, responses=answers(404))
def delete_worker(worker_id: str, farm: FarmDep, now: NowDep) -> Response:
    with farm.db.write() as session:
        workers.delete_worker(session, worker_id, now)
    return Response(status_code=204)


@router.post("/workers/{worker_id}/setstatus", status_code=204, responses=answers(404, 409))
def request_worker_status_change(
    worker_id: str, body: schemas.WorkerStatusChangeRequest, farm: FarmDep, now: NowDep
) -> Response:
    with farm.db.write() as session:
        workers.request_status_change(session, worker_id, body.status, body.is_lazy, now)
    return Response(status_code=204)


@router.post("/workers/{worker_id}/settags", status_code=204, responses=answers(404))
def set_worker_tags(
    worker_id: str, body: schemas.WorkerTagChangeRequest, farm: FarmDep, now: NowDep
) -> Response:
    with farm.db.write() as session:
        workers.set_worker_tags(session, worker_id, body.tag_ids, now)
    return Response(status_code=204)


@router.get(
    "/workers/{worker_id}/sleep-schedule",
    response_model=schemas.WorkerSleepSchedule,
    responses={**no_content(description="No sleep schedule"), **answers(404)},
)
def fetch_worker_sleep_schedule(worker_id: str, farm: FarmDep) -> Response:
    with farm.db.read() as session:
        workers.get_worker(session, worker_id)
        schedule = session.get(SleepSchedule, worker_id)
        if schedule is None:
            return Response(status_code=204)
        return JSONResponse(serialize.sleep_schedule(schedule))


@router.post("/workers/{worker_id}/sleep-schedule", status_code=204, responses=answers(404))
def set_worker_sleep_schedule(
    worker_id: str, body: schemas.WorkerSleepSchedule, farm: FarmDep
) -> Response:
    with farm.db.write() as session:
        workers.set_sleep_schedule(
            session,
            worker_id,
            is_active=body.is_active,
            days_of_week=body.days_of_week,
            start_time=body.start_time,
            end_time=body.end_time,
        )
    return Response(status_code=204)


@router.get("/tags", response_model=spec_models.WorkerTagList)
def fetch_worker_tags(farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        rows = listings.all_tags_by_name(session)
        return JSONResponse({"tags": [serialize.tag(t) for t in rows]})


@router.post("/tags", response_model=schemas.WorkerTag, responses=answers(409))
def create_worker_tag(body: schemas.WorkerTag, farm: FarmDep) -> JSONResponse:
    with farm.db.write() as session:
        tag = workers.create_tag(session, body.name, body.description or "", body.id)
        out = serialize.tag(tag)
    return JSONResponse(out)


@router.get("/tag/{tag_id}", response_model=schemas.WorkerTag, responses=answers(404))
def fetch_worker_tag(tag_id: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse(serialize.tag(workers.get_tag(session, tag_id)))


@router.put("/tag/{tag_id}", status_code=204, responses=answers(404, 409))
def update_worker_tag(tag_id: str, body: schemas.WorkerTag, farm: FarmDep) -> Response:
    with farm.db.write() as session:
        workers.update_tag(session, tag_id, body.name, body.description)
    return Response(status_code=204)


@router.delete("/tag/{tag_id}", status_code=204, responses=answers(404))
def delete_worker_tag(tag_id: str, farm: FarmDep) -> Response:
    with farm.db.write() as session:
        workers.delete_tag(session, tag_id)
    return Response(status_code=204)
