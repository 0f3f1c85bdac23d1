"""Files the manager serves by URL: task logs and last-rendered thumbnails."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from manager.core.errors import NotFound
from manager.web.deps import FarmDep
from manager.web.openapi import answers, media

router = APIRouter(prefix="/job-files", tags=["files"])


@router.get(
    "/task-logs/{job_id}/{task_file}",
    response_class=FileResponse,
    responses={200: media("text/plain", "The task's log", {"type": "string"}), **answers(404)},
)
def task_log(job_id: str, task_file: str, farm: FarmDep) -> FileResponse:
    task_id = task_file.removesuffix(".txt")
    try:
        path = farm.logs.path(job_id, task_id)
    except ValueError:
        raise NotFound("task log", task_file) from None
    if not path.is_file():
        raise NotFound("task log", task_file)
    return FileResponse(path, media_type="text/plain; charset=utf-8")


@router.get(
    "/last-rendered/{job_id}/{name}",
    response_class=FileResponse,
    responses={200: media("image/jpeg", "The image"), **answers(404)},
)
def last_rendered(job_id: str, name: str, farm: FarmDep) -> FileResponse:
    try:
        path = farm.last_rendered.file(job_id, name)
    except ValueError:
        path = None
    if path is None:
        raise NotFound("last-rendered image", f"{job_id}/{name}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
