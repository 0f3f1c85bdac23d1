"""Frames that workers write onto shared storage, kept with the job's outputs like every
uploaded frame.

Only Farmhand's own worker sends its frames, and only for a job whose files came through the
manager's file store. Every other worker leaves them where the job says: a /farm node on a
share that every node and the manager name by a share name (``share::path``), a stock
Flamenco worker (v3 or 2022 API) or Farmhand's worker on the studio's shared storage, at a
path of two-way variables (``{render}/shot/######``) or an absolute one. When such a task is
done the manager finds its frames in its own folder for that place and stores each in the
outputs store through ``OutputStore.receive``, the one door every protocol's frames go through
(checked, listed, downloaded). A place the manager has no folder for is said on the job, so
that an empty outputs list is never a mystery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import events
from manager.core.errors import FarmError
from manager.core.frames import FrameRangeError, parse_frame_range
from manager.core.missing_frames import JOBS_VARIABLE, frame_file_name
from manager.core.setting_paths import share_path
from manager.core.variables import manager_platform, value_for
from manager.db.models import Job, Task
from manager.storage.outputs import CHUNK, file_sha256
from worker_mode.safe_paths import StorageRoot, UnsafePath, relative_path

if TYPE_CHECKING:
    from manager.core.farm import Farm

log = logging.getLogger(__name__)

#: The job setting that says where the workers' Blender writes the frames.
OUTPUT_SETTING = "render_output_path"

#: A path under a variable: ``{render}/shot/######``.
_UNDER_VARIABLE = re.compile(r"\{([A-Za-z0-9_.-]+)\}(.*)", re.DOTALL)

#: A task's frame: one frame, or ``[first, last]`` of a range.
Frame = int | list[int]


@dataclass(frozen=True)
class FramesOnShare:
    """The frames a done task should have left where its job's ``render_output_path`` says."""

    job_id: str
    task_id: str
    #: ``render_output_path`` as the job gives it.
    pattern: str
    #: The names the frames have before the extension Blender adds.
    stems: tuple[str, ...]


def share_folder(settings: Settings, share: str) -> Path | None:
    """The manager's own folder for a share: a variable named after it, valued for the
    manager's platform; else the folder named after it in shared storage, then in the storage
    folder (where SheepIt clients' ``share::path`` files are served from). None when none of
    them is there."""
    variable = settings.variables.get(share)
    if variable is not None:
        value = value_for(variable, manager_platform())
        if value:
            return Path(value) if Path(value).is_dir() else None
    bases = [Path(settings.shared_storage)] if settings.shared_storage else []
    bases.append(settings.storage_dir)
    for base in bases:
        if (base / share).is_dir():
            return base / share
    return None


def frame_stems(pattern_name: str, first: int, last: int) -> list[str]:
    """Names without extension of what Blender writes for frames ``first``..``last``: each
    frame's image, and for a range also the video (``shot_0001-0250``)."""
    stems = [frame_file_name(pattern_name, frame) for frame in range(first, last + 1)]
    if last > first:
        runs = list(re.finditer(r"#+", pattern_name))
        if not runs:
            stems.append(f"{pattern_name}{first:04d}-{last:04d}")
        else:
            run = runs[-1]
            digits = len(run.group())
            numbers = f"{str(first).zfill(digits)}-{str(last).zfill(digits)}"
            stems.append(pattern_name[: run.start()] + numbers + pattern_name[run.end() :])
    return stems


def task_frame(commands: Sequence[Any] | None) -> Frame | None:
    """The frame (or ``[first, last]``) a task renders, read from its first command."""
    parameters = _first_parameters(commands)
    if isinstance(parameters.get("frame"), int):
        return int(parameters["frame"])
    start, end = parameters.get("frame_start"), parameters.get("frame_end")
    if isinstance(start, int) and isinstance(end, int):
        return [start, end]
    args = parameters.get("args")
    if isinstance(args, list) and "--render-frame" in args:  # blender-render commands
        index = args.index("--render-frame") + 1
        try:
            frames = parse_frame_range(str(args[index]).replace("..", "-"))
        except (IndexError, FrameRangeError):
            return None
        return frames[0] if len(frames) == 1 else [min(frames), max(frames)]
    return None


