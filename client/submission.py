"""Submitting a job: get the .blend to the farm, then post the job. No bpy.

Where the file goes depends on the manager: with shared storage (a NAS every worker sees),
the job names the saved file's path; without it, the file and its dependencies are packed and
uploaded to the manager's content-addressed store (``client/packer.py``), and the job names
the checkout. The add-on runs :func:`submit` in a background thread, the CLI in the foreground;
both see progress through ``on_progress``.
"""

from __future__ import annotations

import getpass
import importlib
import logging
import platform
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from . import api as api_module
from .api import ManagerAPI
from .blend_header import NotABlendFile, saved_with, version_text

log = logging.getLogger(__name__)

#: ``on_progress(step, fraction)``: what is happening, and how much of it is done (0..1).
ProgressCallback = Callable[[str, float], None]


class SubmissionError(Exception):
    """The job could not be submitted; the message says why in words."""


@dataclass
class JobRequest:
    """Everything about a job except where its .blend ends up."""

    name: str
    type: str
    type_etag: str
    settings: dict[str, Any]
    priority: int = 50
    worker_tag: str = ""
    paused: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "priority": self.priority,
            "settings": self.settings,
            "metadata": self.metadata,
            "submitter_platform": submitter_platform(),
        }
        if self.type_etag:
            body["type_etag"] = self.type_etag
        if self.worker_tag:
            body["worker_tag"] = self.worker_tag
        if self.paused:
            body["initial_status"] = "paused"
        return body


def blender_that_saved(blendfile: Path) -> str | None:
    """``"4.2"``: the Blender that saved the file, which the farm routes the job by; None
    when the header cannot be read (the manager then tries itself)."""
    try:
        return version_text(saved_with(blendfile))
    except (OSError, NotABlendFile) as exc:
        log.info("no Blender version from %s: %s", blendfile, exc)
        return None


#: How long a manager may take to check or store a job, per task of it, beyond the usual
#: answer time: one storing 1,000,000 tasks answered after 100 s (bench/big_submission.py).
SECONDS_PER_TASK = 0.0005
#: How often the progress says the manager is still at it while a job is checked or stored.
WAITING_TICK_S = 1.0


class SubmissionAborted(Exception):
    """Raised by a progress callback to stop a submission before the job is sent."""


