"""What the dashboard reads: paged and sorted jobs with progress, the tasks of a job with
retry counts, workers with their current task and output, the blocklist and a farm summary.

Everything here only reads, through the named reads of ``db/queries/dashboard.py``; every
read touches one page of rows (or uses the job's task counters), so the dashboard stays fast
with 10,000 jobs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from manager.api.v3 import serialize
from manager.core.errors import BadInput
from manager.core.farm_status import farm_status
from manager.core.statuses import JobStatus, TaskStatus, WorkerStatus
from manager.db.models import Job, Task
from manager.db.queries import dashboard as reads
from manager.db.queries import listings
from manager.db.queries.jobs import job_status_counts
from manager.db.queries.workers import worker_status_counts

MAX_PAGE = 500
#: Job statuses in which nothing more happens on its own: elapsed time stops at `updated`.
FINISHED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED)
#: Job statuses in which tasks are being worked off, so a remaining time makes sense.
RUNNING_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.ACTIVE)
THROUGHPUT_WINDOW = timedelta(hours=1)


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


def _job_order(order_by: str) -> tuple[str, bool]:
    """'-created' → ('created', True): the sort key and whether it is descending."""
    descending = order_by.startswith("-")
    key = order_by.lstrip("-")
    if key not in reads.JOB_SORT_KEYS:
        known = ", ".join(sorted(reads.JOB_SORT_KEYS))
        raise BadInput(f"order_by: cannot sort by {key!r} (known: {known}; '-' for descending)")
    return key, descending


# Jobs -------------------------------------------------------------------------------------------


class _FramesCache:
    """Frames per job, summed again only when the job's task counters moved, and for a big
    job at most every ``BIG_JOB_FRAMES_SECONDS``, or every ``COST_FACTOR`` times as long as
    its last sum took when that is longer: the sum reads every task of the job, and forty
    dashboards refreshing a 300,000-task job read it forty times a second."""

    def __init__(self, size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._size = size
        # Job id -> (its counters, when summed, how long that took, (frames done, total)).
        self._entries: OrderedDict[str, tuple[tuple[int, ...], float, float, tuple[int, int]]] = (
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
                    or (
                        job.tasks_total > BIG_JOB_TASKS
                        and now - entry[1] < max(BIG_JOB_FRAMES_SECONDS, entry[2] * COST_FACTOR)
                    )
                ):
                    out[job.id] = entry[3]
                else:
                    stale.append(job)
        started = time.perf_counter()
        fresh = reads.frames_of_jobs(session, [job.id for job in stale])
        took = time.perf_counter() - started
        with self._lock:
            for job in stale:
                value = fresh.get(job.id, (0, 0))
                out[job.id] = value
                self._entries[job.id] = (_counters(job), now, took, value)
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
#: A sum over many tasks is kept at least this many times as long as it took: the reads of a
#: busy farm are held to a small share of the time (``web/read_lane``), and a sum over a
#: million queued tasks every few seconds would take all of it from the listings.
COST_FACTOR = 50
_FRAMES = _FramesCache()


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
    blocked = reads.blocked_workers_of_jobs(session, ids)
    return [job_with_progress(j, frames.get(j.id), now, blocked.get(j.id, 0)) for j in rows]


def list_jobs(
    session: Session, page: Page, order_by: str, statuses: list[str], now: datetime
) -> dict[str, Any]:
    sort_key, descending = _job_order(order_by)
    rows = reads.shown_jobs_page(session, statuses, sort_key, descending, page.offset, page.limit)
    return {
        "total": reads.count_shown_jobs(session, statuses),
        "offset": page.offset,
        "limit": page.limit,
        "order_by": order_by,
        "jobs": _jobs_out(session, rows, now),
    }


def jobs_by_id(session: Session, ids: list[str], now: datetime) -> dict[str, Any]:
    """The named jobs (for live updates of single rows); ids that no longer exist are listed."""
    rows = reads.jobs_with_ids(session, ids)
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


def list_tasks(
    session: Session, job_id: str, page: Page, statuses: list[str], ids: list[str]
) -> dict[str, Any]:
    job = session.get(Job, job_id)
    if ids:
        rows = reads.tasks_of_job_with_ids(session, job_id, statuses, ids)
        total = len(rows)
    elif not statuses:
        # The job counts its tasks, so a page of all of them is a range of their index.
        last = page.offset + page.limit
        rows = listings.tasks_of_job_from_index(session, job_id, page.offset, last)
        total = job.tasks_total if job is not None else 0
    else:
        rows = reads.tasks_of_job_page(session, job_id, statuses, page.offset, page.limit)
        total = _tasks_counted(job, statuses)
    retries = reads.failures_per_task(session, [t.id for t in rows])
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
    rows = reads.workers_by_name(session, ids)
    worker_ids = [w.id for w in rows]
    current = reads.current_tasks_of_workers(session, worker_ids)
    job_names = reads.job_names(session, {t.job_id for t in current.values()})
    schedules = reads.sleep_schedules_of_workers(session, worker_ids)
    out = []
    for worker in rows:
        task = current.get(worker.id)
        row = serialize.worker(worker, task)
        if task is not None:
            row["task"]["job_name"] = job_names.get(task.job_id, "")
        schedule = schedules.get(worker.id)
        row.update(
            {
                "software": worker.software,
                "protocol": PROTOCOL_NAMES.get(
                    str((worker.extra or {}).get("protocol", "")), "Flamenco API"
                ),
                "metrics": worker_metrics(worker.extra or {}),
                "tasks_completed": worker.tasks_completed,
                "frames_rendered": worker.frames_rendered,
                "sleep_schedule": serialize.sleep_schedule(schedule) if schedule else None,
            }
        )
        out.append(row)
    found = set(worker_ids)
    return {"workers": out, "missing": [i for i in ids if i not in found]}


def list_blocklist(session: Session, limit: int = MAX_PAGE) -> dict[str, Any]:
    rows = reads.latest_blocks(session, limit)
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
    by_status = {str(s): int(n) for s, n in worker_status_counts(session).items()}
    busy = reads.busy_awake_workers(session)
    awake = by_status.get(WorkerStatus.AWAKE, 0)
    offline = sum(by_status.get(s, 0) for s in _OFFLINE)
    asleep = by_status.get(WorkerStatus.ASLEEP, 0)
    jobs_by_status = {
        str(s): int(n)
        for s, n in job_status_counts(session).items()
        if s != JobStatus.UNDER_CONSTRUCTION
    }
    queued_tasks = reads.queued_tasks_of_shown_jobs(session)
    queued_frames = reads.queued_frames(session)
    done_tasks, done_frames = reads.completed_since(session, now - THROUGHPUT_WINDOW)
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
