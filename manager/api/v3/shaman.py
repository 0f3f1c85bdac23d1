"""The v3 ``shaman`` operations over the file store, and Farmhand's read side of it.

``/api/v3/shaman/...`` is the spec's: submitters ask which files the manager lacks, upload
them (checked against SHA-256 and size), and record a checkout. ``/api/farmhand/...`` adds
what workers need without shared storage: a checkout's manifest and each file's content.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from manager.api.v3 import spec_models
from manager.core.errors import Conflict, NotFound
from manager.storage import checkouts, file_store
from manager.storage.file_store import FileStatus, UploadRejected
from manager.storage.paths import check_sha256, check_size
from manager.web.deps import (
    AccessDep,
    CheckoutReaderDep,
    FarmDep,
    FileReaderDep,
    JobReaderDep,
    NowDep,
)
from manager.web.errors import error_response
from manager.web.openapi import answers, media, no_content

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v3/shaman", tags=["shaman"])
files_router = APIRouter(prefix="/api/farmhand", tags=["farmhand"])

#: Bodies up to this size are read and dropped before an early answer (208, 413, 417), so
#: the connection stays usable; larger ones are cut off, as the spec allows.
DRAIN_LIMIT = 1024 * 1024


class FileSpecIn(BaseModel):
    sha: str
    size: int
    path: str | None = None


class RequirementsIn(BaseModel):
    files: list[FileSpecIn]


class CheckoutIn(BaseModel):
    files: list[FileSpecIn]
    checkoutPath: str  # noqa: N815 (the spec's name)


class ManifestFile(BaseModel):
    path: str
    sha: str
    size: int


class CheckoutManifest(BaseModel):
    """A checkout's files, as a worker fetches them."""

    checkoutPath: str  # noqa: N815 (named like the Shaman API's)
    created: datetime
    total_size: int
    files: list[ManifestFile]


@router.post("/checkout/requirements", response_model=spec_models.ShamanRequirementsResponse)
def checkout_requirements(body: RequirementsIn, farm: FarmDep) -> JSONResponse:
    specs = checkouts.parse_file_specs(body.files, "files", with_paths=False)
    unknown = checkouts.unknown_files(file_store(farm.settings), specs)
    return JSONResponse(
        {
            "files": [
                {"sha": s.sha256, "size": s.size, "path": s.path, "status": status}
                for s, status in unknown
            ]
        }
    )


@router.post(
    "/checkout/create",
    response_model=spec_models.ShamanCheckoutResult,
    responses=answers(409, 424),
)
def checkout_create(body: CheckoutIn, farm: FarmDep, now: NowDep) -> JSONResponse:
    specs = checkouts.parse_file_specs(body.files, "files", with_paths=True)
    store = file_store(farm.settings)
    try:
        with farm.db.write() as session:
            path = checkouts.create_checkout(session, store, body.checkoutPath, specs, now)
    except IntegrityError:  # another manager took the same name at the same moment
        raise Conflict(f"checkoutPath: {body.checkoutPath!r} was just taken; retry") from None
    log.info("checkout %s: %d files", path, len(specs))
    return JSONResponse({"checkoutPath": path})


@router.get("/files/{checksum}/{filesize}", response_model=spec_models.ShamanSingleFileStatus)
def file_store_check(checksum: str, filesize: int, farm: FarmDep) -> JSONResponse:
    check_sha256(checksum)
    check_size(filesize)
    status = file_store(farm.settings).status(checksum, filesize)
    return JSONResponse({"status": status.value})


@router.post(
    "/files/{checksum}/{filesize}",
    status_code=204,
    responses={
        **no_content(208, "Already stored"),
        **no_content(425, "Another upload of this file is under way"),
        **answers(413, 417),
    },
)
async def file_store_upload(
    checksum: str,
    filesize: int,
    request: Request,
    farm: FarmDep,
    can_defer: Annotated[bool, Header(alias="X-Shaman-Can-Defer-Upload")] = False,
    original_name: Annotated[str, Header(alias="X-Shaman-Original-Filename")] = "",
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    check_sha256(checksum)
    check_size(filesize)
    store = file_store(farm.settings)
    declared = int(content_length) if content_length and content_length.isdigit() else None
    limit = farm.settings.max_upload_bytes
    if filesize > limit or (declared is not None and declared > limit):
        await _drain(request, declared)
        return error_response(413, f"filesize: files up to {limit} bytes are accepted")
    if declared is not None and declared != filesize:
        await _drain(request, declared)
        return error_response(
            417, f"Content-Length is {declared}, but the file is announced as {filesize} bytes"
        )
    status = store.status(checksum, filesize)
    if status == FileStatus.STORED:
        await _drain(request, declared)
        return Response(status_code=208)
    if status == FileStatus.UPLOADING and can_defer:
        await _drain(request, declared)
        return Response(status_code=425)
    try:
        stored_now = await store.receive(checksum, filesize, request.stream())
    except UploadRejected as exc:
        log.info("upload of %s (%s) refused: %s", checksum[:12], original_name or "?", exc)
        return error_response(417, str(exc))
    return Response(status_code=204 if stored_now else 208)


async def _drain(request: Request, declared: int | None) -> None:
    if declared is not None and declared <= DRAIN_LIMIT:
        async for _chunk in request.stream():
            pass


# Farmhand's read side: what workers fetch, for the jobs they hold a task of. ----------------


@files_router.get(
    "/jobs/{job_id}/checkout",
    dependencies=[JobReaderDep],
    response_model=CheckoutManifest,
    responses=answers(404),
)
def job_checkout(job_id: str, farm: FarmDep) -> JSONResponse:
    """The manifest of a job's checkout: every file's path, checksum and size."""
    with farm.db.read() as session:
        return JSONResponse(checkouts.manifest(*checkouts.checkout_of_job(session, job_id)))


@files_router.get(
    "/checkouts/{checkout_path:path}",
    dependencies=[CheckoutReaderDep],
    response_model=CheckoutManifest,
    responses=answers(404),
)
def checkout_manifest(checkout_path: str, farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse(checkouts.manifest(*checkouts.get_checkout(session, checkout_path)))


@files_router.get(
    "/files/{checksum}/{filesize}",
    dependencies=[FileReaderDep],
    response_class=FileResponse,
    responses={200: media("application/octet-stream", "The file's bytes"), **answers(404)},
)
async def file_content(checksum: str, filesize: int, farm: FarmDep) -> FileResponse:
    """A stored file's bytes (HTTP ranges work, so a broken download can resume)."""
    check_sha256(checksum)
    check_size(filesize)
    path = file_store(farm.settings).path(checksum, filesize)
    if not await run_in_threadpool(path.is_file):
        raise NotFound("stored file", f"{checksum}/{filesize}")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"X-Farmhand-SHA256": checksum, "Cache-Control": "private, max-age=31536000"},
    )


def install(app: FastAPI) -> None:
    app.include_router(router, dependencies=[AccessDep])
    app.include_router(files_router)
