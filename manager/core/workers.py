"""Workers: registration, sign-on/off, state requests, tags and sleep schedules."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from client.blend_header import version_number
from manager.core import events
from manager.core.bounds import check_name, check_task_types
from manager.core.credentials import hash_secret
from manager.core.errors import BadInput, Conflict, NotFound
from manager.core.statuses import WorkerStatus
from manager.core.tasks import requeue_tasks_of_worker
from manager.core.waiting import recheck_jobs_waiting_for_task_types
from manager.core.worker_facts import AnyWorker
from manager.db.models import SleepSchedule, Worker, WorkerTag
from manager.db.queries import workers as worker_queries

#: States a user or the manager may ask a worker to go to.
REQUESTABLE = {WorkerStatus.AWAKE, WorkerStatus.ASLEEP, WorkerStatus.OFFLINE, WorkerStatus.RESTART}
DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def get_worker(session: Session, worker_id: str) -> Worker:
    worker = session.get(Worker, worker_id)
    if worker is None:
        raise NotFound("worker", worker_id)
    return worker


def hash_new_secret(secret: str) -> str:
    """The stored form of a new worker's secret. A slow hash: call it outside the batch
    writer, where it would hold up every other worker's request."""
    if len(secret) < 8:
        raise BadInput("secret: use at least 8 characters")
    return hash_secret(secret)


def register_worker(
    session: Session,
    *,
    name: str,
    secret_hash: str,
    platform: str,
    supported_task_types: list[str],
    address: str,
    now: datetime,
) -> Worker:
    """A new worker; ``secret_hash`` from ``hash_new_secret``, or ``NO_SECRET`` for a client
    that proves who it is in its protocol's own way."""
    if not name.strip():
        raise BadInput("name: a worker needs a name")
    check_name(name, "name")
    worker = Worker(
        id=str(uuid.uuid4()),
        name=name.strip(),
        secret_hash=secret_hash,
        platform=platform,
        supported_task_types=check_task_types(supported_task_types, "supported_task_types"),
        address=address,
        status=WorkerStatus.STARTING,
        created=now,
        updated=now,
        last_seen=now,
        extra={},
    )
    session.add(worker)
    recheck_jobs_waiting_for_task_types(session, now)
    events.record(session, "worker", id=worker.id)
    return worker


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def sign_on(
    session: Session,
    worker: Worker,
    *,
    name: str,
    supported_task_types: list[str],
    software: str,
    can_restart: bool,
    address: str,
    now: datetime,
    tags: list[str] | None = None,
    hardware: dict[str, Any] | None = None,
    blender_version: str | None = None,
) -> WorkerStatus:
    """Record the worker's facts; returns the state it should go to.

    ``tags``, when the worker names any, replace its tags (made on first use); without them
    the tags given on the manager stay. The tags of its ``hardware`` (``gpu``, ``optix``,
    ``vram>=24g``...) are added to either, and those of its last sign-on taken away.
    ``blender_version`` (``4.2.3``) routes jobs to it by the Blender that saved their file.
    """
    if not name.strip():
        raise BadInput("name: a worker needs a name")
    check_name(name, "name")
    version = _blender_version(blender_version)
    _set_tags(session, worker, tags, hardware)
    worker.blender_version = version
    # A worker that signs on again after a crash gets its old tasks requeued, not lost.
    requeue_tasks_of_worker(session, worker.id, now, f"worker {worker.name} signed on again")
    worker.name = name.strip()
    worker.supported_task_types = check_task_types(supported_task_types, "supported_task_types")
    worker.software = software
    worker.can_restart = can_restart
    worker.address = address
    worker.status = WorkerStatus.STARTING
    worker.last_seen = now
    worker.updated = now
    recheck_jobs_waiting_for_task_types(session, now)
    events.record(session, "worker", id=worker.id)
    requested = worker.status_requested
    if requested in (WorkerStatus.ASLEEP, WorkerStatus.OFFLINE):
        return WorkerStatus(requested)
    worker.status_requested = None
    worker.lazy_status_request = False
    return WorkerStatus.AWAKE


