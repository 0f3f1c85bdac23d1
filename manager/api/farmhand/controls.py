"""Farmhand's own additions to the API, under ``/api/farmhand`` (not part of Flamenco's)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from manager.core import jobs, missing_frames, waiting
from manager.storage import output_store
from manager.web.deps import FarmDep, NowDep
from manager.web.openapi import answers

router = APIRouter(prefix="/api/farmhand", tags=["farmhand"])


class JobTypeError(BaseModel):
    path: str
    message: str


class JobTypeErrors(BaseModel):
    errors: list[JobTypeError]


@router.get("/job-type-errors", response_model=JobTypeErrors)
def job_type_errors(farm: FarmDep) -> JSONResponse:
    """Presets that could not be loaded, and why; the other job types keep working."""
    return JSONResponse(
        {"errors": [{"path": str(e.path), "message": e.message} for e in farm.job_types.errors()]}
    )


class JobTypeSummary(BaseModel):
    name: str
    label: str
    description: str | None
    category: str
    artists: bool
    """Offered to artists (the add-on, ``farmhand submit``) without asking for all types."""
    etag: str
    task_types: list[str]
    unrun_task_types: list[str]
    """Task types of the job type that no worker on the farm now runs."""


class BrokenJobType(BaseModel):
    name: str | None
    """The job type the file defines, when it is readable enough to say."""
    path: str
    message: str


class JobTypeCatalog(BaseModel):
    render_type: str
    """The type that renders an artist's frames: what submitters choose by default."""
    job_types: list[JobTypeSummary]
    errors: list[BrokenJobType]


@router.get("/job-types")
def job_type_catalog(farm: FarmDep) -> JobTypeCatalog:
    """Every job type with what it is for and whether the farm can run it now, and the
    presets that could not be loaded; the settings are in ``/api/v3/jobs/type/{name}``."""
    with farm.db.read() as session:
        running = waiting.task_types_of_connected_workers(session)
    return JobTypeCatalog(
        render_type=farm.settings.render_job_type,
        job_types=[
            JobTypeSummary(
                name=t.name, label=t.label, description=t.description, category=t.category,
                artists=t.artists, etag=t.etag, task_types=list(t.task_types),
                unrun_task_types=[tt for tt in t.task_types if tt not in running],
            )
            for t in farm.job_types.all()
        ],
        errors=[
            BrokenJobType(name=e.name, path=str(e.path), message=e.message)
            for e in farm.job_types.errors()
        ],
    )


class RequeueMissingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = ""


class RequeuedTaskPublic(BaseModel):
    id: str
    name: str
    reason: str


class MissingFramesRequeuePublic(BaseModel):
    job_id: str
    job_status: str
    requeued: list[RequeuedTaskPublic]
    missing_frames: list[int]
    frames_checked: bool
    """False when the job's frames are not uploaded to the manager (shared storage)."""


@router.post("/jobs/{job_id}/requeue-missing", responses=answers(404, 422))
def requeue_missing(
    job_id: str, farm: FarmDep, now: NowDep, body: RequeueMissingRequest | None = None
) -> MissingFramesRequeuePublic:
    """Queue again the job's failed and canceled tasks and the render tasks whose frames are
    not among its outputs."""
    with farm.db.read() as session:
        jobs.get_job(session, job_id)  # before the outputs folder is named after the id
    stored = [f.name for f in output_store(farm.settings).list_files(job_id)]
    done = missing_frames.requeue_missing(farm.db, job_id, stored, now, body.reason if body else "")
    return MissingFramesRequeuePublic(
        job_id=done.job_id,
        job_status=done.job_status,
        requeued=[RequeuedTaskPublic(id=t.id, name=t.name, reason=t.reason) for t in done.requeued],
        missing_frames=done.missing_frames,
        frames_checked=done.frames_checked,
    )