def job_leaves_frames(session: Session, job_id: str) -> bool:
    """Whether tasks of the job can leave frames on shared storage for the manager to keep:
    the job says where its frames go, and its blend file is not one of the file store's,
    whose frames Farmhand's worker uploads (see ``frames_of_completed_task``)."""
    job = session.get(Job, job_id)
    if job is None or not job.settings.get(OUTPUT_SETTING):
        return False
    blendfile = job.settings.get("blendfile")
    return not (isinstance(blendfile, str) and blendfile.startswith(JOBS_VARIABLE + "/"))


def frames_of_completed_task(session: Session, task_id: str) -> FramesOnShare | None:
    """What to look for once a worker's completion of the task is committed; None when the
    worker sent the task's frames itself, or the task names none.

    Farmhand's worker uploads a task's frames, each verified, before it reports the task
    complete, and it does so exactly when the task's blend file comes from the manager's file
    store (``{jobs}/...``, see ``worker_mode.render_commands``); no other worker can open such
    a file. Its frames are in the outputs store already and the job's output path names the
    submitter's disk, so there is nothing to look for and nothing to say. Every other worker,
    whichever protocol it speaks, leaves the frames where the output path says. Should one of
    them have sent a frame too, ``OutputStore.receive`` leaves a stored file of the same name
    and content as it is: no frame is kept twice.
    """
    task = session.get(Task, task_id)
    if task is None or _uploads_its_frames(task.commands):
        return None
    frame = task_frame(task.commands)
    job = session.get(Job, task.job_id)
    if frame is None or job is None:
        return None
    first, last = (frame, frame) if isinstance(frame, int) else (frame[0], frame[1])
    return expect_frames(job, task.id, first, last, _render_output(task.commands))


def expect_frames(
    job: Job, task_id: str, first: int, last: int, render_output: str | None = None
) -> FramesOnShare | None:
    """What to look for once the task is done; None for a job that names no output.

    ``render_output`` is the path the task's command gives Blender, when it gives one: the
    job's setting with ``{timestamp}`` and the like filled in at submission."""
    pattern = render_output or job.settings.get(OUTPUT_SETTING)
    if not isinstance(pattern, str) or not pattern:
        return None
    name = pattern.replace("\\", "/").rsplit("/", 1)[-1].rsplit("::", 1)[-1]
    return FramesOnShare(job.id, task_id, pattern, tuple(frame_stems(name, first, last)))


async def keep_frames(farm: Farm, expected: FramesOnShare) -> list[str]:
    """Store the task's frames found on the share with the job's outputs; the names stored.

    Runs after the task's completion is committed, never in a write transaction: a share is
    often a network filesystem, and a slow one must not hold up every worker's request. A
    share the manager has no folder for is said on the job; frames missing or refused go to
    the task's log."""
    folder, problem = await asyncio.to_thread(output_folder, farm.settings, expected.pattern)
    if folder is None:
        log.warning("job %s: %s", expected.job_id, problem)
        await farm.writer.run(lambda session: _say_on_job(session, expected.job_id, problem))
        await asyncio.to_thread(_note, farm, expected, [f"manager: {problem}"])
        return []
    found = await asyncio.to_thread(_find, folder, expected.stems)
    notes: list[str] = []
    kept: list[str] = []
    for path in found:
        size = path.stat().st_size
        if size > farm.settings.max_upload_bytes:
            notes.append(f"manager: {path.name} not kept: larger than max_upload_bytes")
            continue
        sha256 = await asyncio.to_thread(file_sha256, path)
        try:
            await farm.outputs.receive(
                expected.job_id, path.name, sha256, size, 0, _chunks_of(path)
            )
        except FarmError as exc:
            notes.append(f"manager: {path.name} not kept: {exc.message}")
            continue
        kept.append(path.name)
    if not found:
        shown = ", ".join(expected.stems[:3]) + (", ..." if len(expected.stems) > 3 else "")
        notes.append(f"manager: no frame of {expected.pattern} ({shown}) found on the share")
    await asyncio.to_thread(_note, farm, expected, notes)
    return kept


