"""``POST /farm`` and ``POST /potential`` over the core.

A node posts a list of requests (``identity`` first, always) and gets a list of
commandments. A node is a core worker known by its unique name (``farm_nodes`` says who may
talk). As in the original RFAM server, a job's file is ``share::path`` and goes only to
nodes that list the share in their ``paths``; a job ``requires`` only its special features
(its worker tag), which a node must ``provide``; plain jobs go to any node. A task's
``uuid`` is the core task's id. The whole list runs in one transaction: a bad request
anywhere changes nothing and is answered ``Error{code, message}``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from manager.core import health, tasks, worker_session, workers
from manager.core.bounds import INT32_MAX, Frame, Name
from manager.core.errors import BadInput, Conflict, NotFound, Unauthorized
from manager.core.farm import Farm
from manager.core.setting_paths import share_path
from manager.core.statuses import WorkerStatus
from manager.db.models import Job, Task, Worker
from manager.db.queries import farm_nodes as farm_node_queries
from manager.protocols import common, farm_nodes
from manager.protocols.farm_answers import Commandments, Potential, Registered
from manager.protocols.farm_nodes import NODE_PREFIX, PROTOCOL, REGISTER_PREFIX
from manager.web.deps import FarmDep, NowDep, client_address, require_access
from manager.web.errors import describe_validation_errors
from manager.web.json_body import read_json
from manager.web.openapi import answers
from worker_mode.safe_paths import UnsafePath

router = APIRouter(tags=["farm-protocol"])

#: What a node renders: one frame, or a ``[min, max]`` video. A node naming some of these in
#: ``provides`` gets only those (a cluster of managers says what its workers run).
FARM_TASK_TYPES = ("blender-frame", "blender-video")


@dataclass
class HeartbeatPolicy:
    """How often nodes talk to the manager: the heartbeat grows with the number of live nodes
    so that all of them together send at most ``max_heartbeats_per_second``."""

    max_heartbeats_per_second: float = 20.0
    #: The heartbeat of a small farm, in seconds.
    min_heartbeat: float = 2.0
    #: Jitter as a fraction of the heartbeat; only ever added, so the rate cap holds.
    arrhythmia_fraction: float = 0.25
    #: A node multiplies its heartbeat by this after each error, up to ``hibernation``.
    error_scale: float = 2.0
    #: A node silent this many heartbeats (plus arrhythmia) is gone: the health check puts it
    #: in error and requeues its tasks.
    dead_after_heartbeats: int = 3
    #: Most tasks one ``task`` request is given.
    max_tasks_per_request: int = 32

    def heartbeat(self, live_nodes: int) -> float:
        return max(self.min_heartbeat, live_nodes / self.max_heartbeats_per_second)

    def info(self, live_nodes: int) -> dict[str, Any]:
        beat = self.heartbeat(live_nodes)
        return {
            "id": "info",
            "heartbeat": beat,
            "arrhythmia": beat * self.arrhythmia_fraction,
            "error_scale": self.error_scale,
            "hibernation": max(60.0, 10 * beat),
            # Short enough that nodes slow down soon after many more join.
            "memory": max(30.0, 10 * beat),
        }

    def dead_after(self, live_nodes: int) -> timedelta:
        beat = self.heartbeat(live_nodes)
        return timedelta(seconds=self.dead_after_heartbeats * beat * (1 + self.arrhythmia_fraction))


# Requests ------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


FrameIn = Frame | Annotated[list[Frame], Field(min_length=2, max_length=2)]


class Identity(_Request):
    id: Literal["identity"]
    name: Name = Field(min_length=1, max_length=200)
    provides: list[Annotated[str, Field(max_length=100)]] = Field(max_length=100)
    #: None when left out: the RFAM node puts its version on the first request of the list,
    #: which is a resent ``done`` after a failed heartbeat, so the stored one stays.
    version: str | None = Field(None, max_length=200)


class Info(_Request):
    id: Literal["info"]


class TaskRequest(_Request):
    id: Literal["task"]
    paths: list[Annotated[str, Field(max_length=200)]] = Field(max_length=100)
    provides: list[Annotated[str, Field(max_length=100)]] = Field(max_length=100)
    count: int = Field(ge=1, le=INT32_MAX)


class Report(_Request):
    id: Literal["report"]
    uuid: str = Field(max_length=36)
    frame: FrameIn
    done: int = Field(ge=0, le=INT32_MAX)
    total: int = Field(ge=1, le=INT32_MAX)


class Done(_Request):
    id: Literal["done"]
    uuid: str = Field(max_length=36)
    frame: FrameIn
    time: float = Field(ge=0)


AnyRequest = Annotated[Identity | Info | TaskRequest | Report | Done, Field(discriminator="id")]
_REQUESTS = TypeAdapter(list[AnyRequest])


def parse_requests(raw: bytes) -> list[Any]:
    data = read_json(raw)
    if not isinstance(data, list) or not data:
        raise BadInput("request body: expected a non-empty JSON list of requests")
    try:
        parsed = _REQUESTS.validate_python(data)
    except ValidationError as exc:
        raise BadInput(describe_validation_errors(list(exc.errors()))) from None
    # The protocol puts identity first, but the RFAM node resends a ``done`` that failed to
    # get through ahead of it: the identity is taken from wherever it is, and goes first.
    identities = [i for i, item in enumerate(parsed) if isinstance(item, Identity)]
    if not identities:
        raise BadInput("0.id: the list needs an 'identity' request")
    if len(identities) > 1:
        raise BadInput(f"{identities[1]}.id: 'identity' comes only once")
    for index, item in enumerate(parsed):
        if isinstance(item, Report) and item.done > item.total:
            raise BadInput(f"{index}.done: {item.done} is more than total ({item.total})")
        frame = getattr(item, "frame", None)
        if isinstance(frame, list) and frame[0] > frame[1]:
            raise BadInput(f"{index}.frame: [min, max] runs backwards")
    parsed.insert(0, parsed.pop(identities[0]))
    return parsed


# Live nodes ------------------------------------------------------------------------------------


class NodeCensus:
    """Counts live nodes, at most once a second: the heartbeat grows with their number."""

    def __init__(self, policy: HeartbeatPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._live = 0
        self._counted_at = -1.0

    def live_nodes(self, farm: Farm) -> int:
        with self._lock:
            if time.monotonic() - self._counted_at < 1.0:
                return self._live
        with farm.db.read() as session:
            live = farm_node_queries.count_live_workers_of_protocol(session, PROTOCOL)
        with self._lock:
            self._live, self._counted_at = live, time.monotonic()
        return live


# The exchange ----------------------------------------------------------------------------------


@dataclass
class _Exchange:
    session: Session
    farm: Farm
    policy: HeartbeatPolicy
    worker: Worker
    now: datetime
    info: dict[str, Any]
    answers: list[dict[str, Any]] = field(default_factory=list)
    #: Done tasks' reports: the frames they left on their share are kept once committed.
    reports: list[tasks.TaskUpdateResult] = field(default_factory=list)


def node_task_types(provides: list[str]) -> list[str]:
    named = [t for t in FARM_TASK_TYPES if t in provides]
    return named or list(FARM_TASK_TYPES)


def _identify(
    session: Session, farm: Farm, body: Identity, secret: str | None, address: str, now: datetime
) -> Worker:
    """The node's core worker, registered or brought back to life as needed."""
    provides = list(dict.fromkeys(body.provides))
    task_types = node_task_types(provides)
    worker = farm_nodes.node(session, farm, body.name, secret)
    is_new = worker is None
    if worker is None:
        worker, _ = common.add_protocol_worker(
            session,
            PROTOCOL,
            body.name,
            platform="",
            task_types=task_types,
            address=address,
            now=now,
        )
    version = body.version if body.version is not None else worker.software
    # A node registered on the register door is still starting: its first exchange wakes it.
    if is_new or not common.is_live(worker) or worker.status == WorkerStatus.STARTING:
        worker_session.bring_online(
            session,
            worker,
            name=body.name,
            task_types=task_types,
            software=version,
            address=address,
            now=now,
        )
    else:
        worker_session.mark_seen(session, worker, now)
    workers.update_reported_facts(
        session,
        worker,
        software=version,
        address=address,
        extra={
            **(worker.extra or {}),
            "protocol": PROTOCOL,
            "version": version,
            "provides": provides,
        },
    )
    return worker


