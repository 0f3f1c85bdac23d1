"""The SheepIt-style calls of a client at work: frame validation, error reports, heartbeats,
logout, the last rendered frame and the credits earned."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from manager.core import worker_session, workers
from manager.core.bounds import BadNumber, parse_decimal
from manager.core.errors import Conflict, FarmError, NotFound
from manager.core.farm import Farm
from manager.db.models import Job
from manager.db.protocol_models import SheepitUser
from manager.protocols import sheepit_store as store
from manager.protocols.forms import Form
from manager.protocols.sheepit_session import (
    COOKIE,
    UNKNOWN_ERROR,
    LiveClient,
    client_task,
    live_client,
    read_params,
    xml,
)
from manager.web.deps import FarmDep, NowDep
from manager.web.openapi import Responses, answered_in, media

router = APIRouter(prefix="/sheepit", tags=["sheepit"])
#: SheepIt clients read XML, errors included (an element with a status code).
XML = answered_in("text/xml", "The answer's XML element", errors="The error's XML element")
_AJAX: Responses = {
    200: {
        "description": "Credits as text, or the last rendered frame",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    },
    "default": media("text/plain", "Why not", {"type": "string"}),
}

VALIDATE_FIELDS = ("job", "frame", "rendertime")


def _int(form: Form, name: str) -> int | None:
    value = form.get(name)
    if value is None:
        return None
    try:
        return int(parse_decimal(value, name))
    except BadNumber:
        return None


# Job validation --------------------------------------------------------------------------------


@router.get("/server/send_frame.php", response_class=Response, responses=XML)
@router.post("/server/send_frame.php", response_class=Response, responses=XML)
async def validate_job(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "jobvalidate")
    if isinstance(form, Response):
        return form
    token = request.cookies.get(COOKIE)
    missing = [name for name in VALIDATE_FIELDS if form.get(name) is None]
    if "file" not in form.files:
        missing.append("file")
    if missing:
        return xml("jobvalidate", 300, f"missing parameter(s): {', '.join(missing)}")
    frame, rendertime = _int(form, "frame"), _int(form, "rendertime")
    if frame is None or rendertime is None:
        return xml("jobvalidate", 300, "frame and rendertime must be numbers")
    checked = await run_in_threadpool(store.check_frame, form.files["file"])
    number = form.fields["job"]

    def check(session: Session) -> tuple[Response | None, str | None, str | None]:
        return _check_frame(session, farm, token, number, frame, checked, now)

    refusal, job_id, task_id = await farm.writer.run(check)
    if refusal is not None:
        return refusal
    assert job_id is not None and task_id is not None
    # The frame is a job output before its task counts as completed.
    try:
        await _keep_frame(farm, job_id, frame, checked, form.files["file"])
    except FarmError as exc:
        return xml("jobvalidate", 302, f"file: {exc.message}")
    except OSError as exc:
        return xml("jobvalidate", 303, f"failed to store the frame: {exc.strerror}")

    def complete(session: Session) -> tuple[Response, bool]:
        return _complete(session, farm, token, task_id, rendertime, now)

    response, completed = await farm.writer.run(complete)
    if completed:
        await run_in_threadpool(_keep_preview, farm, job_id, checked)
    return response


def _check_frame(
    session: Session,
    farm: Farm,
    token: str | None,
    number: str,
    frame: int,
    checked: store.CheckedFrame,
    now: datetime,
) -> tuple[Response | None, str | None, str | None]:
    """A refusal, or None, the job and the task of a good frame; a black frame fails its
    task."""
    found = live_client(session, token, now)
    if found is None or found.client.disabled:
        return xml("jobvalidate", 304, "session is disabled or dead"), None, None
    try:
        task_id = client_task(session, found.worker, number, frame)
        owned = worker_session.owned_task(session, found.worker, task_id)
    except NotFound as exc:
        return xml("jobvalidate", 300, f"job: {exc.message}"), None, None
    except Conflict as exc:
        return xml("jobvalidate", 303, exc.message), None, None
    if checked.verdict is store.FrameVerdict.NOT_AN_IMAGE:
        return xml("jobvalidate", 302, "file: not an image this manager can read"), None, None
    if checked.verdict is store.FrameVerdict.TOO_LARGE:
        return xml("jobvalidate", 303, "file: image too large to check"), None, None
    if checked.verdict is store.FrameVerdict.BLACK:
        store.count_broken_frame(found.client)
        reason = "broken frame: the image is entirely black"
        return _fail(farm, found, task_id, reason, now), None, None
    return None, owned.job_id, task_id


def _complete(
    session: Session, farm: Farm, token: str | None, task_id: str, rendertime: int, now: datetime
) -> tuple[Response, bool]:
    """The answer, and whether the task is now completed."""
    found = live_client(session, token, now)
    if found is None or found.client.disabled:
        return xml("jobvalidate", 304, "session is disabled or dead"), False
    try:
        result = worker_session.report(
            session,
            farm.settings,
            found.worker,
            task_id,
            now=now,
            task_status="completed",
            activity=f"rendered in {rendertime} s by {found.worker.name}",
        )
    except (NotFound, Conflict) as exc:
        return xml("jobvalidate", 303, exc.message), False
    found.client.frames_rendered += 1
    found.client.last_job_id = result.job_id
    user = session.get(SheepitUser, found.client.login)
    if user is not None:
        user.frames_rendered += 1
    return xml("jobvalidate", 0), True


def _fail(farm: Farm, found: LiveClient, task_id: str, reason: str, now: datetime) -> Response:
    """A broken frame fails the task for this client; another one renders it."""
    try:
        worker_session.report(
            found.session,
            farm.settings,
            found.worker,
            task_id,
            now=now,
            task_status="failed",
            activity=reason,
        )
    except Conflict:
        pass  # no longer this client's task: refused all the same
    return xml("jobvalidate", 301, reason)


async def _keep_frame(
    farm: Farm, job_id: str, frame: int, checked: store.CheckedFrame, data: bytes
) -> None:
    """Store the frame with the job's outputs, where every protocol's frames are listed and
    downloaded (``/api/farmhand/jobs/{id}/outputs``)."""
    extension = {"JPEG": "jpg"}.get(checked.format, checked.format.lower() or "img")
    sha256 = hashlib.sha256(data).hexdigest()
    await farm.outputs.receive(
        job_id, f"{frame:04d}.{extension}", sha256, len(data), 0, _one_chunk(data)
    )


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _keep_preview(farm: Farm, job_id: str, checked: store.CheckedFrame) -> None:
    """The frame as the job's last rendered one, once its task is known to be completed."""
    try:
        farm.last_rendered.store(job_id, checked.png)
    except FarmError:
        pass  # the preview is a nicety; the frame itself is kept


