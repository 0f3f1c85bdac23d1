"""Frames that run far longer than their job's usual frame: flagged, not failed.

A job without ``max_frame_seconds`` has no limit a frame could break, but a frame taking ten
times the job's median is most often a hung or runaway render; people should see it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from manager.core import events
from manager.db.models import Task
from manager.db.queries import tasks as task_queries

SLOW_FACTOR = 10
"""How many times the job's median frame time makes a frame worth flagging."""

MIN_FINISHED_TASKS = 3
"""Finished tasks a job needs before its median means anything."""

MIN_SLOW_SECONDS = 60.0
"""Below this a task is never called slow: ten times a two-second frame is no sign of a hang."""

RECENT_TASKS = 101
"""The median is of the job's latest finished tasks: cheap on huge jobs, and current."""


@dataclass(frozen=True)
class SlowTask:
    job_id: str
    task_id: str
    message: str


def _seconds_per_step(
    started: datetime | None, finished: datetime | None, steps: int
) -> float | None:
    if started is None or finished is None:
        return None
    return max(0.0, (finished - started).total_seconds()) / max(steps, 1)


def find_slow_tasks(session: Session, now: datetime) -> list[SlowTask]:
    """Active tasks running longer than SLOW_FACTOR times their job's median frame time."""
    active = task_queries.active_tasks(session)
    by_job: dict[tuple[str, str], list[Task]] = {}
    for task in active:
        if task.started is not None:
            by_job.setdefault((task.job_id, task.task_type), []).append(task)
    slow: list[SlowTask] = []
    for (job_id, task_type), tasks in by_job.items():
        finished = task_queries.latest_completed_times(session, job_id, task_type, RECENT_TASKS)
        durations = [d for d in (_seconds_per_step(*row) for row in finished) if d is not None]
        if len(durations) < MIN_FINISHED_TASKS:
            continue
        median = statistics.median(durations)
        for task in tasks:
            assert task.started is not None
            running = (now - task.started).total_seconds()
            limit = max(MIN_SLOW_SECONDS, SLOW_FACTOR * median * max(task.steps_total, 1))
            if running > limit:
                slow.append(SlowTask(job_id, task.id, (
                    f"slow: running for {running:.0f} s, over {SLOW_FACTOR}x this job's median "
                    f"of {median:.1f} s per frame; it may be hung (set max_frame_seconds to "
                    "fail such frames)"
                )))
    return slow


def flag_slow_tasks(session: Session, now: datetime, already: set[str]) -> list[SlowTask]:
    """Put the slowness of newly slow tasks in their activity; returns those tasks."""
    slow = [t for t in find_slow_tasks(session, now) if t.task_id not in already]
    for flagged in slow:
        task = session.get(Task, flagged.task_id)
        if task is not None:
            task.activity = flagged.message
            events.record(session, "task", id=flagged.task_id, job_id=flagged.job_id)
    return slow