def job_share(job: Job) -> str | None:
    """The share of the job's ``share::path`` file; None for a file in any other form, which
    no node can map."""
    try:
        found = share_path(str(job.settings.get("blendfile", "")))
    except UnsafePath:
        return None
    return found[0] if found is not None else None


def _give_tasks(ex: _Exchange, request: TaskRequest) -> None:
    worker, session = ex.worker, ex.session
    if worker.status != WorkerStatus.AWAKE:
        return  # a paused (asleep) node gets nothing
    features = list(dict.fromkeys(request.provides))
    shares = set(request.paths)
    tags = farm_node_queries.tags_named(session, features)
    workers.update_reported_facts(
        session,
        worker,
        supported_task_types=node_task_types(features),
        tags=tags,
        extra={**(worker.extra or {}), "paths": sorted(shares)},
    )
    session.flush()
    reachable: dict[str, bool] = {}

    def on_a_listed_share(job_id: str) -> bool:
        if job_id not in reachable:
            job = session.get(Job, job_id)
            reachable[job_id] = job is not None and job_share(job) in shares
        return reachable[job_id]

    count = min(request.count, ex.policy.max_tasks_per_request)
    for task_id in worker_session.claim_more(session, worker, ex.now, count, on_a_listed_share):
        task = tasks.get_task(session, task_id)
        job = session.get(Job, task.job_id)
        assert job is not None
        ex.answers.append(
            {
                "id": "task",
                "uuid": task.id,
                "file": common.task_blendfile(task, job),
                "frame": common.task_frame(task),
                "issued": ex.now.timestamp(),
                "requires": special_features(job),
                # The RFAM node reads it on every task: null means Blender, not RenderMan.
                "prmanCommands": None,
            }
        )