def _blender_version(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return version_number(text)
    except ValueError as exc:
        raise BadInput(f"blender_version: {exc}") from None


def _set_tags(
    session: Session, worker: Worker, tags: list[str] | None, hardware: dict[str, Any] | None
) -> None:
    """The worker's own tags (or those given on the manager) and its hardware's."""
    facts = dict(worker.extra or {})
    from_hardware = _hardware_tags(hardware)
    before = set(facts.get("hardware_tags") or ())
    if tags:
        names = list(dict.fromkeys([*tags, *from_hardware]))
    elif hardware is None and not before:
        return  # Nothing the worker says changes its tags: those given on the manager stay.
    else:
        kept = [t.name for t in worker.tags if t.name not in before]
        names = list(dict.fromkeys([*kept, *from_hardware]))
    if [t.name for t in worker.tags] != names:
        worker.tags = [_tag_named(session, tag) for tag in names]
    facts["hardware_tags"] = [t for t in from_hardware if t not in (tags or ())]
    if hardware is not None:
        facts["hardware"] = {k: v for k, v in hardware.items() if k != "tags"}
    else:
        facts.pop("hardware", None)
    worker.extra = facts


def _hardware_tags(hardware: dict[str, Any] | None) -> list[str]:
    if hardware is None:
        return []
    tags = hardware.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) or len(tags) > 50:
        raise BadInput("hardware.tags: a list of at most 50 tag names")
    return list(dict.fromkeys(t.strip() for t in tags if t.strip()))


def sign_off(session: Session, worker: Worker, now: datetime) -> None:
    requeue_tasks_of_worker(session, worker.id, now, f"worker {worker.name} signed off")
    worker.status = WorkerStatus.OFFLINE
    if worker.status_requested == WorkerStatus.OFFLINE:
        worker.status_requested = None
    worker.last_seen = now
    worker.updated = now
    events.record(session, "worker", id=worker.id)


def pending_state_change(worker: AnyWorker, has_task: bool) -> WorkerStatus | None:
    """The state the worker must go to now, honouring lazy requests."""
    if worker.status_requested is None:
        return None
    if worker.lazy_status_request and has_task:
        return None
    return WorkerStatus(worker.status_requested)


def state_changed(session: Session, worker: Worker, status: str, now: datetime) -> None:
    new = WorkerStatus(status)
    if new in (WorkerStatus.OFFLINE, WorkerStatus.ERROR, WorkerStatus.ASLEEP):
        requeue_tasks_of_worker(session, worker.id, now, f"worker {worker.name} went {new}")
    worker.status = new
    if worker.status_requested == new:
        worker.status_requested = None
        worker.lazy_status_request = False
    worker.last_seen = now
    worker.updated = now
    events.record(session, "worker", id=worker.id)


def request_status_change(
    session: Session, worker_id: str, status: str, is_lazy: bool, now: datetime
) -> Worker:
    worker = get_worker(session, worker_id)
    new = WorkerStatus(status)
    if new not in REQUESTABLE:
        allowed = ", ".join(sorted(REQUESTABLE))
        raise BadInput(f"status: a worker can be asked to go {allowed}, not {status!r}")
    if new == WorkerStatus.RESTART and not worker.can_restart:
        raise Conflict(f"worker {worker.name!r} cannot restart itself")
    if worker.status == new:
        worker.status_requested = None
        worker.lazy_status_request = False
    else:
        worker.status_requested = new
        worker.lazy_status_request = is_lazy
    worker.updated = now
    events.record(session, "worker", id=worker.id)
    return worker


def delete_worker(session: Session, worker_id: str, now: datetime) -> None:
    worker = get_worker(session, worker_id)
    requeue_tasks_of_worker(session, worker.id, now, f"worker {worker.name} was deleted")
    worker_queries.forget_worker(session, worker.id)
    worker.tags = []
    session.delete(worker)
    # The farm's hook forgets the worker's cached secret once this commits.
    events.record(session, "worker", id=worker_id, was_deleted=True)


