"""HTTP routes of the dashboard: the page, its static files, the sign-in cookie, read-only
queries under ``/api/farmhand`` and the event stream. Nothing here changes the farm: the
page's actions call the ``/api/v3`` endpoints."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from manager.core import jobs
from manager.core.bounds import INT32_MAX
from manager.core.credentials import token_matches
from manager.core.errors import Unauthorized
from manager.core.events import EventBus
from manager.core.farm import Farm
from manager.core.statuses import JobStatus, TaskStatus
from manager.dashboard import answers, queries
from manager.dashboard.stream import EventStreamResponse, EventStreams, drain, event_stream
from manager.web.deps import ACCESS_COOKIE, AccessDep, FarmDep, NowDep, require_access
from manager.web.errors import error_response
from manager.web.openapi import answers as errors
from manager.web.openapi import media
from manager.web.read_lane import answer_read

STATIC_DIR = Path(__file__).resolve().parent / "static"
SUMMARY_MAX_AGE_SECONDS = 10.0
SUMMARY_MIN_AGE_SECONDS = 3.0
COOKIE_MAX_AGE = 30 * 24 * 3600

api = APIRouter(prefix="/api/farmhand", tags=["dashboard"], dependencies=[AccessDep])
public = APIRouter(tags=["dashboard"])

OffsetQ = Annotated[int, Query(ge=0, le=INT32_MAX)]
LimitQ = Annotated[int, Query(ge=1, le=queries.MAX_PAGE)]


class SignIn(BaseModel):
    model_config = ConfigDict(strict=True)
    token: str = Field(max_length=1000)


# The page and the sign-in cookie ----------------------------------------------------------------


@public.get("/", include_in_schema=False)
def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@public.get("/api/farmhand/session", response_model=answers.SessionInfo)
async def session_info(request: Request, farm: FarmDep) -> JSONResponse:
    """Whether this manager wants a token and whether the caller has presented it."""
    try:
        await require_access(request)
        signed_in = True
    except Unauthorized:
        signed_in = False
    return JSONResponse(
        {"token_required": bool(farm.settings.access_token), "signed_in": signed_in}
    )


@public.post("/api/farmhand/session", status_code=204, responses=errors(401))
def sign_in(body: SignIn, request: Request, farm: FarmDep) -> Response:
    if not farm.settings.access_token:
        return Response(status_code=204)
    if not token_matches(farm.settings.access_token, body.token):
        # Not the API's 401: its Basic challenge would make the browser pop up a password box.
        return error_response(401, "token: this is not the manager's access token")
    response = Response(status_code=204)
    response.set_cookie(
        ACCESS_COOKIE,
        body.token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@public.delete("/api/farmhand/session", status_code=204)
def sign_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(ACCESS_COOKIE, httponly=True, samesite="strict")
    return response


# Read-only queries --------------------------------------------------------------------------------


@api.get("/jobs", response_model=answers.Jobs)
async def list_jobs(
    request: Request,
    farm: FarmDep,
    now: NowDep,
    offset: OffsetQ = 0,
    limit: LimitQ = 50,
    order_by: str = "-created",
    status: str | None = None,
    ids: str | None = None,
) -> JSONResponse:
    """A page of jobs with progress; with ``ids``, just those jobs (for live row updates)."""
    page = queries.Page(offset, limit)
    statuses = queries.parse_statuses(status, JobStatus)
    wanted = queries.parse_ids(ids)

    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            if ids is not None:
                out = queries.jobs_by_id(session, wanted, now)
            else:
                out = queries.list_jobs(session, page, order_by, statuses, now)
        out["now"] = now.isoformat()
        return out

    return await answer_read(request, read)


@api.get("/jobs/{job_id}", response_model=answers.JobDetail, responses=errors(404))
async def job_detail(request: Request, job_id: str, farm: FarmDep, now: NowDep) -> JSONResponse:
    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            job = jobs.get_job(session, job_id)
            out: dict[str, Any] = queries.jobs_by_id(session, [job.id], now)["jobs"][0]
        out["now"] = now.isoformat()
        return out

    return await answer_read(request, read)


@api.get("/jobs/{job_id}/tasks", response_model=answers.Tasks, responses=errors(404))
async def job_tasks(
    request: Request,
    job_id: str,
    farm: FarmDep,
    offset: OffsetQ = 0,
    limit: LimitQ = 200,
    status: str | None = None,
    ids: str | None = None,
) -> JSONResponse:
    page = queries.Page(offset, limit)
    statuses = queries.parse_statuses(status, TaskStatus)
    wanted = queries.parse_ids(ids)

    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            jobs.get_job(session, job_id)
            return queries.list_tasks(session, job_id, page, statuses, wanted)

    return await answer_read(request, read)


@api.get("/workers", response_model=answers.Workers)
async def list_workers(request: Request, farm: FarmDep, ids: str | None = None) -> JSONResponse:
    wanted = queries.parse_ids(ids)

    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            return queries.list_workers(session, wanted)

    return await answer_read(request, read)


@api.get("/blocklist", response_model=answers.Blocklist)
async def blocklist(request: Request, farm: FarmDep) -> JSONResponse:
    def read() -> dict[str, Any]:
        with farm.db.read() as session:
            return queries.list_blocklist(session)

    return await answer_read(request, read)


class _SummaryCache:
    """The summary sums over queued tasks; pages that all refresh after one change share one
    computation. It is computed again after a farm change (at most once a
    ``SUMMARY_MIN_AGE_SECONDS``: a busy farm changes with every claim), and at least every so
    often (throughput is a moving window)."""

    def __init__(self, bus: EventBus) -> None:
        self._lock = threading.Lock()
        # Held for the app's lifetime: a dropped ExitStack would end the subscription.
        self._subscription = ExitStack()
        self._changes = self._subscription.enter_context(bus.subscribe())
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._took = 0.0
        self._changed = False

    def get(self, farm: Farm, now: datetime) -> dict[str, Any]:
        with self._lock:
            age = time.monotonic() - self._at
            self._changed = bool(drain(self._changes)) or self._changed
            # It sums over the queued and the recently completed tasks: with a million of them
            # it is kept longer, for as long as ``COST_FACTOR`` times what it took.
            min_age = max(SUMMARY_MIN_AGE_SECONDS, self._took * queries.COST_FACTOR)
            max_age = max(SUMMARY_MAX_AGE_SECONDS, min_age)
            fresh_enough = self._value is not None and age <= max_age
            if not fresh_enough or (self._changed and age >= min_age):
                started = time.perf_counter()
                with farm.db.read() as session:
                    self._value = queries.farm_summary(session, now)
                self._took = time.perf_counter() - started
                self._at, self._changed, age = time.monotonic(), False, 0.0
                min_age = max(SUMMARY_MIN_AGE_SECONDS, self._took * queries.COST_FACTOR)
            assert self._value is not None
            if not self._changed:
                return self._value
            # The last change of a burst may be the last change for a while: the page is
            # told when to ask again instead of showing this summary until the next one.
            return {**self._value, "refresh_in": round(min_age - age, 3)}


@api.get("/summary", response_model=answers.FarmSummary)
async def summary(request: Request, farm: FarmDep, now: NowDep) -> JSONResponse:
    cache: _SummaryCache = request.app.state.dashboard_summary
    return await answer_read(request, lambda: cache.get(farm, now))


@api.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: media("text/event-stream", "Server-sent events", {"type": "string"})},
)
async def events(request: Request, client: str | None = None) -> StreamingResponse:
    streams: EventStreams = request.app.state.dashboard_streams
    return EventStreamResponse(
        event_stream(request, streams, client),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def install(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its queries under ``/api/farmhand``."""
    farm: Farm = app.state.farm
    app.state.dashboard_streams = EventStreams(farm.events)
    app.state.dashboard_summary = _SummaryCache(farm.events)
    app.include_router(public)
    app.include_router(api)
    app.mount("/dashboard", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