def special_features(job: Job) -> list[str]:
    return [job.worker_tag.name] if job.worker_tag else []


def _task_of(session: Session, index: int, uuid: str, frame: int | list[int]) -> Task | None:
    """The task the node names; None when there is none (any more).

    A deleted job takes its tasks with it while nodes render them. Refusing the node's list
    for that would refuse it for good: the RFAM node keeps an unsent ``done`` and sends it
    again, first, with every later list. So a task that is gone is treated as a canceled one.
    """
    try:
        task = tasks.get_task(session, uuid)
    except NotFound:
        return None
    expected = common.task_frame(task)
    if expected is not None and expected != frame:
        raise BadInput(f"{index}.frame: task {uuid} renders {json.dumps(expected)}, not {frame}")
    return task


def _report(ex: _Exchange, index: int, request: Report) -> None:
    task = _task_of(ex.session, index, request.uuid, request.frame)
    if task is None:
        ex.answers.append({"id": "kill", "uuid": request.uuid, "frame": request.frame})
        return
    steps = round(task.steps_total * request.done / request.total)
    try:
        worker_session.report(
            ex.session,
            ex.farm.settings,
            ex.worker,
            task.id,
            now=ex.now,
            activity=f"rendering: {request.done}/{request.total} done",
            steps_completed=steps,
        )
    except Conflict:
        ex.answers.append({"id": "kill", "uuid": request.uuid, "frame": request.frame})


def _done(ex: _Exchange, index: int, request: Done) -> None:
    task = _task_of(ex.session, index, request.uuid, request.frame)
    if task is None:
        return
    try:
        result = worker_session.report(
            ex.session,
            ex.farm.settings,
            ex.worker,
            task.id,
            now=ex.now,
            task_status="completed",
            activity=f"rendered in {request.time:.1f} s by {ex.worker.name}",
        )
    except Conflict:
        return  # canceled or taken over meanwhile: the node's work is simply not needed
    ex.reports.append(result)


#: Every door reads its body itself: bad input is a 400 with ``Error``.
_NODE_ERRORS = answers(400, 401, 403)


@router.post("/farm", response_model=Commandments, responses=_NODE_ERRORS)
async def farm_exchange(request: Request, farm: FarmDep, now: NowDep) -> JSONResponse:
    return await _exchange(request, farm, now, secret=None)


@router.post(NODE_PREFIX + "/{secret}/farm", response_model=Commandments, responses=_NODE_ERRORS)
async def node_exchange(secret: str, request: Request, farm: FarmDep, now: NowDep) -> JSONResponse:
    return await _exchange(request, farm, now, secret=secret)


async def _exchange(
    request: Request, farm: Farm, now: datetime, secret: str | None
) -> JSONResponse:
    parsed = parse_requests(await request.body())
    if secret is not None:
        await farm_nodes.check_secret(farm, parsed[0].name, secret)
    address = client_address(request)
    census: NodeCensus = request.app.state.farm_census
    beat = await run_in_threadpool(_heartbeat, farm, census)

    def work(session: Session) -> _Exchange:
        return _run(session, farm, census.policy, parsed, secret, address, now, beat)

    done = await farm.writer.run(work)
    # Before the answer, so the frames are listed once the node hears its done went through.
    for report in done.reports:
        worker_session.keep_frames_of_report(farm, report)
    return JSONResponse(done.answers)


