"""Requeue what a job still lacks: tasks that failed or were canceled, and completed render
tasks whose frames are not among the job's stored outputs.

Only frames that workers upload to the manager can be counted here: those of a
``blender-render`` command whose blend file comes from the manager's file store
(``{jobs}/...``). Frames on shared storage are invisible to the manager; for those jobs only
failed tasks come back.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from manager.core import events
from manager.core.errors import InvalidTransition
from manager.core.frames import format_frames
from manager.core.statuses import JobStatus, TaskStatus
from manager.core.task_states import follow_tasks, lock_job
from manager.db.queries import tasks as task_queries
from manager.db.queries.job_counters import recount_job

RENDER_COMMAND = "blender-render"
JOBS_VARIABLE = "{jobs}"
"""How a blend file from the manager's file store is named; its frames come back here."""

UNFINISHED_TASK_STATUSES = (TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.SOFT_FAILED)

#: Job statuses that allow it; the others are on their way to one of these.
REQUEUEABLE_JOB_STATUSES = (
    JobStatus.QUEUED,
    JobStatus.ACTIVE,
    JobStatus.PAUSED,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELED,
)


@dataclass
class RequeuedTask:
    id: str
    name: str
    reason: str


@dataclass
class MissingFramesRequeue:
    job_id: str
    job_status: str
    requeued: list[RequeuedTask] = field(default_factory=list)
    missing_frames: list[int] = field(default_factory=list)
    frames_checked: bool = False
    """False when no task of the job uploads its frames: only failed tasks were looked at."""


def frame_file_name(pattern: str, frame: int) -> str:
    """The file name Blender gives ``frame`` for an output name, before the extension it adds.

    The last run of ``#`` becomes the frame number, zero-padded to its length; a name without
    ``#`` gets four digits at its end (Blender's ``BLI_path_frame``).
    """
    runs = list(re.finditer(r"#+", pattern))
    if not runs:
        return pattern + _padded(frame, 4)
    last = runs[-1]
    return pattern[: last.start()] + _padded(frame, len(last.group())) + pattern[last.end() :]


def _padded(frame: int, digits: int) -> str:
    return ("-" if frame < 0 else "") + str(abs(frame)).zfill(digits)


def uploaded_frame_files(commands: Iterable[Mapping[str, Any]]) -> dict[int, str] | None:
    """Frame -> file name (before its extension) of each frame a task uploads to the manager;
    None when its commands upload none, or name frames only the scene can resolve."""
    for command in commands:
        if command.get("name") != RENDER_COMMAND:
            continue
        params = command.get("parameters") or {}
        blendfile = params.get("blendfile")
        if not isinstance(blendfile, str) or not blendfile.startswith(JOBS_VARIABLE + "/"):
            continue
        args = [str(a) for a in [*(params.get("argsBefore") or []), *(params.get("args") or [])]]
        output = _option(args, "-o", "--render-output")
        frames = _frames(args)
        if output is None or frames is None:
            return None
        # The worker writes into a folder of its own with the output's last name part
        # (worker_mode.outputs.local_render_output), and uploads each file by that name.
        pattern = output.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "######"
        return {frame: frame_file_name(pattern, frame) for frame in frames}
    return None


def _option(args: list[str], short: str, long: str) -> str | None:
    value = None
    for i, arg in enumerate(args[:-1]):
        if arg in (short, long):
            value = args[i + 1]
    return value


def _frames(args: list[str]) -> list[int] | None:
    spec = _option(args, "-f", "--render-frame")
    if spec is not None:
        frames: list[int] = []
        for item in spec.split(","):
            first, _, last = item.strip().partition("..")
            # "+n" and "-n" count from the scene's start and end, which only the file knows.
            if not first.isdigit() or (last and not last.isdigit()):
                return None
            frames.extend(range(int(first), int(last or first) + 1))
        return frames
    if "-a" in args or "--render-anim" in args:
        start, end = _option(args, "-s", "--frame-start"), _option(args, "-e", "--frame-end")
        step = _option(args, "-j", "--frame-jump") or "1"
        if start is None or end is None:
            return None
        try:
            return list(range(int(start), int(end) + 1, max(1, int(step))))
        except ValueError:
            return None
    return None


def _present(base: str, names: set[str], stems: set[str]) -> bool:
    return base in names or base in stems


def requeue_missing(
    session: Session, job_id: str, stored_outputs: Iterable[str], now: datetime, reason: str = ""
) -> MissingFramesRequeue:
    """Queue again the job's failed, soft-failed and canceled tasks, its completed render
    tasks with a frame missing from ``stored_outputs`` (the names in the job's outputs), and
    the completed tasks that depend on any of those (a video made without those frames).

    A finished job is queued again; a paused one gets the tasks paused, to run when resumed.
    """
    job = lock_job(session, job_id)
    current = JobStatus(job.status)
    if current not in REQUEUEABLE_JOB_STATUSES:
        raise InvalidTransition(
            f"status: the job is {current}; requeue its missing frames once that is over"
        )
    names = set(stored_outputs)
    stems = {name.rsplit(".", 1)[0] for name in names if "." in name}
    rows = task_queries.tasks_of_job_in_order(session, job.id)
    result = MissingFramesRequeue(job.id, current.value)
    chosen: dict[str, str] = {}
    task_names: dict[str, str] = {}
    completed: set[str] = set()
    for task_id, name, status, commands in rows:
        task_names[task_id] = name
        files = uploaded_frame_files(commands or [])
        result.frames_checked = result.frames_checked or files is not None
        if status in UNFINISHED_TASK_STATUSES:
            chosen[task_id] = f"was {status}"
        elif status == TaskStatus.COMPLETED:
            completed.add(task_id)
            lacking = [f for f, base in (files or {}).items() if not _present(base, names, stems)]
            if lacking:
                result.missing_frames.extend(lacking)
                chosen[task_id] = f"frames {format_frames(lacking)} missing from the outputs"
    _add_dependents(session, job.id, chosen, completed)
    if not chosen:
        return result

    target = TaskStatus.PAUSED if current == JobStatus.PAUSED else TaskStatus.QUEUED
    note = reason or "requeued by user"
    ids = list(chosen)
    task_queries.requeue_tasks(session, ids, target, now, note)
    recount_job(session, job)
    if current in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED):
        job.status = JobStatus.QUEUED
    job.activity = f"{note}: {len(ids)} task(s) requeued"
    job.updated = now
    follow_tasks(session, job, now)
    events.record(session, "job", id=job.id, refresh_tasks=True)
    result.job_status = str(job.status)
    result.requeued = [RequeuedTask(i, task_names[i], chosen[i]) for i in ids]
    result.missing_frames.sort()
    return result


def _add_dependents(
    session: Session, job_id: str, chosen: dict[str, str], completed: set[str]
) -> None:
    """Add the completed tasks that were built on a chosen task, however indirectly."""
    dependents: dict[str, list[str]] = defaultdict(list)
    for task_id, depends_on in task_queries.dependencies_of_job(session, job_id):
        dependents[depends_on].append(task_id)
    todo = list(chosen)
    while todo:
        for task_id in dependents.get(todo.pop(), ()):
            if task_id in completed and task_id not in chosen:
                chosen[task_id] = "depends on a requeued task"
                todo.append(task_id)