# Error report ----------------------------------------------------------------------------------


@router.get("/server/error.php", response_class=Response, responses=XML)
@router.post("/server/error.php", response_class=Response, responses=XML)
async def error_report(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "error")
    if isinstance(form, Response):
        return form
    number = form.get("job")
    if number is None:
        return xml("error", UNKNOWN_ERROR, "missing parameter: job")
    frame = _int(form, "frame")
    log = form.files.get("file", form.fields.get("file", "").encode()).decode("utf-8", "replace")
    token = request.cookies.get(COOKIE)

    def work(session: Session) -> tuple[Response, tuple[str, str] | None]:
        return _error(session, farm, token, number, frame, log, now)

    response, failed = await farm.writer.run(work)
    if failed is not None and log:
        await run_in_threadpool(farm.logs.append, failed[0], failed[1], log)
    return response


def _error(
    session: Session,
    farm: Farm,
    token: str | None,
    number: str,
    frame: int | None,
    log: str,
    now: datetime,
) -> tuple[Response, tuple[str, str] | None]:
    """The answer, and the job and task that failed (its log is kept)."""
    found = live_client(session, token, now)
    if found is None:
        return xml("error", UNKNOWN_ERROR, "session is dead"), None
    first_line = next((line for line in log.splitlines() if line.strip()), "no log")
    try:
        task_id = client_task(session, found.worker, number, frame)
        result = worker_session.report(
            session,
            farm.settings,
            found.worker,
            task_id,
            now=now,
            task_status="failed",
            activity=f"error on the client: {first_line[:200]}",
        )
    except NotFound as exc:
        return xml("error", UNKNOWN_ERROR, exc.message), None
    except Conflict:
        return xml("error", 0), None  # no longer this client's task: nothing to fail
    return xml("error", 0), (result.job_id, task_id)


