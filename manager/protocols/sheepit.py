"""The SheepIt-style XML protocol (as the SheepIt client speaks it) under
``/sheepit``: a client's server URL is ``http://manager:8080/sheepit``.

A login opens a session (a cookie) bound to a core worker that renders ``blender-frame``
tasks (the ``single-frame-render`` job type); a SheepIt "job" is one core task, its id the
task's id. Answers are ``<element status="N"/>`` with the protocol's codes; errors also carry a
``message`` attribute that says what was wrong. Codes outside the protocol's lists are 999.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from manager.core import tasks, worker_session
from manager.core.bounds import (
    INT32_MAX,
    INT64_MAX,
    BadNumber,
    control_character,
    parse_whole_number,
)
from manager.core.errors import Conflict, NotFound
from manager.core.farm import Farm
from manager.core.statuses import JobStatus
from manager.db.models import Job, Worker
from manager.db.protocol_models import SheepitUser
from manager.db.queries import farm_nodes as node_queries
from manager.db.queries import jobs as job_queries
from manager.db.queries import sheepit as sheepit_queries
from manager.protocols import common, sheepit_admin, sheepit_work
from manager.protocols import sheepit_store as store
from manager.protocols.forms import Form
from manager.protocols.sheepit_session import (
    COOKIE,
    UNKNOWN_ERROR,
    LiveClient,
    client_task,
    job_number,
    live_client,
    read_params,
    xml,
    xml_tree,
)
from manager.web.deps import FarmDep, NowDep, client_address
from manager.web.errors import add_error_form
from manager.web.openapi import Responses, answered_in, media

log = logging.getLogger(__name__)

PROTOCOL = "sheepit"
TASK_TYPE = "blender-frame"
#: Clients older than this are answered 101.
MINIMUM_CLIENT_VERSION = (3, 0)
OPERATING_SYSTEMS = ("windows", "mac", "linux")
ARCHITECTURES = ("32bit", "64bit")
LOGIN_FIELDS = (
    "login",
    "password",
    "os",
    "bits",
    "cpu_family",
    "cpu_model",
    "cpu_model_name",
    "cpu_cores",
    "ram",
)
_VERSION = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,7}")
COMMANDLINE = ".e --factory-startup --disable-autoexec -b .c -o .o -f .f -x 1"
RENDER_SCRIPT = """import bpy
# Frames are checked as images: a movie format renders as PNG instead. The client's own
# output path (-o) stays, except for a movie, whose path named a video file.
settings = bpy.context.scene.render.image_settings
if settings.file_format not in ('BMP', 'PNG', 'JPEG', 'TARGA', 'TARGA_RAW'):
    if hasattr(settings, 'media_type'):  # Blender 5: a video's formats are another list
        settings.media_type = 'IMAGE'
    settings.file_format = 'PNG'
    bpy.context.scene.render.filepath = ''


def sheepit_set_compute_device(device_type, device_family, device_id):
    # Clients call this after the script: 'NONE', 'CPU', 'CPU' for the processor, else
    # e.g. 'CUDA', 'GPU' and the device's id.
    scene = bpy.context.scene
    if hasattr(scene, 'cycles'):
        scene.cycles.device = 'GPU' if device_family == 'GPU' else 'CPU'
    cycles = bpy.context.preferences.addons.get('cycles')
    if cycles is None or device_type == 'NONE':
        return
    preferences = cycles.preferences
    try:
        preferences.compute_device_type = device_type
        preferences.get_devices()
    except (TypeError, AttributeError):
        return
    for device in preferences.devices:
        device.use = device.id == device_id or device_id in ('', 'GPU')