def output_folder(settings: Settings, pattern: str) -> tuple[Path | None, str]:
    """The folder on the manager's disk that the frames are in, or None and why not."""
    try:
        place = _place(settings, pattern)
    except UnsafePath as exc:
        return None, f"frames are not listed: {OUTPUT_SETTING}: {exc}"
    if isinstance(place, str):
        return None, place
    base, inside = place
    try:
        return (StorageRoot(base).path(inside.parent) if inside.parent.parts else base), ""
    except UnsafePath as exc:
        return None, f"frames are not listed: {exc}"


def _place(settings: Settings, pattern: str) -> tuple[Path, PurePosixPath] | str:
    """The manager's folder for where ``pattern`` points and the path inside it (never
    climbing out: ``..`` is refused here, links out by ``StorageRoot``); else why not.

    Three forms: ``share::path``; a path under a variable, as the worker expands it but
    with the value for the manager's own platform; an absolute path inside the manager's
    shared storage."""
    platform = manager_platform()
    on_share = share_path(pattern)
    if on_share is not None:
        share, inside = on_share
        base = share_folder(settings, share)
        if base is None:
            return (
                f"frames on share {share!r} are not listed: this manager has no folder for it "
                f"(a variable {share!r} for {platform}, or a folder {share!r} in its "
                "shared storage)"
            )
        return base, inside
    under = _UNDER_VARIABLE.fullmatch(pattern)
    if under is not None:
        name, rest = under.groups()
        variable = settings.variables.get(name)
        value = value_for(variable, platform) if variable is not None else None
        if not value or not Path(value).is_absolute():
            return (
                f"frames under {{{name}}} are not listed: this manager has no variable "
                f"{name!r} with a folder for its own platform ({platform})"
            )
        if not Path(value).is_dir():
            return f"frames under {{{name}}} are not listed: {value} is not a folder here"
        return Path(value), relative_path(rest.replace("\\", "/").lstrip("/"))
    storage = settings.shared_storage
    if storage and Path(storage).is_absolute() and Path(pattern).is_absolute():
        try:
            rest = Path(pattern).relative_to(storage)
        except ValueError:
            rest = None
        if rest is not None and rest.parts:
            return Path(storage), relative_path(rest.as_posix())
    return (
        f"frames are not listed: this manager cannot read {OUTPUT_SETTING} {pattern!r}; "
        f"give it as share::path, under a variable with a folder for {platform}, or inside "
        "the manager's shared storage"
    )


def _first_parameters(commands: Sequence[Any] | None) -> dict[str, Any]:
    if not commands or not isinstance(commands[0], dict):
        return {}
    parameters = commands[0].get("parameters") or {}
    return parameters if isinstance(parameters, dict) else {}


def _uploads_its_frames(commands: Sequence[Any] | None) -> bool:
    for command in commands or []:
        parameters = command.get("parameters") if isinstance(command, dict) else None
        blendfile = parameters.get("blendfile") if isinstance(parameters, dict) else None
        if isinstance(blendfile, str) and blendfile.startswith(JOBS_VARIABLE + "/"):
            return True
    return False


def _render_output(commands: Sequence[Any] | None) -> str | None:
    """The ``--render-output`` the task's command gives Blender, if it gives one."""
    args = _first_parameters(commands).get("args")
    if not isinstance(args, list):
        return None
    for option in ("--render-output", "-o"):
        if option in args[:-1]:
            value = args[args.index(option) + 1]
            return value if isinstance(value, str) and value else None
    return None


def _say_on_job(session: Session, job_id: str, message: str) -> None:
    job = session.get(Job, job_id)
    if job is not None and job.activity != message:
        job.activity = message
        events.record(session, "job", id=job.id)


def _note(farm: Farm, expected: FramesOnShare, notes: list[str]) -> None:
    for note in notes:
        farm.logs.append(expected.job_id, expected.task_id, note)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _find(folder: Path, stems: tuple[str, ...]) -> list[Path]:
    """The plain files in ``folder`` named one of ``stems`` plus an extension (or none)."""
    wanted = set(stems)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(
        Path(entry.path)
        for entry in entries
        if entry.is_file(follow_symlinks=False) and _stem(entry.name) in wanted
    )


async def _chunks_of(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as source:
        while block := await asyncio.to_thread(source.read, CHUNK):
            yield block