# Heartbeat -------------------------------------------------------------------------------------


@router.get("/server/keepmealive.php", response_class=Response, responses=XML)
@router.post("/server/keepmealive.php", response_class=Response, responses=XML)
async def keep_me_alive(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "keepmealive")
    if isinstance(form, Response):
        return form
    token = request.cookies.get(COOKIE)

    def work(session: Session) -> Response:
        return _keep_alive(session, farm, token, form, now)

    return await farm.writer.run(work)


def _keep_alive(
    session: Session, farm: Farm, token: str | None, form: Form, now: datetime
) -> Response:
    found = live_client(session, token, now)
    number = form.get("job")
    if found is None:
        return xml("keepmealive", 400, "session is dead; stop and log in again")
    if number is None:
        return xml("keepmealive", 0)
    remaining = form.get("remainingtime")
    activity = "rendering" + (f", {remaining} s left" if remaining else "")
    try:
        task_id = client_task(session, found.worker, number, _int(form, "frame"))
        worker_session.report(
            session, farm.settings, found.worker, task_id, now=now, activity=activity
        )
    except (Conflict, NotFound) as exc:
        return xml("keepmealive", 400, f"stop this job: {exc.message}")
    return xml("keepmealive", 0)


# Session end and the client's extras -------------------------------------------------------------


@router.get("/account.php", response_class=Response, responses=XML)
@router.post("/account.php", response_class=Response, responses=XML)
async def logout(request: Request, farm: FarmDep, now: NowDep) -> Response:
    if request.query_params.get("mode") != "logout":
        return xml("logout", UNKNOWN_ERROR, "mode: only 'logout' is served here")
    token = request.cookies.get(COOKIE)
    await farm.writer.run(lambda session: _logout(session, token, now))
    response = xml("logout", 0)
    response.delete_cookie(COOKIE, path="/sheepit")
    return response


def _logout(session: Session, token: str | None, now: datetime) -> None:
    found = live_client(session, token, now)
    if found is not None:
        workers.sign_off(session, found.worker, now)
    client = store.find_session(session, token)
    if client is not None:
        client.ended = True


@router.get("/ajax.php", response_class=PlainTextResponse, responses=_AJAX)
async def ajax(request: Request, farm: FarmDep, now: NowDep) -> Response:
    action = request.query_params.get("action")
    token = request.cookies.get(COOKIE)
    with farm.db.read() as session:
        client = store.find_session(session, token)
        if client is None:
            return PlainTextResponse("session is dead", status_code=403)
        if action == "credits_earned_on_session":
            return PlainTextResponse(str(client.frames_rendered))
        if action == "webclient_get_last_render_frame_ui":
            job_id = client.last_job_id
            path = farm.last_rendered.file(job_id, "last-rendered.jpg") if job_id else None
            if path is None or session.get(Job, job_id) is None:
                return PlainTextResponse("no frame rendered yet", status_code=404)
            return FileResponse(path, media_type="image/jpeg")
    return PlainTextResponse(f"action: unknown action {action!r}", status_code=404)
