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
from dataclasses import dataclass, field
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


@dataclass
class FramesOnShare:
    """The files a done task should have left on a share, and where the manager looks."""

    job_id: str
    task_id: str
    #: ``render_output_path`` as the job gives it, for messages.
    pattern: str
    #: The folder the frames are in, on the manager's disk; None when it has no folder.
    folder: Path | None
    #: The names the frames have before the extension Blender adds.
    stems: list[str] = field(default_factory=list)


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


def expect_frames(
    session: Session, settings: Settings, job: Job, task_id: str, first: int, last: int
) -> FramesOnShare | None:
    """What to look for once the task is done; None for a job that names no place on a
    share. A share without a folder here is said on the job (its activity)."""
    pattern = job.settings.get(OUTPUT_SETTING)
    if not isinstance(pattern, str) or not pattern:
        return None
    try:
        on_share = share_path(pattern)
    except UnsafePath:
        on_share = None
    if on_share is None:
        _say_on_job(session, job, f"frames are not listed: {OUTPUT_SETTING} is not share::path")
        return None
    share, inside = on_share
    base = share_folder(settings, share)
    if base is None:
        _say_on_job(
            session,
            job,
            f"frames on share {share!r} are not listed: this manager has no folder for it "
            f"(a variable {share!r} for {manager_platform()}, or a folder {share!r} in its "
            "shared storage)",
        )
        return FramesOnShare(job.id, task_id, pattern, None)
    try:
        folder = StorageRoot(base).path(inside.parent) if inside.parent.parts else base
    except UnsafePath as exc:
        _say_on_job(session, job, f"frames are not listed: {exc}")
        return None
    return FramesOnShare(job.id, task_id, pattern, folder, frame_stems(inside.name, first, last))


def _say_on_job(session: Session, job: Job, message: str) -> None:
    if job.activity != message:
        job.activity = message
        events.record(session, "job", id=job.id)


async def keep_frames(farm: Farm, expected: FramesOnShare) -> list[str]:
    """Store the task's frames found on the share with the job's outputs; the names stored.
    What is missing or refused goes to the task's log."""
    if expected.folder is None:
        log.warning("job %s: no folder for the share of %s", expected.job_id, expected.pattern)
        note = f"manager: {expected.pattern}: no folder for this share on the manager"
        await asyncio.to_thread(farm.logs.append, expected.job_id, expected.task_id, note)
        return []
    found = await asyncio.to_thread(_find, expected.folder, expected.stems)
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
    for note in notes:
        await asyncio.to_thread(farm.logs.append, expected.job_id, expected.task_id, note)
    return kept


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _find(folder: Path, stems: list[str]) -> list[Path]:
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
