"""A worker's conversation with the manager, the same whichever protocol it arrives on.

Adapters identify the worker (``authenticate`` for the HTTP Basic credentials of the v3 and
2022 APIs; a node name, a session cookie or a worker number looked up in their own tables),
call these functions inside a transaction of the farm's batch writer, and format the answer.
Who is seen, what a worker is told to do, with which task, which task is its to work on and
what its reports change is decided here only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import scheduler, share_outputs, tasks, variables, workers
from manager.core.bounds import control_character
from manager.core.credentials import SecretVerifier
from manager.core.errors import (
    WORKER_CHALLENGE,
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
)
from manager.core.statuses import TaskStatus, WorkerStatus
from manager.core.worker_facts import AnyWorker, WorkerFacts
from manager.db.models import Worker
from manager.db.queries import worker_reads
from manager.db.queries.tasks import TaskFacts, assigned_task, task_facts
from manager.db.queries.workers import mark_worker_seen, worker_facts

if TYPE_CHECKING:
    from manager.core.farm import Farm

Answer = TypeVar("Answer")

log = logging.getLogger(__name__)

#: Writing last_seen on every request would cost a row update per poll; this is precise
#: enough for timeouts measured in tens of seconds.
LAST_SEEN_RESOLUTION = timedelta(seconds=2)


# Who is talking -------------------------------------------------------------------------------


async def register(
    farm: Farm,
    answer: Callable[[Worker], Answer],
    *,
    name: str,
    secret: str,
    platform: str,
    supported_task_types: list[str],
    address: str,
    now: datetime,
) -> Answer:
    """A new worker with its own secret, answered in the door's form (``answer``) inside the
    transaction that stores it. The secret is hashed off the event loop: the hash is slow on
    purpose."""
    secret_hash = await asyncio.to_thread(workers.hash_new_secret, secret)

    def work(session: Session) -> Answer:
        worker = workers.register_worker(
            session,
            name=name,
            secret_hash=secret_hash,
            platform=platform,
            supported_task_types=supported_task_types,
            address=address,
            now=now,
        )
        session.flush()
        return answer(worker)

    return await farm.writer.run(work)


def authenticate(
    session: Session, verifier: SecretVerifier, worker_id: str, secret: str
) -> WorkerFacts:
    facts = worker_facts(session, worker_id)
    if facts is None or not verifier.verify(worker_id, secret, facts.secret_hash):
        raise Unauthorized("unknown worker or wrong secret", WORKER_CHALLENGE)
    return facts


class NotYourJob(Forbidden):
    """The worker holds no task of the job whose files it asks for (403)."""


def _key(value: str, field: str) -> str:
    # PostgreSQL refuses a NUL in a query parameter; no job id or checkout path holds one.
    if control_character(value) is not None:
        raise BadInput(f"{field}: control characters are not allowed")
    return value


def may_read_job(session: Session, worker: AnyWorker, job_id: str) -> None:
    """A worker reads a job's checkout and outputs only while it holds one of its tasks
    (a task that assembles frames downloads the job's outputs)."""
    if not worker_reads.holds_task_of_job(session, worker.id, _key(job_id, "job_id")):
        raise NotYourJob(f"worker {worker.name!r} holds no task of job {job_id!r}")


def may_read_checkout(session: Session, worker: AnyWorker, checkout_path: str) -> None:
    path = _key(checkout_path, "checkout_path")
    if not worker_reads.holds_task_of_checkout(session, worker.id, path):
        raise NotYourJob(
            f"worker {worker.name!r} holds no task of a job using checkout {checkout_path!r}"
        )


def may_read_file(session: Session, worker: AnyWorker, sha256: str, size: int) -> None:
    """A stored file, by content: the worker must hold a task of a job whose checkout
    holds it. Checksums are not secrets (a submitter sends them to anyone it likes)."""
    if not worker_reads.holds_task_needing_file(session, worker.id, sha256, size):
        raise NotYourJob(
            f"worker {worker.name!r} holds no task of a job whose files include "
            f"{sha256[:12]}.../{size}"
        )


def mark_seen(session: Session, worker: AnyWorker, now: datetime) -> None:
    """Every request of a worker shows it is alive, whatever it asks."""
    if worker.last_seen is None or now - worker.last_seen >= LAST_SEEN_RESOLUTION:
        mark_worker_seen(session, worker.id, now)


def bring_online(
    session: Session,
    worker: Worker,
    *,
    name: str,
    task_types: list[str],
    software: str,
    address: str,
    now: datetime,
) -> None:
    """Sign the worker on and wake it, unless someone asked it to sleep or go offline.

    Clients of the /farm, SheepIt and 2015 protocols have no state machine of their own: the
    manager acknowledges the states on their behalf, as a v3 worker would after sign-on.
    Signing on requeues the worker's tasks, so this is for new clients and ones that were
    given up for dead."""
    wanted = workers.sign_on(
        session,
        worker,
        name=name,
        supported_task_types=task_types,
        software=software,
        can_restart=False,
        address=address,
        now=now,
    )
    workers.state_changed(session, worker, wanted, now)


# Asking for work ------------------------------------------------------------------------------


def state_to_go_to(session: Session, worker: AnyWorker) -> WorkerStatus | None:
    """The state change the worker must make now, lazy requests waiting for its task."""
    if worker.status_requested is None:
        return None
    has_task = scheduler.current_task_id(session, worker.id) is not None
    return workers.pending_state_change(worker, has_task)


@dataclass(frozen=True, slots=True)
class Poll:
    """What a worker asking for work gets: a state to go to first, word that it is not awake,
    or its task (the one it already has, else a newly claimed one); none of them when there
    is nothing to do."""

    status_requested: WorkerStatus | None = None
    not_awake: bool = False
    task_id: str | None = None


def poll(session: Session, worker: AnyWorker, now: datetime) -> Poll:
    current = scheduler.current_task_id(session, worker.id)
    wanted = workers.pending_state_change(worker, current is not None)
    if wanted is not None:
        return Poll(status_requested=wanted)
    if worker.status != WorkerStatus.AWAKE:
        return Poll(not_awake=True)
    return Poll(task_id=current or scheduler.claim_task_id(session, worker, now))


@dataclass(frozen=True, slots=True)
class Assignment:
    """A state to go to first, word that the worker is not awake, or its task (an
    ``AssignedTask`` with its commands expanded for the worker's platform); none of them
    when there is nothing to do."""

    status_requested: WorkerStatus | None = None
    not_awake: bool = False
    task: dict[str, Any] | None = None


def ask_for_work(
    session: Session, settings: Settings, worker: AnyWorker, now: datetime
) -> Assignment:
    given = poll(session, worker, now)
    if given.task_id is None:
        return Assignment(status_requested=given.status_requested, not_awake=given.not_awake)
    task = assigned_task(session, given.task_id)
    task["commands"] = variables.expand_for_platform(
        task["commands"], settings.variables, worker.platform.lower()
    )
    return Assignment(task=task)


def follow_requested_state(session: Session, worker: Worker, now: datetime) -> None:
    """Acknowledge a state a user asked for (sleep, wake, offline) on behalf of a client that
    cannot: it simply stops or starts getting work."""
    wanted = state_to_go_to(session, worker)
    if wanted is not None:
        if wanted == WorkerStatus.RESTART:
            wanted = WorkerStatus.OFFLINE
        workers.state_changed(session, worker, wanted, now)


def poll_on_behalf(session: Session, worker: Worker, now: datetime, *, claim: bool = True) -> Poll:
    """``poll`` for a client without a state machine: a requested state is acknowledged for
    it, then an awake client gets its current task or, when it wants one, a new one."""
    follow_requested_state(session, worker, now)
    if worker.status != WorkerStatus.AWAKE:
        return Poll(not_awake=True)
    current = scheduler.current_task_id(session, worker.id)
    if current is None and claim:
        current = scheduler.claim_task_id(session, worker, now)
    return Poll(task_id=current)


def claim_more(
    session: Session,
    worker: AnyWorker,
    now: datetime,
    count: int,
    accept_job: Callable[[str], bool] | None = None,
) -> list[str]:
    """Up to ``count`` new tasks for an awake client that renders several at once (a /farm
    node), from jobs ``accept_job`` lets through; its requested state already followed."""
    claimed: list[str] = []
    if worker.status != WorkerStatus.AWAKE:
        return claimed
    while len(claimed) < count:
        task_id = scheduler.claim_task_id(session, worker, now, accept_job)
        if task_id is None:
            break
        claimed.append(task_id)
    return claimed


# Its tasks ------------------------------------------------------------------------------------


class NotYourTask(Conflict):
    """The task is not, or no longer, the worker's to work on (409 on the HTTP APIs)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        #: The refusal without names, as may-i-run tells it.
        self.reason = reason


def owned_task(
    session: Session, worker: AnyWorker, task_id: str, *, running: bool = True
) -> TaskFacts:
    """The task, when it is assigned to the worker and, with ``running``, still active.

    Reports and may-i-run need it running; frames and previews of a task may arrive just
    after its completion, so uploads ask for the assignment only."""
    facts = task_facts(session, task_id)
    if facts is None:
        raise NotFound("task", task_id)
    if facts.worker_id != worker.id:
        raise NotYourTask(
            f"task {task_id} is not assigned to worker {worker.name!r}",
            "task is assigned to another worker",
        )
    if running and facts.status != TaskStatus.ACTIVE:
        raise NotYourTask(
            f"task {task_id} is {facts.status}, stop working on it", f"task is {facts.status}"
        )
    return facts


@dataclass(frozen=True, slots=True)
class MayRun:
    may_keep_running: bool
    reason: str = ""
    status_change_requested: bool = False


def may_keep_running(session: Session, worker: AnyWorker, task_id: str) -> MayRun:
    """Whether the worker may go on with the task.

    Asking is no sign of progress: it leaves the task's lease alone (see ``report``)."""
    wanted = state_to_go_to(session, worker)
    if wanted is not None:
        return MayRun(False, f"worker is asked to go {wanted}", status_change_requested=True)
    try:
        owned_task(session, worker, task_id)
    except NotYourTask as refused:
        return MayRun(False, refused.reason)
    return MayRun(True)


def report(
    session: Session,
    settings: Settings,
    worker: AnyWorker,
    task_id: str,
    *,
    now: datetime,
    task_status: str | None = None,
    activity: str | None = None,
    steps_completed: int | None = None,
    has_log: bool = False,
) -> tasks.TaskUpdateResult:
    """A worker's report on its task: progress, completion or failure; ``NotYourTask`` when
    the task is no longer that worker's to run."""
    task = owned_task(session, worker, task_id)
    result = tasks.update_task_from_worker(
        session,
        settings,
        worker,
        task,
        now=now,
        task_status=task_status,
        activity=activity,
        steps_completed=steps_completed,
        has_log=has_log,
    )
    if result.status_changed and task_status == TaskStatus.COMPLETED:
        result.completed_task_id = task_id
    return result


def keep_frames_of_report(farm: Farm, result: tasks.TaskUpdateResult) -> None:
    """After ``report`` committed: keep the frames a completed task left on shared storage.

    Every door calls this once its transaction is over. Where to look is read and the frames
    are read after the worker got its answer, off the write path: the storage is often a
    network filesystem and a frame can be big, and neither may keep a worker waiting."""
    task_id, collections = result.completed_task_id, farm.frame_collections
    if task_id is not None and not collections.job_has_none(result.job_id):
        collections.start(_keep_frames(farm, result.job_id, task_id))


async def _keep_frames(farm: Farm, job_id: str, task_id: str) -> None:
    def where() -> share_outputs.FramesOnShare | None:
        with farm.db.read() as session:
            if not share_outputs.job_leaves_frames(session, job_id):
                farm.frame_collections.note_job_has_none(job_id)
                return None
            return share_outputs.frames_of_completed_task(session, task_id)

    expected = await asyncio.to_thread(where)
    if expected is None:
        return
    try:
        await share_outputs.keep_frames(farm, expected)
    except OSError as exc:
        # The completion stands: a share that fails meanwhile costs the listing, not the task.
        log.warning(
            "job %s: frames of task %s not kept: %s", expected.job_id, expected.task_id, exc
        )