def update_reported_facts(
    session: Session,
    worker: Worker,
    *,
    software: str | None = None,
    address: str | None = None,
    supported_task_types: list[str] | None = None,
    tags: list[WorkerTag] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Keep what a client says about itself between sign-ons (its version, address, what it
    runs, its readings); given ``None`` a fact stays as it is. The dashboard hears of it
    only when something changed: most check-ins repeat what the last one said."""
    changed = False
    if supported_task_types is not None:
        supported_task_types = check_task_types(supported_task_types, "supported_task_types")
    for key, value in (
        ("software", software),
        ("address", address),
        ("supported_task_types", supported_task_types),
        ("extra", extra),
    ):
        if value is not None and getattr(worker, key) != value:
            setattr(worker, key, value)
            changed = True
    if tags is not None and {t.id for t in worker.tags} != {t.id for t in tags}:
        worker.tags = tags
        changed = True
    if changed:
        events.record(session, "worker", id=worker.id)


# Tags --------------------------------------------------------------------------------------


def get_tag(session: Session, tag_id: str) -> WorkerTag:
    tag = session.get(WorkerTag, tag_id)
    if tag is None:
        raise NotFound("worker tag", tag_id)
    return tag


def create_tag(session: Session, name: str, description: str, tag_id: str | None) -> WorkerTag:
    name = name.strip()
    if not name:
        raise BadInput("name: a tag needs a name")
    check_name(name, "name")
    if tag_id is not None and not _is_uuid(tag_id):
        raise BadInput(f"id: {tag_id!r} is not a UUID")
    if worker_queries.tag_named(session, name) is not None:
        raise Conflict(f"name: a tag named {name!r} already exists")
    if tag_id is not None and session.get(WorkerTag, tag_id) is not None:
        raise Conflict(f"id: a tag with id {tag_id!r} already exists")
    tag = WorkerTag(id=tag_id or str(uuid.uuid4()), name=name, description=description)
    session.add(tag)
    events.record(session, "tag", id=tag.id)
    return tag


def update_tag(session: Session, tag_id: str, name: str, description: str | None) -> WorkerTag:
    tag = get_tag(session, tag_id)
    name = name.strip()
    if not name:
        raise BadInput("name: a tag needs a name")
    check_name(name, "name")
    other = worker_queries.tag_named(session, name)
    if other is not None and other.id != tag.id:
        raise Conflict(f"name: a tag named {name!r} already exists")
    tag.name = name
    if description is not None:
        tag.description = description
    events.record(session, "tag", id=tag.id)
    return tag


def delete_tag(session: Session, tag_id: str) -> None:
    session.delete(get_tag(session, tag_id))
    events.record(session, "tag", id=tag_id, was_deleted=True)


def _tag_named(session: Session, name: str) -> WorkerTag:
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise BadInput(f"tags: {name!r} is not a tag name (1 to 200 characters)")
    check_name(clean, "tags")
    tag = worker_queries.tag_named(session, clean)
    if tag is not None:
        return tag
    try:
        # A savepoint: another manager process may create the same tag at the same moment.
        with session.begin_nested():
            tag = WorkerTag(id=str(uuid.uuid4()), name=clean, description="")
            session.add(tag)
        events.record(session, "tag", id=tag.id)
        return tag
    except IntegrityError:
        existing = worker_queries.tag_named(session, clean)
        assert existing is not None
        return existing


def set_worker_tags(session: Session, worker_id: str, tag_ids: list[str], now: datetime) -> Worker:
    worker = get_worker(session, worker_id)
    tags = []
    for tag_id in dict.fromkeys(tag_ids):
        tag = session.get(WorkerTag, tag_id)
        if tag is None:
            raise BadInput(f"tag_ids: no worker tag {tag_id!r}")
        tags.append(tag)
    worker.tags = tags
    worker.updated = now
    events.record(session, "worker", id=worker.id)
    return worker


# Sleep schedules ---------------------------------------------------------------------------


def validate_schedule(days_of_week: str, start_time: str, end_time: str) -> str:
    days = days_of_week.lower().split()
    unknown = [d for d in days if d not in DAYS]
    if unknown:
        raise BadInput(f"days_of_week: unknown day(s) {' '.join(unknown)}; use {' '.join(DAYS)}")
    for key, value in (("start_time", start_time), ("end_time", end_time)):
        if not _TIME.match(value):
            raise BadInput(f"{key}: {value!r} is not a 24-hour HH:MM time")
    return " ".join(dict.fromkeys(days))


def set_sleep_schedule(
    session: Session,
    worker_id: str,
    *,
    is_active: bool,
    days_of_week: str,
    start_time: str,
    end_time: str,
) -> SleepSchedule:
    get_worker(session, worker_id)
    days = validate_schedule(days_of_week, start_time, end_time)
    schedule = session.get(SleepSchedule, worker_id)
    if schedule is None:
        schedule = SleepSchedule(worker_id=worker_id)
        session.add(schedule)
    schedule.is_active = is_active
    schedule.days_of_week = days
    schedule.start_time = start_time
    schedule.end_time = end_time
    events.record(session, "worker", id=worker_id)
    return schedule


def schedule_says_asleep(schedule: SleepSchedule, local_now: datetime) -> bool:
    """Whether the schedule wants the worker asleep at this (manager-local) time."""
    if not schedule.is_active:
        return False
    days = schedule.days_of_week.split()
    if days and DAYS[local_now.weekday()] not in days:
        return False
    clock = local_now.strftime("%H:%M")
    start, end = schedule.start_time, schedule.end_time
    if start <= end:
        return start <= clock < end
    return clock >= start or clock < end  # a window across midnight
