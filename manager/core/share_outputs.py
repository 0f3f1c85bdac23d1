"""Frames rendered onto a share, kept with the job's outputs like every uploaded frame.

A /farm node has no upload: its Blender writes where the scene says, on a shared filesystem
that every node and the manager name by a share name (``share::path``). The job says where
that is in ``render_output_path`` (``projects::renders/shot_####``). When a task is done the
manager finds its frames in its own folder for the share and stores each in the outputs store
through ``OutputStore.receive``, the one door every protocol's frames go through (checked,
listed, downloaded). A share the manager has no folder for is said on the job, so that an
empty outputs list is never a mystery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from manager.config import Settings
from manager.core import events
from manager.core.errors import FarmError
from manager.core.missing_frames import frame_file_name
from manager.core.setting_paths import share_path
from manager.core.variables import manager_platform, value_for
from manager.db.models import Job
from manager.storage.outputs import CHUNK, file_sha256
from worker_mode.safe_paths import StorageRoot, UnsafePath

if TYPE_CHECKING:
    from manager.core.farm import Farm

log = logging.getLogger(__name__)

#: The job setting that says where the nodes' Blender writes the frames.
OUTPUT_SETTING = "render_output_path"


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


def expect_frames(job: Job, task_id: str, first: int, last: int) -> FramesOnShare | None:
    """What to look for once the task is done; None for a job that names no output."""
    pattern = job.settings.get(OUTPUT_SETTING)
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
    folder, problem = await asyncio.to_thread(_output_folder, farm.settings, expected.pattern)
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


def _output_folder(settings: Settings, pattern: str) -> tuple[Path | None, str]:
    """The folder on the manager's disk that the frames are in, or None and why not."""
    try:
        on_share = share_path(pattern)
    except UnsafePath as exc:
        return None, f"frames are not listed: {OUTPUT_SETTING}: {exc}"
    if on_share is None:
        return None, f"frames are not listed: {OUTPUT_SETTING} {pattern!r} is not share::path"
    share, inside = on_share
    base = share_folder(settings, share)
    if base is None:
        return None, (
            f"frames on share {share!r} are not listed: this manager has no folder for it "
            f"(a variable {share!r} for {manager_platform()}, or a folder {share!r} in its "
            "shared storage)"
        )
    try:
        return (StorageRoot(base).path(inside.parent) if inside.parent.parts else base), ""
    except UnsafePath as exc:
        return None, f"frames are not listed: {exc}"


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
