"""Read queries of the dashboard: paged and sorted jobs with progress, the tasks of a job with
retry counts, workers with their current task and output, the blocklist and a farm summary.

Everything here only reads; every query touches one page of rows (or uses the job's task
counters), so the dashboard stays fast with 10,000 jobs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, distinct, func, select
from sqlalchemy.orm import Session

from manager.api.v3 import serialize
from manager.core.errors import BadInput
from manager.core.farm_status import farm_status
from manager.core.statuses import RUNNABLE_TASK_STATUSES, JobStatus, TaskStatus, WorkerStatus
from manager.db.models import (
    Job,
    JobBlock,
    SleepSchedule,
    Task,
    TaskFailure,
    Worker,
)

MAX_PAGE = 500
#: Job statuses in which nothing more happens on its own: elapsed time stops at `updated`.
FINISHED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED)
#: Job statuses in which tasks are being worked off, so a remaining time makes sense.
RUNNING_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.ACTIVE)
THROUGHPUT_WINDOW = timedelta(hours=1)


def _progress_expr() -> ColumnElement[Any]:
    return Job.tasks_completed * 1.0 / func.nullif(Job.tasks_total, 0)


JOB_ORDERS: dict[str, Any] = {
    "name": Job.name,
    "type": Job.job_type,
    "status": Job.status,
    "priority": Job.priority,
    "created": Job.created,
    "updated": Job.updated,
    "progress": _progress_expr(),
}


@dataclass(frozen=True)
class Page:
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise BadInput(f"offset: {self.offset} is negative")
        if not 1 <= self.limit <= MAX_PAGE:
            raise BadInput(f"limit: {self.limit} is outside 1..{MAX_PAGE}")


def parse_statuses(value: str | None, known: type[JobStatus] | type[TaskStatus]) -> list[str]:
    """'queued,active' → ['queued', 'active']; an unknown status is a 400 naming it."""
    if not value:
        return []
    statuses = [s.strip() for s in value.split(",") if s.strip()]
    allowed = {s.value for s in known}
    for status in statuses:
        if status not in allowed:
            known_list = ", ".join(sorted(allowed))
            raise BadInput(f"status: unknown status {status!r} (known: {known_list})")
    return statuses


def parse_ids(value: str | None) -> list[str]:
    ids = [i.strip() for i in (value or "").split(",") if i.strip()]
    if len(ids) > MAX_PAGE:
        raise BadInput(f"ids: at most {MAX_PAGE} ids at once")
    return ids


def _job_order(order_by: str) -> list[Any]:
    descending = order_by.startswith("-")
    key = order_by.lstrip("-")
    column = JOB_ORDERS.get(key)
    if column is None:
        known = ", ".join(sorted(JOB_ORDERS))
        raise BadInput(f"order_by: cannot sort by {key!r} (known: {known}; '-' for descending)")
    if descending:
        return [column.desc(), Job.id.desc()]
    return [column.asc(), Job.id.asc()]


# Jobs -------------------------------------------------------------------------------------------


def _frames_of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Frames done and total per job, from the tasks of just these jobs: a task's frames, not
    its steps, so the video made of the frames adds none. A running task has done the share of
    its frames that its steps say."""
    if not job_ids:
        return {}
    done = case(
        (Task.status == TaskStatus.COMPLETED, Task.frame_count),
        (
            Task.status == TaskStatus.ACTIVE,
            Task.steps_completed
            * Task.frame_count
            // func.nullif(Task.steps_total, 0, type_=Integer),
        ),
        else_=0,
    )
    rows = session.execute(
        select(Task.job_id, func.sum(done), func.sum(Task.frame_count))
        .where(Task.job_id.in_(job_ids))
        .group_by(Task.job_id)
    ).all()
    return {job_id: (int(d or 0), int(t or 0)) for job_id, d, t in rows}