"""

router = APIRouter(prefix="/sheepit", tags=["sheepit"])
#: SheepIt clients read XML, errors included (an element with a status code).
XML = answered_in("text/xml", "The answer's XML element", errors="The error's XML element")
_ARCHIVE: Responses = {
    200: media("application/zip", "The renderer's or the job's archive"),
    404: media("text/plain", "No such archive for this session", {"type": "string"}),
}


@dataclass
class SheepitState:
    archives: store.ArchiveStore
    #: Claims that may run at once; past this the scheduler is "too busy" (207).
    scheduler_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(8)
    )


def _state(request: Request) -> SheepitState:
    state: SheepitState = request.app.state.sheepit
    return state


# Session creation ------------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...] | None:
    if not _VERSION.fullmatch(text):
        return None
    return tuple(int(part) for part in text.split("."))


@router.get("/", response_class=Response, responses=XML)
@router.post("/", response_class=Response, responses=XML)
@router.get("/server/config.php", response_class=Response, responses=XML)
@router.post("/server/config.php", response_class=Response, responses=XML)
async def create_session(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "config")
    if isinstance(form, Response):
        return form
    version = form.get("version")
    if version is None:
        return xml("config", 100, "version: no client version given")
    missing = [name for name in LOGIN_FIELDS if form.get(name) is None]
    if missing:
        return xml("config", 104, f"missing parameter(s): {', '.join(missing)}")
    parsed = _version(version)
    if parsed is None or parsed < MINIMUM_CLIENT_VERSION:
        minimum = ".".join(map(str, MINIMUM_CLIENT_VERSION))
        return xml("config", 101, f"version: client {version!r} is older than {minimum}")
    problem = _check_machine(form)
    if problem:
        return xml("config", 104, problem)
    address = client_address(request)
    login, password = form.fields["login"], form.fields["password"]
    # The first check of a password is a slow hash: not on the batch writer, where the
    # check of a login (a rare request) then finds it remembered.
    if not await run_in_threadpool(_password_is_right, farm, login, password):
        return xml("config", 102, _WRONG_LOGIN)

    previous = request.cookies.get(COOKIE)

    def work(session: Session) -> _LoggedIn | Response:
        return _login(session, farm, form, previous, address, now)

    logged_in = await farm.writer.run(work)
    if isinstance(logged_in, Response):
        return logged_in
    answer = _config_answer(max_period=int(farm.settings.worker_timeout / 2))
    answer.set("publickey", logged_in.key)
    response = xml_tree(answer)
    response.set_cookie(COOKIE, logged_in.token, httponly=True, samesite="lax", path="/sheepit")
    return response


def _check_machine(form: Form) -> str:
    if form.fields["os"] not in OPERATING_SYSTEMS:
        return f"os: {form.fields['os']!r} is not one of {', '.join(OPERATING_SYSTEMS)}"
    if form.fields["bits"] not in ARCHITECTURES:
        return f"bits: {form.fields['bits']!r} is not one of {', '.join(ARCHITECTURES)}"
    for name, maximum in (("cpu_cores", INT32_MAX), ("ram", INT64_MAX), ("ram_max", INT64_MAX)):
        value = form.get(name)
        if value is not None:
            try:
                parse_whole_number(value, name, 0, maximum)
            except BadNumber as exc:
                return exc.message
    # Parts of the worker's name, and shown in listings and logs.
    for name in ("login", "hostname", "cpu_model_name"):
        bad = control_character(form.get(name) or "")
        if bad is not None:
            return f"{name}: control characters ({bad}) are not allowed"
    return ""


_WRONG_LOGIN = "authentication failure: unknown login or wrong password"


def _password_is_right(farm: Farm, login: str, password: str) -> bool:
    """Whether ``password`` is the login's password or one of the keys its logins answered
    (the key first: a sha256, where a wrong password costs the slow hash)."""
    with farm.db.read() as session:
        user = session.get(SheepitUser, login)
        if user is None:
            return False
        return store.find_key(session, login, password) is not None or store.check_password(
            farm.secrets, user, password
        )


@dataclass(frozen=True)
class _LoggedIn:
    #: The session's cookie.
    token: str
    #: What the client sends in place of the password from now on (``publickey``).
    key: str


def _login(
    session: Session, farm: Farm, form: Form, previous: str | None, address: str, now: datetime
) -> _LoggedIn | Response:
    login, password = form.fields["login"], form.fields["password"]
    user = session.get(SheepitUser, login)
    if user is None:
        return xml("config", 102, _WRONG_LOGIN)
    key = store.find_key(session, login, password)
    if key is None and not store.check_password(farm.secrets, user, password):
        return xml("config", 102, _WRONG_LOGIN)
    if user.expires_at is not None and user.expires_at <= now:
        message = f"the account of {login!r} expired; ask the farm's admin to renew it"
        return xml("config", 103, message)
    machine = form.get("hostname") or form.fields["cpu_model_name"]
    worker = _client_worker(session, login, machine, previous, form.fields["os"], address, now)
    worker_session.bring_online(
        session,
        worker,
        name=worker.name,
        task_types=[TASK_TYPE],
        software=f"SheepIt client {form.fields['version']}",
        address=address,
        now=now,
    )
    worker.platform = form.fields["os"]
    worker.extra = {
        "protocol": PROTOCOL,
        "user": login,
        "os": form.fields["os"],
        "bits": form.fields["bits"],
        "cpu": form.fields["cpu_model_name"],
        "cpu_cores": int(form.fields["cpu_cores"]),
        "ram": int(form.fields["ram"]),
        "extras": form.get("extras") or "",
    }
    token = store.open_session(
        session, login, worker.id, form.fields["os"], form.fields["bits"], now
    )
    # A login with a key answers that key again, as SheepIt servers do: the client keeps it.
    if key is not None:
        key.last_used = now
        return _LoggedIn(token, password)
    return _LoggedIn(token, store.issue_key(session, login, now))


#: Clients of one login on machines alike (the hostname is optional) before logins fail.
MAX_CLIENTS_PER_MACHINE = 1000


def _client_worker(
    session: Session,
    login: str,
    machine: str,
    previous: str | None,
    os_name: str,
    address: str,
    now: datetime,
) -> Worker:
    """The core worker of this client: its own again when it logs in anew with its cookie,
    else one of the login's on this kind of machine that no live client holds, else a new
    one. Several clients of one login are separate workers, never one that they share."""
    before = store.find_session(session, previous)
    if before is not None and before.login == login:
        worker = session.get(Worker, before.worker_id)
        if worker is not None:
            return worker
    base = f"{login}/{machine}"[:190]
    for number in range(1, MAX_CLIENTS_PER_MACHINE + 1):
        key = base if number == 1 else f"{base} #{number}"
        found = common.protocol_worker(session, PROTOCOL, key)
        if found is None:
            worker, _ = common.add_protocol_worker(
                session,
                PROTOCOL,
                key,
                platform=os_name,
                task_types=[TASK_TYPE],
                address=address,
                now=now,
            )
            return worker
        if not _held_by_a_live_client(session, found[0]):
            return found[0]
    raise Conflict(f"{MAX_CLIENTS_PER_MACHINE} clients of {login!r} on {machine!r} are live")


def _held_by_a_live_client(session: Session, worker: Worker) -> bool:
    if not common.is_live(worker):
        return False
    return sheepit_queries.worker_has_open_session(session, worker.id)


def _config_answer(max_period: int) -> ElementTree.Element:
    root = ElementTree.Element("config", status="0")
    for kind, path in (
        ("validate-job", "/server/send_frame.php"),
        ("request-job", "/server/request_job.php"),
        ("download-archive", "/server/download.php"),
        ("error", "/server/error.php"),
        ("keepmealive", "/server/keepmealive.php"),
        ("logout", "/account.php?mode=logout&worker=1"),
        ("last-render-frame", "/ajax.php?action=webclient_get_last_render_frame_ui&type=raw"),
        ("credits-earned", "/ajax.php?action=credits_earned_on_session"),
    ):
        element = ElementTree.SubElement(root, "request", type=kind, path=path)
        if kind == "keepmealive":
            element.set("max-period", str(max(1, max_period)))
    return root


# Sessions ------------------------------------------------------------------------------------


# Job request -----------------------------------------------------------------------------------


@router.get("/server/request_job.php", response_class=Response, responses=XML)
@router.post("/server/request_job.php", response_class=Response, responses=XML)
async def request_job(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "jobrequest")
    if isinstance(form, Response):
        return form
    method = form.get("computemethod") or "0"
    if method not in ("0", "1", "2"):
        return xml("jobrequest", UNKNOWN_ERROR, f"computemethod: {method!r} is not 0, 1 or 2")
    for name, maximum in (("cpu_cores", INT32_MAX), ("gpu_ram", INT64_MAX)):
        value = form.get(name)
        if value is not None:
            try:
                parse_whole_number(value, name, 0, maximum)
            except BadNumber as exc:
                return xml("jobrequest", UNKNOWN_ERROR, exc.message)
    state = _state(request)
    token = request.cookies.get(COOKIE)
    if not state.scheduler_slots.acquire(blocking=False):
        return xml("jobrequest", 207, "the scheduler is busy; the session stays alive")

    def work(session: Session) -> Response | _Given:
        found = live_client(session, token, now)
        if found is None:
            return xml("jobrequest", 202, "session is dead; request the configuration again")
        return _hand_out(state, found, form, method, now)

    try:
        given = await farm.writer.run(work)
    finally:
        state.scheduler_slots.release()
    if isinstance(given, Response):
        return given
    validation = f"{str(request.base_url).rstrip('/')}{router.prefix}/server/send_frame.php"
    return await run_in_threadpool(_job_answer, farm, state, given, validation)


@dataclass(frozen=True)
class _Given:
    """A task handed to a client, with what its answer needs (built off the batch writer:
    the job's archive may have to be zipped first)."""

    task_id: str
    job_number: int
    frame: common.Frame | None
    job: Job
    remaining: int
    renderer: Path
    use_gpu: bool
    #: The ``<stats>`` clients show after each request: "credits" are frames validated.
    stats: dict[str, int]


def _hand_out(
    state: SheepitState, found: LiveClient, form: Form, method: str, now: datetime
) -> Response | _Given:
    session, client, worker = found.session, found.client, found.worker
    if client.disabled:
        return xml("jobrequest", 203, "session disabled after broken (black) frames")
    user = session.get(SheepitUser, client.login)
    if user is None or not user.can_render:
        return xml("jobrequest", 201, f"user {client.login!r} has no rendering right")
    if store.in_maintenance(session):
        return xml("jobrequest", 206, "the farm is in maintenance; the session stays alive")
    renderer = state.archives.renderer(client.os, client.bits)
    if renderer is None:
        return xml("jobrequest", 205, f"no renderer for {client.os} {client.bits}")
    worker.extra = {
        **worker.extra,
        "compute_method": int(method),
        "gpu_model": form.get("gpu_model") or "",
        "gpu_ram": int(form.get("gpu_ram") or 0),
    }
    given = worker_session.poll_on_behalf(session, worker, now)
    if given.not_awake:
        return xml("jobrequest", 200, f"worker is {worker.status}; no job")
    if given.task_id is None:
        return xml("jobrequest", 200, "no job available")
    task = tasks.get_task(session, given.task_id)
    job = session.get(Job, task.job_id)
    assert job is not None
    remaining = job.tasks_queued + job.tasks_soft_failed
    return _Given(
        task_id=task.id,
        job_number=job_number(job.id),
        frame=common.task_frame(task),
        job=job,
        remaining=remaining,
        renderer=renderer,
        use_gpu=method == "2" or (method == "0" and bool(form.get("gpu_model"))),
        stats=_stats(session, client.frames_rendered, user.frames_rendered, remaining),
    )


def _stats(session: Session, by_session: int, by_login: int, remaining: int) -> dict[str, int]:
    """Every attribute of SheepIt's ``<stats>``: clients read them without checking, some
    as required integers. Projects are the farm's queued and active jobs."""
    jobs = job_queries.job_status_counts(session)
    unfinished = jobs.get(JobStatus.QUEUED, 0) + jobs.get(JobStatus.ACTIVE, 0)
    return {
        "credits_session": by_session,
        "credits_total": by_login,
        "frame_remaining": remaining,
        "waiting_project": unfinished,
        "renderable_project": unfinished,
        "connected_machine": node_queries.count_live_workers_of_protocol(session, PROTOCOL),
    }


def _job_answer(farm: Farm, state: SheepitState, given: _Given, validation: str) -> Response:
    archive = state.archives.job_archive(farm, given.job)
    frame = given.frame
    root = ElementTree.Element("jobrequest", status="0")
    ElementTree.SubElement(root, "frames", remaining=str(given.remaining))
    ElementTree.SubElement(root, "stats", {k: str(v) for k, v in given.stats.items()})
    element = ElementTree.SubElement(
        root,
        "job",
        id=str(given.job_number),
        use_gpu="1" if given.use_gpu else "0",
        archive_md5=archive.md5,
        path=archive.blend_name,
        frame=f"{frame:04d}" if isinstance(frame, int) else "",
        synchronous_upload="1",
        name=given.job.name,
        # The archive is a plain zip: no password to open it.
        password="",
        # Quoted, as servers send it; clients unquote it and add frame, rendertime, file.
        validation_url=quote(f"{validation}?job={given.job_number}", safe=""),
    )
    ElementTree.SubElement(
        element,
        "renderer",
        md5=state.archives.md5(given.renderer),
        commandline=COMMANDLINE,
        update_method="remainingtime",
    )
    ElementTree.SubElement(element, "script").text = RENDER_SCRIPT
    return xml_tree(root)


# Downloads -------------------------------------------------------------------------------------


@router.get("/server/download.php", response_class=FileResponse, responses=_ARCHIVE)
@router.post("/server/download.php", response_class=FileResponse, responses=_ARCHIVE)
async def download_archive(request: Request, farm: FarmDep, now: NowDep) -> Response:
    form = await read_params(request, "download")
    if isinstance(form, Response):
        return PlainTextResponse("malformed request", status_code=404)
    state, token = _state(request), request.cookies.get(COOKIE)
    kind, number = form.get("type"), form.get("job")
    if kind not in ("job", "binary") or number is None:
        return _no_archive()

    def work(session: Session) -> tuple[Job, str, str] | None:
        found = live_client(session, token, now)
        if found is None:
            return None
        try:
            task_id = client_task(session, found.worker, number, None)
            task = worker_session.owned_task(session, found.worker, task_id, running=False)
        except (NotFound, Conflict):
            return None
        job = session.get(Job, task.job_id)
        assert job is not None
        return job, found.client.os, found.client.bits

    owned = await farm.writer.run(work)
    if owned is None:
        return _no_archive()
    job, os_name, bits = owned
    if kind == "binary":
        path = state.archives.renderer(os_name, bits)
    else:
        path = (await run_in_threadpool(state.archives.job_archive, farm, job)).path
    if path is None:
        return _no_archive()
    return FileResponse(path, media_type="application/zip", filename=path.name)


def _no_archive() -> Response:
    return PlainTextResponse("no such archive for this session", status_code=404)


def install(app: FastAPI) -> None:
    farm: Farm = app.state.farm
    app.state.sheepit = SheepitState(store.ArchiveStore(farm.settings.data_dir / "sheepit"))
    app.include_router(router)
    app.include_router(sheepit_work.router)
    add_error_form(app, router.prefix + "/", _error_in_xml)
    sheepit_admin.install(app)


#: The element each call answers with, for the errors no call turned into a code itself.
_ELEMENTS = {
    "/server/config.php": "config",
    "/server/request_job.php": "jobrequest",
    "/server/send_frame.php": "jobvalidate",
    "/server/error.php": "error",
    "/server/keepmealive.php": "keepmealive",
    "/account.php": "logout",
}


def _error_in_xml(request: Request, status: int, message: str) -> Response:
    path = request.url.path.removeprefix(router.prefix)
    response = xml(_ELEMENTS.get(path, "config"), UNKNOWN_ERROR, message)
    response.status_code = status
    return response
