"""Requeue what a job still lacks: tasks that failed or were canceled, and completed render
tasks whose frames are not among the job's stored outputs.

Only frames that workers upload to the manager can be counted here: those of a
``blender-render`` command whose blend file comes from the manager's file store
(``{jobs}/...``). Frames on shared storage are invisible to the manager; for those jobs only
failed tasks come back.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from manager.core import events, write_steps
from manager.core.errors import InvalidTransition
from manager.core.frames import format_frames
from manager.core.jobs import get_job
from manager.core.statuses import JobStatus, TaskStatus
from manager.core.task_states import follow_tasks, lock_job, refuse_job_being_deleted
from manager.core.write_steps import WriteSteps
from manager.db.models import Job
from manager.db.queries import tasks as task_queries
from manager.db.queries.job_counters import change_job_counts
from manager.db.session import Database

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
    db: Database,
    job_id: str,
    stored_outputs: Iterable[str],
    now: datetime,
    reason: str = "",
    step: int | None = None,
) -> MissingFramesRequeue:
    """Queue again the job's failed, soft-failed and canceled tasks, its completed render
    tasks with a frame missing from ``stored_outputs`` (the names in the job's outputs), and
    the completed tasks that depend on any of those (a video made without those frames).

    A finished job is queued again; a paused one gets the tasks paused, to run when resumed.
    What to requeue is read in a read transaction, outside the write lock; more than
    ``ONE_GO_TASKS`` tasks are then requeued in steps (``write_steps``), the failed ones in
    the first, so that the job never looks failed again once it is queued. A task is only
    moved from the status it was chosen in: one that a worker took or finished meanwhile
    stays as it is. ``step`` fixes the tasks per step.
    """
    with db.read() as session:
        job = get_job(session, job_id)
        refuse_job_being_deleted(job)
        _check_requeueable(job)
        plan = _plan(session, job_id, job.status, stored_outputs)
    result = plan.result
    if not plan.chosen:
        return result
    note = reason or "requeued by user"
    ordered = sorted(plan.chosen, key=lambda task_id: plan.chosen[task_id][0] != TaskStatus.FAILED)
    failed = sum(1 for seen, _ in plan.chosen.values() if seen == TaskStatus.FAILED)
    steps = WriteSteps(step)
    done = 0
    while done < len(ordered):
        if len(ordered) <= (step or write_steps.ONE_GO_TASKS):
            size = len(ordered)
        else:
            size = max(steps.size, failed if done == 0 else 0)
        chunk = ordered[done : done + size]
        with db.write() as session:
            started = time.perf_counter()
            job = lock_job(session, job_id)
            changed = (
                job.delete_requested_at is not None or job.status not in REQUEUEABLE_JOB_STATUSES
            )
            if done and changed:
                break  # canceled or deleted meanwhile: the rest stays as it is
            refuse_job_being_deleted(job)
            _check_requeueable(job)
            _requeue_some(session, job, {i: plan.chosen[i][0] for i in chunk}, now, note)
            done += len(chunk)
            job.activity = f"{note}: {done} task(s) requeued"
            result.job_status = str(job.status)
        held = time.perf_counter() - started
        if done < len(ordered):
            steps.took(held)
            steps.pause(held)
    requeued = set(ordered[:done])
    result.requeued = [
        RequeuedTask(i, plan.names[i], why) for i, (_, why) in plan.chosen.items() if i in requeued
    ]
    return result


def _check_requeueable(job: Job) -> None:
    current = JobStatus(job.status)
    if current not in REQUEUEABLE_JOB_STATUSES:
        raise InvalidTransition(
            f"status: the job is {current}; requeue its missing frames once that is over"
        )


@dataclass
class _Plan:
    result: MissingFramesRequeue
    #: Task id -> (the status it was chosen in, why), in the job's order.
    chosen: dict[str, tuple[TaskStatus, str]]
    #: The names of the chosen tasks (and of the others that depend on a task).
    names: dict[str, str]


def _plan(session: Session, job_id: str, job_status: str, stored_outputs: Iterable[str]) -> _Plan:
    """What to requeue, read a batch of tasks at a time."""
    names_stored = set(stored_outputs)
    stems = {name.rsplit(".", 1)[0] for name in names_stored if "." in name}
    plan = _Plan(MissingFramesRequeue(job_id, job_status), {}, {})
    result = plan.result
    dependents: dict[str, list[str]] = defaultdict(list)
    for task_id, depends_on in task_queries.dependencies_of_job(session, job_id):
        dependents[depends_on].append(task_id)
    depending = {task_id for waiting in dependents.values() for task_id in waiting}
    completed: set[str] = set()
    for task_id, name, status, commands in task_queries.tasks_of_job_in_order(session, job_id):
        files = uploaded_frame_files(commands or [])
        result.frames_checked = result.frames_checked or files is not None
        if status in UNFINISHED_TASK_STATUSES:
            plan.chosen[task_id] = (TaskStatus(status), f"was {status}")
        elif status == TaskStatus.COMPLETED:
            completed.add(task_id)
            lacking = [
                f for f, base in (files or {}).items() if not _present(base, names_stored, stems)
            ]
            if lacking:
                result.missing_frames.extend(lacking)
                why = f"frames {format_frames(lacking)} missing from the outputs"
                plan.chosen[task_id] = (TaskStatus.COMPLETED, why)
        if task_id in plan.chosen or task_id in depending:
            plan.names[task_id] = name
    # The completed tasks that were built on a chosen task, however indirectly.
    todo = list(plan.chosen)
    while todo:
        for task_id in dependents.get(todo.pop(), ()):
            if task_id in completed and task_id not in plan.chosen:
                plan.chosen[task_id] = (TaskStatus.COMPLETED, "depends on a requeued task")
                todo.append(task_id)
    result.missing_frames.sort()
    return plan


def _requeue_some(
    session: Session, job: Job, seen: dict[str, TaskStatus], now: datetime, note: str
) -> None:
    """Requeue these tasks, each if still in the status it was chosen in; the job follows."""
    current = JobStatus(job.status)
    target = TaskStatus.PAUSED if current == JobStatus.PAUSED else TaskStatus.QUEUED
    by_status: dict[TaskStatus, list[str]] = defaultdict(list)
    for task_id, status in seen.items():
        by_status[status].append(task_id)
    moved: dict[str, int] = {}
    for status, ids in by_status.items():
        moved[status] = -task_queries.requeue_tasks(session, ids, status, target, now, note)
    total = -sum(moved.values())
    if total:
        change_job_counts(session, job.id, {**moved, target: total}, now)
    if current in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED):
        job.status = JobStatus.QUEUED
    job.updated = now
    follow_tasks(session, job, now)
    events.record(session, "job", id=job.id, refresh_tasks=True)