@router.post(REGISTER_PREFIX + "/{token}/farm", response_model=Registered, responses=_NODE_ERRORS)
async def register_node(token: str, request: Request, farm: FarmDep, now: NowDep) -> JSONResponse:
    """Registers the node of the ``identity`` and gives it its own URL; the rest of the list
    waits for that URL (a node asks again each heartbeat)."""
    farm_nodes.check_registration_token(farm, token)
    identity = parse_requests(await request.body())[0]
    secret, secret_hash = await run_in_threadpool(farm_nodes.new_secret)
    address = client_address(request)
    provides = list(dict.fromkeys(identity.provides))

    def work(session: Session) -> None:
        found = common.protocol_worker(session, PROTOCOL, identity.name)
        if found is None:
            worker, _ = common.add_protocol_worker(
                session,
                PROTOCOL,
                identity.name,
                platform="",
                task_types=node_task_types(provides),
                address=address,
                now=now,
            )
        else:
            worker = found[0]
        farm_nodes.give_secret(session, worker, secret_hash)

    await farm.writer.run(work)
    server = farm_nodes.node_server_url(request, secret)
    return JSONResponse(
        [
            {
                "id": "registered",
                "name": identity.name,
                "server": server,
                "message": f"set this node's server to {server}",
            }
        ]
    )


@dataclass(frozen=True)
class _Heartbeat:
    info: dict[str, Any]
    #: How long a node told this heartbeat may stay silent before the health check calls it
    #: gone.
    silent_after: timedelta


def _heartbeat(farm: Farm, census: NodeCensus) -> _Heartbeat:
    live = census.live_nodes(farm)
    return _Heartbeat(census.policy.info(live), census.policy.dead_after(live))


def _run(
    session: Session,
    farm: Farm,
    policy: HeartbeatPolicy,
    parsed: list[Any],
    secret: str | None,
    address: str,
    now: datetime,
    beat: _Heartbeat,
) -> _Exchange:
    worker = _identify(session, farm, parsed[0], secret, address, now)
    health.allow_silence(worker, beat.silent_after.total_seconds())
    worker_session.follow_requested_state(session, worker, now)
    ex = _Exchange(session, farm, policy, worker, now, beat.info)
    for index, item in enumerate(parsed[1:], start=1):
        if isinstance(item, Info):
            ex.answers.append(dict(ex.info))
        elif isinstance(item, TaskRequest):
            _give_tasks(ex, item)
        elif isinstance(item, Report):
            _report(ex, index, item)
        elif isinstance(item, Done):
            _done(ex, index, item)
    return ex


# Clusters ----------------------------------------------------------------------------------------

_CLUSTER_NAME = TypeAdapter(Annotated[Name, Field(strict=True, min_length=1, max_length=200)])


@router.post("/potential", response_model=Potential, responses=_NODE_ERRORS)
async def potential(request: Request, farm: FarmDep) -> JSONResponse:
    """Open on an open manager; on one with tokens, for holders of the access token."""
    if farm.settings.access_token or farm.settings.registration_token:
        if not farm.settings.access_token:
            raise Unauthorized(
                f"clusters ask on their node URL: {NODE_PREFIX}/<secret>/potential", "Bearer"
            )
        await require_access(request)
    name = _cluster_name(await request.body())
    return JSONResponse(await run_in_threadpool(_report_new_jobs, farm, name))


@router.post(NODE_PREFIX + "/{secret}/potential", response_model=Potential, responses=_NODE_ERRORS)
async def node_potential(secret: str, request: Request, farm: FarmDep) -> JSONResponse:
    """For a cluster registered as a node under its cluster name."""
    name = _cluster_name(await request.body())
    await farm_nodes.check_secret(farm, name, secret)
    return JSONResponse(await run_in_threadpool(_report_new_jobs, farm, name))


def _cluster_name(raw: bytes) -> str:
    try:
        name = _CLUSTER_NAME.validate_python(read_json(raw, "cluster name"))
    except ValidationError as exc:
        message = describe_validation_errors(list(exc.errors()))
        raise BadInput(f"cluster name: {message.split(': ', 1)[-1]}") from None
    return name.strip()


def _report_new_jobs(farm: Farm, cluster: str) -> list[dict[str, Any]]:
    if not cluster:
        raise BadInput("cluster name: must not be blank")
    with farm.db.write() as session:
        jobs = farm_node_queries.unfinished_jobs_not_reported_to(session, cluster)
        out = []
        for job in jobs:
            task_types = common.task_types_of_job(session, job.id)
            out.append(
                {
                    "uuid": job.id,
                    "name": job.name,
                    "created": job.created.timestamp(),
                    "file": str(job.settings.get("blendfile", "")),
                    "priority": job.priority,
                    "video": "blender-video" in task_types,
                    "requires": special_features(job),
                    "frames": common.job_frame_count(job),
                }
            )
        farm_node_queries.note_reported_to(session, cluster, [job.id for job in jobs])
        return out


def install(app: FastAPI, policy: HeartbeatPolicy | None = None) -> None:
    app.state.farm_census = NodeCensus(policy or HeartbeatPolicy())
    app.include_router(router)