class _FramesCache:
    """Frames per job, summed again only when the job's task counters moved, and for a big
    job at most every ``BIG_JOB_FRAMES_SECONDS``: that sum reads every task of the job, and
    forty dashboards refreshing a 300,000-task job read it forty times a second."""

    def __init__(self, size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._entries: OrderedDict[str, tuple[tuple[int, ...], float, tuple[int, int]]] = (
            OrderedDict()
        )

    def frames(
        self, session: Session, rows: Sequence[Job], clock: Callable[[], float] = time.monotonic
    ) -> dict[str, tuple[int, int]]:
        now = clock()
        out: dict[str, tuple[int, int]] = {}
        stale: list[Job] = []
        with self._lock:
            for job in rows:
                entry = self._entries.get(job.id)
                if entry is not None and (
                    entry[0] == _counters(job)
                    or (job.tasks_total > BIG_JOB_TASKS and now - entry[1] < BIG_JOB_FRAMES_SECONDS)
                ):
                    out[job.id] = entry[2]
                else:
                    stale.append(job)
        fresh = _frames_of_jobs(session, [job.id for job in stale])
        with self._lock:
            for job in stale:
                value = fresh.get(job.id, (0, 0))
                out[job.id] = value
                self._entries[job.id] = (_counters(job), now, value)
                self._entries.move_to_end(job.id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return out


def _counters(job: Job) -> tuple[int, ...]:
    return (
        job.tasks_total,
        job.tasks_completed,
        job.tasks_active,
        job.tasks_queued,
        job.tasks_failed,
        job.tasks_canceled,
        job.tasks_paused,
        job.tasks_soft_failed,
    )


#: Jobs of more tasks than this have their frames summed at most every so many seconds.
BIG_JOB_TASKS = 10_000
BIG_JOB_FRAMES_SECONDS = 5.0
_FRAMES = _FramesCache()


def _blocked_workers_of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, int]:
    """How many workers each job has blocked (from any of its task types)."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(JobBlock.job_id, func.count(distinct(JobBlock.worker_id)))
        .where(JobBlock.job_id.in_(job_ids))
        .group_by(JobBlock.job_id)
    ).all()
    return {job_id: int(n) for job_id, n in rows}


def job_timing(job: Job, now: datetime) -> tuple[float, float | None]:
    """Elapsed seconds since submission and an estimate of the seconds left, from the rate at
    which the job's tasks completed so far (None when there is nothing to go on)."""
    finished = job.status in FINISHED_JOB_STATUSES
    end = job.updated if finished else now
    elapsed = max(0.0, (end - job.created).total_seconds())
    if finished or job.status not in RUNNING_JOB_STATUSES:
        return elapsed, None
    if job.tasks_completed <= 0 or elapsed <= 0:
        return elapsed, None
    rate = job.tasks_completed / elapsed
    left = job.tasks_total - job.tasks_completed - job.tasks_canceled
    return elapsed, max(0.0, left / rate)


def job_with_progress(
    job: Job, frames: tuple[int, int] | None, now: datetime, blocked_workers: int = 0
) -> dict[str, Any]:
    out = serialize.job(job)
    elapsed, remaining = job_timing(job, now)
    frames_done, frames_total = frames or (0, 0)
    out.update(
        {
            "tasks": {
                "total": job.tasks_total,
                "queued": job.tasks_queued,
                "active": job.tasks_active,
                "completed": job.tasks_completed,
                "failed": job.tasks_failed,
                "soft_failed": job.tasks_soft_failed,
                "canceled": job.tasks_canceled,
                "paused": job.tasks_paused,
            },
            "blocked_workers": blocked_workers,
            "progress": job.tasks_completed / job.tasks_total if job.tasks_total else 0.0,
            "frames_done": frames_done,
            "frames_total": frames_total,
            "elapsed_seconds": elapsed,
            "remaining_seconds": remaining,
            "finished": job.status in FINISHED_JOB_STATUSES,
            "worker_tag_name": job.worker_tag.name if job.worker_tag else None,
        }
    )
    return out


def _jobs_out(session: Session, rows: Sequence[Job], now: datetime) -> list[dict[str, Any]]:
    ids = [j.id for j in rows]
    frames = _FRAMES.frames(session, rows)
    blocked = _blocked_workers_of_jobs(session, ids)
    return [job_with_progress(j, frames.get(j.id), now, blocked.get(j.id, 0)) for j in rows]


def list_jobs(
    session: Session, page: Page, order_by: str, statuses: list[str], now: datetime
) -> dict[str, Any]:
    # A job whose tasks are still going in shows once it is whole.
    shown = Job.status != JobStatus.UNDER_CONSTRUCTION
    query = select(Job).where(shown)
    count = select(func.count()).select_from(Job).where(shown)
    if statuses:
        query = query.where(Job.status.in_(statuses))
        count = count.where(Job.status.in_(statuses))
    rows = session.scalars(
        query.order_by(*_job_order(order_by)).offset(page.offset).limit(page.limit)
    ).all()
    return {
        "total": session.scalar(count) or 0,
        "offset": page.offset,
        "limit": page.limit,
        "order_by": order_by,
        "jobs": _jobs_out(session, rows, now),
    }


def jobs_by_id(session: Session, ids: list[str], now: datetime) -> dict[str, Any]:
    """The named jobs (for live updates of single rows); ids that no longer exist are listed."""
    rows = session.scalars(select(Job).where(Job.id.in_(ids))).all() if ids else []
    found = {j.id for j in rows}
    return {"jobs": _jobs_out(session, rows, now), "missing": [i for i in ids if i not in found]}


# Tasks ------------------------------------------------------------------------------------------


def _task_row(task: Task, retries: int) -> dict[str, Any]:
    out = serialize.task_summary(task)
    out["job_id"] = task.job_id
    out["activity"] = task.activity
    out["retries"] = retries
    out["last_touched"] = serialize.iso(task.last_touched)
    return out


def _retries(session: Session, task_ids: Sequence[str]) -> dict[str, int]:
    if not task_ids:
        return {}
    rows = session.execute(
        select(TaskFailure.task_id, func.count())
        .where(TaskFailure.task_id.in_(task_ids))
        .group_by(TaskFailure.task_id)
    ).all()
    return {task_id: int(n) for task_id, n in rows}


def list_tasks(
    session: Session, job_id: str, page: Page, statuses: list[str], ids: list[str]
) -> dict[str, Any]:
    job = session.get(Job, job_id)
    query = select(Task).where(Task.job_id == job_id)
    if statuses:
        query = query.where(Task.status.in_(statuses))
    if ids:
        query = query.where(Task.id.in_(ids))
        rows = session.scalars(query.order_by(Task.index_in_job)).all()
        total = len(rows)
    elif not statuses:
        # A job's tasks are numbered 0..n-1: a page is a range of the index, found as fast
        # at the end of a 100,000-task job as at its start, and the job counts its tasks.
        last = page.offset + page.limit
        query = query.where(Task.index_in_job >= page.offset, Task.index_in_job < last)
        rows = session.scalars(query.order_by(Task.index_in_job)).all()
        total = job.tasks_total if job is not None else 0
    else:
        rows = session.scalars(
            query.order_by(Task.index_in_job).offset(page.offset).limit(page.limit)
        ).all()
        total = _tasks_counted(job, statuses)
    retries = _retries(session, [t.id for t in rows])
    return {
        "total": total,
        "offset": 0 if ids else page.offset,
        "limit": page.limit,
        "tasks": [_task_row(t, retries.get(t.id, 0)) for t in rows],
    }


def _tasks_counted(job: Job | None, statuses: list[str]) -> int:
    """The job's tasks in these statuses, from the counters it keeps per status."""
    if job is None:
        return 0
    return sum(int(getattr(job, "tasks_" + status.replace("-", "_"))) for status in statuses)


# Workers ----------------------------------------------------------------------------------------


def _current_tasks(session: Session, worker_ids: list[str]) -> dict[str, Task]:
    current: dict[str, Task] = {}
    active = select(Task).where(Task.worker_id.in_(worker_ids), Task.status == TaskStatus.ACTIVE)
    for task in session.scalars(active):
        if task.worker_id is not None:
            current.setdefault(task.worker_id, task)
    return current


def _output_of_workers(session: Session, worker_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Tasks completed and frames rendered per worker."""
    rows = session.execute(
        select(Task.worker_id, func.count(), func.sum(Task.frame_count))
        .where(Task.worker_id.in_(worker_ids), Task.status == TaskStatus.COMPLETED)
        .group_by(Task.worker_id)
    )
    return {str(worker_id): (int(n), int(frames or 0)) for worker_id, n, frames in rows}


PROTOCOL_NAMES = {"farm": "/farm node", "rest2015": "2015 REST", "sheepit": "SheepIt client"}


def worker_metrics(extra: dict[str, Any]) -> list[list[str]]:
    """The machine readings a worker reported (the 2015 API sends them), as label/value pairs."""
    frequent = extra.get("update_frequent") or {}
    less = extra.get("update_less_frequent") or {}
    out: list[list[str]] = []
    load = frequent.get("load_average")
    if isinstance(load, dict):
        values = [load.get(k) for k in ("1min", "5min", "15min")]
        out.append(["Load average", " / ".join(f"{v:.2f}" for v in values if v is not None)])
    for source, key, label in (
        (frequent, "worker_cpu_percent", "CPU"),
        (less, "worker_mem_percent", "Memory"),
        (less, "worker_disk_percent", "Disk"),
    ):
        if isinstance(source.get(key), int | float):
            out.append([label, f"{source[key]:.0f} %"])
    if less.get("worker_num_cpus"):
        out.append(["CPUs", str(less["worker_num_cpus"])])
    if less.get("worker_architecture"):
        out.append(["Architecture", str(less["worker_architecture"])])
    return out


def list_workers(session: Session, ids: list[str]) -> dict[str, Any]:
    query = select(Worker).order_by(Worker.name, Worker.id)
    if ids:
        query = query.where(Worker.id.in_(ids))
    rows = session.scalars(query).all()
    worker_ids = [w.id for w in rows]
    current = _current_tasks(session, worker_ids) if worker_ids else {}
    output = _output_of_workers(session, worker_ids) if worker_ids else {}
    job_ids = {t.job_id for t in current.values()}
    job_names: dict[str, str] = (
        {i: n for i, n in session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids)))}
        if job_ids
        else {}
    )
    schedules = (
        {
            s.worker_id: s
            for s in session.scalars(
                select(SleepSchedule).where(SleepSchedule.worker_id.in_(worker_ids))
            )
        }
        if worker_ids
        else {}
    )
    out = []
    for worker in rows:
        task = current.get(worker.id)
        row = serialize.worker(worker, task)
        if task is not None:
            row["task"]["job_name"] = job_names.get(task.job_id, "")
        tasks_done, frames_done = output.get(worker.id, (0, 0))
        schedule = schedules.get(worker.id)
        row.update(
            {
                "software": worker.software,
                "protocol": PROTOCOL_NAMES.get(
                    str((worker.extra or {}).get("protocol", "")), "Flamenco API"
                ),
                "metrics": worker_metrics(worker.extra or {}),
                "tasks_completed": tasks_done,
                "frames_rendered": frames_done,
                "sleep_schedule": serialize.sleep_schedule(schedule) if schedule else None,
            }
        )
        out.append(row)
    found = set(worker_ids)
    return {"workers": out, "missing": [i for i in ids if i not in found]}


def list_blocklist(session: Session, limit: int = MAX_PAGE) -> dict[str, Any]:
    rows = session.execute(
        select(JobBlock, Job.name, Worker.name)
        .join(Job, Job.id == JobBlock.job_id)
        .join(Worker, Worker.id == JobBlock.worker_id)
        .order_by(JobBlock.created.desc())
        .limit(limit)
    ).all()
    return {
        "entries": [
            {
                "job_id": block.job_id,
                "job_name": job_name,
                "worker_id": block.worker_id,
                "worker_name": worker_name,
                "task_type": block.task_type,
                "created": serialize.iso(block.created),
            }
            for block, job_name, worker_name in rows
        ]
    }


# Summary ----------------------------------------------------------------------------------------

_OFFLINE = (WorkerStatus.OFFLINE, WorkerStatus.ERROR)


def farm_summary(session: Session, now: datetime) -> dict[str, Any]:
    by_status = {
        str(s): int(n)
        for s, n in session.execute(select(Worker.status, func.count()).group_by(Worker.status))
    }
    busy = (
        session.scalar(
            select(func.count(distinct(Task.worker_id)))
            .join(Worker, Worker.id == Task.worker_id)
            .where(Task.status == TaskStatus.ACTIVE, Worker.status == WorkerStatus.AWAKE)
        )
        or 0
    )
    awake = by_status.get(WorkerStatus.AWAKE, 0)
    offline = sum(by_status.get(s, 0) for s in _OFFLINE)
    asleep = by_status.get(WorkerStatus.ASLEEP, 0)
    jobs_by_status = {
        str(s): int(n)
        for s, n in session.execute(select(Job.status, func.count()).group_by(Job.status))
        if s != JobStatus.UNDER_CONSTRUCTION
    }
    queued_tasks = (
        session.scalar(
            select(func.sum(Job.tasks_queued + Job.tasks_soft_failed)).where(
                Job.status != JobStatus.UNDER_CONSTRUCTION
            )
        )
        or 0
    )
    queued_frames = (
        session.scalar(
            select(func.sum(Task.frame_count)).where(Task.status.in_(RUNNABLE_TASK_STATUSES))
        )
        or 0
    )
    since = now - THROUGHPUT_WINDOW
    done_tasks, done_frames = session.execute(
        select(func.count(), func.sum(Task.frame_count)).where(
            Task.status == TaskStatus.COMPLETED, Task.last_touched >= since
        )
    ).one()
    total_workers = sum(by_status.values())
    return {
        "farm_status": farm_status(session),
        "workers": {
            "total": total_workers,
            "idle": max(0, awake - busy),
            "busy": busy,
            "asleep": asleep,
            "offline": offline,
            "other": total_workers - awake - asleep - offline,
        },
        "jobs": jobs_by_status,
        "queued_tasks": int(queued_tasks),
        "queued_frames": int(queued_frames),
        "tasks_per_hour": int(done_tasks or 0),
        "frames_per_hour": int(done_frames or 0),
        "now": serialize.iso(now),
    }
