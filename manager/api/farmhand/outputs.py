"""Rendered outputs: workers upload each finished frame; users list and download them.

Upload (worker): ``PUT /api/farmhand/outputs/tasks/{task_id}/{name}`` with
``X-Farmhand-SHA256`` (of the whole file) and, for a piece, ``Content-Range: bytes a-b/size``.
``GET`` on the same URL with ``?sha256=&size=`` says how much has arrived. Downloads (users, or
workers holding a task of the job): ``/api/farmhand/jobs/{job_id}/outputs`` (list),
``.../outputs/{name}``, and ``.../outputs.zip`` (everything, streamed).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPBasicCredentials
from pydantic import BaseModel
from sqlalchemy.orm import Session

from manager.core import jobs, worker_session
from manager.core.errors import BadInput, FarmError, NotFound
from manager.core.farm import Farm
from manager.core.worker_facts import WorkerFacts
from manager.storage import output_store
from manager.storage.outputs import UploadState
from manager.storage.paths import check_relative_path, check_sha256, check_size
from manager.web.deps import CredentialsDep, FarmDep, JobReaderDep, NowDep, as_worker
from manager.web.openapi import answers, media

UPLOAD_PREFIX = "/api/farmhand/outputs/"
upload_router = APIRouter(prefix="/api/farmhand/outputs", tags=["farmhand"])
download_router = APIRouter(prefix="/api/farmhand", tags=["farmhand"])

#: At most 19 digits a number: every size fits a BIGINT, and int() is never asked for 5,000.
_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})$")


class TooLarge(FarmError):
    status = 413


class UploadStatePublic(BaseModel):
    """How much of an output the manager holds; ``complete`` once its checksum matched."""

    name: str
    sha256: str
    size: int
    received: int
    complete: bool


class OutputFile(BaseModel):
    name: str
    size: int
    modified: datetime
    url: str


class JobOutputs(BaseModel):
    job_id: str
    files: list[OutputFile]
    total_size: int


#: An upload's state: 200 while parts are missing, 201 once the file is complete.
_UPLOAD_ANSWERS = {
    201: {"model": UploadStatePublic, "description": "The file is complete"},
    **answers(401, 404, 413),
}


async def _job_of_task_for_worker(
    farm: Farm, credentials: HTTPBasicCredentials, now: datetime, task_id: str
) -> str:
    def work(session: Session, worker: WorkerFacts) -> str:
        return worker_session.owned_task(session, worker, task_id, running=False).job_id

    return await as_worker(farm, credentials, now, work)


def _state_json(name: str, sha256: str, size: int, state: UploadState) -> JSONResponse:
    return JSONResponse(
        {
            "name": name,
            "sha256": sha256,
            "size": size,
            "received": state.received,
            "complete": state.complete,
        },
        status_code=201 if state.complete else 200,
    )


@upload_router.put(
    "/tasks/{task_id}/{name:path}", response_model=UploadStatePublic, responses=_UPLOAD_ANSWERS
)
async def upload_output(
    task_id: str,
    name: str,
    request: Request,
    farm: FarmDep,
    credentials: CredentialsDep,
    now: NowDep,
    sha256: Annotated[str, Header(alias="X-Farmhand-SHA256")] = "",
    content_range: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    check_relative_path(name, "name")
    check_sha256(sha256, "X-Farmhand-SHA256")
    if content_range:
        match = _RANGE.match(content_range.strip())
        if not match:
            raise BadInput("Content-Range: use 'bytes <first>-<last>/<size>'")
        start, last, size = (int(g) for g in match.groups())
        if last < start or last >= size:
            raise BadInput(f"Content-Range: {content_range!r} is not inside the file")
    elif content_length and content_length.isdigit():
        start, size = 0, int(content_length)
    else:
        raise BadInput("Content-Length: send the file's length (or a Content-Range)")
    if size > farm.settings.max_upload_bytes:
        raise TooLarge(f"files up to {farm.settings.max_upload_bytes} bytes are accepted")
    job_id = await _job_of_task_for_worker(farm, credentials, now, task_id)
    state = await farm.outputs.receive(job_id, name, sha256, size, start, _body(request))
    return _state_json(name, sha256, size, state)


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


@upload_router.get(
    "/tasks/{task_id}/{name:path}", response_model=UploadStatePublic, responses=_UPLOAD_ANSWERS
)
async def upload_state(
    task_id: str,
    name: str,
    farm: FarmDep,
    credentials: CredentialsDep,
    now: NowDep,
    sha256: Annotated[str, Query()],
    size: Annotated[int, Query()],
) -> JSONResponse:
    check_relative_path(name, "name")
    check_sha256(sha256, "sha256")
    check_size(size, "size")
    job_id = await _job_of_task_for_worker(farm, credentials, now, task_id)
    state = await run_in_threadpool(output_store(farm.settings).state, job_id, name, sha256, size)
    return _state_json(name, sha256, size, state)


def _existing_job(farm: Farm, job_id: str) -> None:
    with farm.db.read() as session:
        jobs.get_job(session, job_id)


@download_router.get(
    "/jobs/{job_id}/outputs",
    dependencies=[JobReaderDep],
    response_model=JobOutputs,
    responses=answers(404),
)
def list_outputs(job_id: str, farm: FarmDep) -> JSONResponse:
    _existing_job(farm, job_id)
    files = output_store(farm.settings).list_files(job_id)
    return JSONResponse(
        {
            "job_id": job_id,
            "files": [f.to_json(job_id) for f in files],
            "total_size": sum(f.size for f in files),
        }
    )


@download_router.get(
    "/jobs/{job_id}/outputs.zip",
    dependencies=[JobReaderDep],
    response_class=StreamingResponse,
    responses={200: media("application/zip", "Every output in one archive"), **answers(404)},
)
def download_outputs_zip(job_id: str, farm: FarmDep, now: NowDep) -> StreamingResponse:
    _existing_job(farm, job_id)
    store = output_store(farm.settings)
    stamp = datetime.strftime(now, "%Y%m%d-%H%M%S")
    return StreamingResponse(
        store.zip_stream(job_id),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id[:8]}-{stamp}.zip"'},
    )


@download_router.get(
    "/jobs/{job_id}/outputs/{name:path}",
    dependencies=[JobReaderDep],
    response_class=FileResponse,
    responses={200: media("application/octet-stream", "The output's bytes"), **answers(404)},
)
def download_output(job_id: str, name: str, farm: FarmDep) -> FileResponse:
    check_relative_path(name, "name")
    _existing_job(farm, job_id)
    path = output_store(farm.settings).file(job_id, name)
    if path is None:
        raise NotFound("output", name)
    return FileResponse(path, filename=path.name)


def install(app: FastAPI) -> None:
    app.include_router(upload_router)
    app.include_router(download_router)