def answer_timeout(settings: dict[str, Any]) -> float:
    """Seconds to wait for the manager to check or store a job of these settings: the usual
    answer time, and more for each task its frames make (a big job takes minutes)."""
    frames = settings.get("frames")
    count = count_frames(frames) if isinstance(frames, str) else None
    chunk = settings.get("chunk_size")
    per_task = chunk if isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0 else 1
    tasks = -(-count // per_task) if count else 0
    return api_module.READ_TIMEOUT_S + tasks * SECONDS_PER_TASK


@contextmanager
def _still_waiting(progress: ProgressCallback, step: str, fraction: float) -> Iterator[None]:
    """While the block waits for the manager, say every second how long it has been waiting."""
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(WAITING_TICK_S):
            try:
                progress(f"{step} ({time.monotonic() - started:.0f} s)", fraction)
            except SubmissionAborted:
                return  # the request already went out; its answer still comes back

    ticker = threading.Thread(target=tick, name="farmhand-waiting", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def submitter_platform() -> str:
    """The platform name of the spec: linux, windows, darwin."""
    return platform.system().lower()


def default_metadata(blendfile: Path) -> dict[str, str]:
    """Job metadata the panel uses to list the jobs of the open file."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        user = ""
    return {"blendfile": str(blendfile), "user.name": user}


def load_packer() -> ModuleType | None:
    """``client/packer.py`` (packing and uploads), or None where it or its libraries are absent."""
    try:
        return importlib.import_module(".packer", __package__)
    except ImportError as exc:
        log.info("no packer (%s): the job will name the file's path (shared storage)", exc)
        return None


def submit(
    api: ManagerAPI,
    request: JobRequest,
    blendfile: Path,
    on_progress: ProgressCallback | None = None,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Get ``blendfile`` to the farm, submit the job and return the stored job.

    ``allow_missing``: submit even when files the .blend uses are missing (packing only).
    """
    progress = on_progress or (lambda step, fraction: None)
    blendfile = blendfile.absolute()
    if not blendfile.is_file():
        raise SubmissionError(f"{blendfile} does not exist; save the file first")
    body = request.body()
    body["metadata"] = {**default_metadata(blendfile), **body["metadata"]}
    saved_by = blender_that_saved(blendfile)
    if saved_by:
        body["blender_version"] = saved_by
    body["settings"] = dict(body["settings"])

    progress("Checking the manager", 0.0)
    body["settings"]["blendfile"] = str(blendfile)
    waited = answer_timeout(body["settings"])
    # Bad settings are refused before anything is packed or uploaded.
    with _still_waiting(progress, "Checking the job", 0.0):
        api.check_job(body, waited)
    if not _uses_shared_storage(api):
        checkout = _pack_and_upload(api, blendfile, request.name, progress, allow_missing)
        body["settings"]["blendfile"] = checkout.blendfile
        body["storage"] = {"shaman_checkout_id": checkout.checkout_id}

    progress("Submitting the job", 0.95)
    with _still_waiting(progress, "Submitting the job", 0.95):
        job = api.submit_job(body, waited)
    progress("Submitted", 1.0)
    return job


def _uses_shared_storage(api: ManagerAPI) -> bool:
    """Shared storage unless the manager runs its file store and the packer is here."""
    config = api.configuration()
    return not config.get("shamanEnabled") or load_packer() is None


@dataclass
class Checkout:
    blendfile: str
    checkout_id: str


def _pack_and_upload(
    api: ManagerAPI,
    blendfile: Path,
    job_name: str,
    progress: ProgressCallback,
    allow_missing: bool,
) -> Checkout:
    packer = load_packer()
    assert packer is not None
    checkout_id = safe_checkout_id(job_name)
    result = packer.pack_and_upload(
        api, blendfile, checkout_id, on_progress=progress, allow_missing=allow_missing
    )
    return Checkout(str(result.blendfile), str(result.checkout_id))


def safe_checkout_id(job_name: str) -> str:
    """A checkout folder name from the job's name: letters, digits, '-', '_' and '.' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", job_name).strip("._") or "job"


def count_frames(frames: str) -> int | None:
    """How many frames a range like ``1-10,20..25,40`` names, or None if it is not one."""
    seen: set[int] = set()
    for part in re.split(r"[,\s]+", frames.strip()):
        if not part:
            continue
        match = re.fullmatch(r"(-?\d+)(?:(?:-|\.\.|:)(-?\d+))?", part)
        if not match:
            return None
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last - first > 10_000_000:
            return None
        seen.update(range(first, last + 1))
    return len(seen) or None


#: Blender's frame limits and the most frames one range may name, as the manager has them.
FRAME_MIN, FRAME_MAX = -1_048_574, 1_048_574
MAX_FRAMES = 1_000_000
_RANGE_PART = re.compile(r"\s*(-?[0-9]{1,8})\s*(?:(?:\.\.|-)\s*(-?[0-9]{1,8})\s*)?")


def frame_range_problem(frames: str) -> str | None:
    """What is wrong with a range like ``1-10,20..25,40`` the way the manager reads it, or None.

    Checked before anything slow (a headless Blender, an upload) so a typo costs nothing.
    """
    if not frames.strip():
        return "the frame range is empty"
    total = 0
    for raw in frames.split(","):
        part = raw.strip()
        match = _RANGE_PART.fullmatch(raw)
        if match is None:
            return f"{part!r} is not a frame or a range; write e.g. '47', '1-30' or '1..30'"
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not (FRAME_MIN <= first <= FRAME_MAX and FRAME_MIN <= last <= FRAME_MAX):
            return f"{part!r} names a frame outside {FRAME_MIN:,}..{FRAME_MAX:,}"
        if last < first:
            return f"{part!r} runs backwards; write the lower frame first"
        total += last - first + 1
        if total > MAX_FRAMES:
            return f"more than {MAX_FRAMES:,} frames"
    return None


def describe_submitted(job: dict[str, Any]) -> str:
    """ "Job 'shot_010' submitted: 250 frames in 250 tasks"."""
    tasks = int(job.get("steps_total") or 0)
    frames = count_frames(str(job.get("settings", {}).get("frames", "")))
    paused = " (paused)" if job.get("status") == "paused" else ""
    what = f"{frames} frame{'s' if frames != 1 else ''} in " if frames else ""
    plural = "s" if tasks != 1 else ""
    return f"Job '{job.get('name')}' submitted{paused}: {what}{tasks} task{plural}"
