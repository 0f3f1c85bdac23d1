"""This file's jobs on the farm: the list, pause/resume/cancel, and the latest frame.

*Refresh* fetches on request. While a job of this file is queued or active, a
``bpy.app.timers`` function refreshes every few seconds: a thread fetches (no bpy), the timer
applies what it brought on the main thread, including the preview image.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import bpy.utils.previews

from .. import farm_state
from ..client.api import JobCounts, ManagerAPI, ManagerError
from ..preferences import get_preferences, manager_api
from . import outputs
from .connection import online_or_report
from .ui_types import OperatorResult

log = logging.getLogger(__name__)

#: Job statuses during which the panel keeps itself up to date.
RUNNING_STATUSES = frozenset(
    {"queued", "active", "pause-requested", "cancel-requested", "requeueing", "under-construction"}
)
#: How many of the file's jobs the panel lists.
SHOWN_JOBS = 10
#: The status asked for by each of the panel's buttons.
ACTIONS = {
    "pause": ("paused", "Pause the job: workers finish their current task, then stop"),
    "resume": ("queued", "Resume the job"),
    "cancel": ("canceled", "Cancel the job; tasks being rendered are abandoned"),
    "requeue": ("requeueing", "Render the job again"),
}

_previews: Any = None
_preview_dir: Path | None = None


@dataclass
class Fetched:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    #: job id → downloaded JPEG
    images: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, JobCounts] = field(default_factory=dict)
    error: str = ""
    #: The file whose jobs these are: an answer for a file no longer open is dropped.
    blendfile: str = ""
    #: job id → (folder, message, failed) of frames that came home with this fetch.
    frames_home: dict[str, tuple[str, str, bool]] = field(default_factory=dict)


def preview_dir() -> Path:
    global _preview_dir
    if _preview_dir is None:
        _preview_dir = Path(tempfile.mkdtemp(prefix="farmhand-previews-"))
    return _preview_dir


def fetch_jobs(
    api: ManagerAPI,
    blendfile: str,
    with_images: bool = True,
    frames_home: set[str] | None = None,
) -> Fetched:
    """This file's jobs, newest first, and their latest frames. No bpy: runs in threads.

    ``frames_home``: also bring the jobs' finished frames home, but for these jobs (the ones
    the Download Frames button is fetching); None: do not."""
    out = Fetched(blendfile=blendfile)
    try:
        all_jobs = api.jobs()
        out.jobs = [j for j in all_jobs if (j.get("metadata") or {}).get("blendfile") == blendfile]
        out.jobs.sort(key=lambda j: str(j.get("created", "")), reverse=True)
        out.counts = _counts_of(api, [str(j["id"]) for j in out.jobs[:SHOWN_JOBS]])
        if with_images:
            for job in out.jobs[:5]:
                image = api.last_rendered_image(job["id"])
                if image is None:
                    continue
                path = preview_dir() / f"{job['id']}-{image[0]}"
                path.write_bytes(image[1])
                out.images[job["id"]] = path
        if frames_home is not None:
            out.frames_home = outputs.bring_frames_home(
                api, blendfile, out.jobs[:SHOWN_JOBS], frames_home
            )
    except ManagerError as exc:
        out.error = str(exc)
    return out


def _counts_of(api: ManagerAPI, job_ids: list[str]) -> dict[str, JobCounts]:
    # A manager without Farmhand's own API still lists its jobs, only without these counts.
    try:
        return api.job_counts(job_ids)
    except ManagerError as exc:
        log.info("no failed and blocked counts from the manager: %s", exc)
        return {}


def apply_fetched(fetched: Fetched) -> None:
    """Main thread: take the fetched jobs and previews into the panel's state."""
    global _previews
    if fetched.blendfile and fetched.blendfile != bpy.data.filepath:
        return
    farm_state.STATE.jobs_error = fetched.error
    if fetched.error:
        return
    farm_state.STATE.jobs = fetched.jobs
    farm_state.STATE.job_counts = fetched.counts
    for job_id, (folder, message, failed) in fetched.frames_home.items():
        if folder:
            farm_state.STATE.frame_folders[job_id] = folder
        farm_state.STATE.download_messages[job_id] = (message, failed)
    if _previews is None:
        _previews = bpy.utils.previews.new()
    for job_id, path in fetched.images.items():
        key = str(path)
        if key not in _previews:
            _previews.load(key, key, "IMAGE")
        farm_state.STATE.previews[job_id] = key
    _redraw()


def preview_icon(job_id: str) -> int:
    """The icon id of the job's latest frame, 0 when there is none (for the panel)."""
    key = farm_state.STATE.previews.get(job_id)
    if not key or _previews is None or key not in _previews:
        return 0
    return int(_previews[key].icon_id)


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


class FARMHAND_OT_refresh_jobs(bpy.types.Operator):
    bl_idname = "farmhand.refresh_jobs"
    bl_label = "Refresh Jobs"
    bl_description = "Fetch this file's jobs and their latest frames from the manager"

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        if not bpy.data.filepath:
            self.report({"ERROR"}, "Save the file first: the panel lists the jobs of this file")
            return {"CANCELLED"}
        api = manager_api(context)
        try:
            fetched = fetch_jobs(api, bpy.data.filepath)
        finally:
            api.close()
        apply_fetched(fetched)
        if fetched.error:
            self.report({"ERROR"}, fetched.error)
            return {"CANCELLED"}
        start_polling()
        return {"FINISHED"}


class FARMHAND_OT_set_job_status(bpy.types.Operator):
    bl_idname = "farmhand.set_job_status"
    bl_label = "Change Job Status"
    bl_description = "Pause, resume or cancel the job"

    job_id: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]
    action: bpy.props.EnumProperty(  # type: ignore[valid-type]
        items=[(k, k.title(), v[1]) for k, v in ACTIONS.items()], options={"SKIP_SAVE"}
    )

    @classmethod
    def description(cls, context: bpy.types.Context, properties: Any) -> str:
        return ACTIONS[properties.action][1]

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        status = ACTIONS[self.action][0]
        api = manager_api(context)
        try:
            api.set_job_status(self.job_id, status, f"{self.action} from Blender")
            job = api.job(self.job_id)
        except ManagerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            api.close()
        known = farm_state.STATE
        known.jobs = [job if j.get("id") == job["id"] else j for j in known.jobs]
        self.report({"INFO"}, f"Job '{job.get('name')}' is {job.get('status')}")
        start_polling()
        return {"FINISHED"}


# Polling while jobs run ---------------------------------------------------------------------

_inbox: queue.SimpleQueue[Fetched] = queue.SimpleQueue()
_fetching = threading.Event()


def _any_running() -> bool:
    return any(j.get("status") in RUNNING_STATUSES for j in farm_state.STATE.jobs)


def _poll() -> float | None:
    """The timer: apply what a thread fetched, or start the next fetch; None stops it."""
    applied = False
    while True:
        try:
            apply_fetched(_inbox.get_nowait())
        except queue.Empty:
            break
        applied = True
    if not bpy.app.online_access or not bpy.data.filepath:
        return None
    try:
        prefs = get_preferences()
    except KeyError:  # the add-on was disabled while the timer ran
        return None
    if _fetching.is_set():
        return 0.5
    if not _any_running():
        return None
    if applied:  # wait a while before asking again
        return float(prefs.job_refresh_seconds)
    _fetching.set()
    url, token, blendfile = prefs.manager_url, prefs.access_token, bpy.data.filepath
    home = set(farm_state.STATE.downloads) if prefs.download_frames else None

    def fetch() -> None:
        api = ManagerAPI(url, token)
        try:
            _inbox.put(fetch_jobs(api, blendfile, frames_home=home))
        finally:
            api.close()
            _fetching.clear()

    threading.Thread(target=fetch, name="farmhand-jobs", daemon=True).start()
    return 0.5


@bpy.app.handlers.persistent
def forget_jobs_of_the_last_file(*_: Any) -> None:
    """On opening, reverting or starting a new file: the list was the last file's jobs."""
    farm = farm_state.STATE
    farm.jobs = []
    farm.jobs_error = ""
    farm.job_counts = {}
    farm.previews = {}
    farm.frame_folders = {}
    farm.download_messages = {}


def start_polling() -> None:
    if bpy.app.background or not _any_running():
        return
    if not bpy.app.timers.is_registered(_poll):
        bpy.app.timers.register(_poll, first_interval=1.0)


classes = (FARMHAND_OT_refresh_jobs, FARMHAND_OT_set_job_status)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    bpy.app.handlers.load_post.append(forget_jobs_of_the_last_file)


def unregister() -> None:
    global _previews
    if forget_jobs_of_the_last_file in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(forget_jobs_of_the_last_file)
    if bpy.app.timers.is_registered(_poll):
        bpy.app.timers.unregister(_poll)
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    _unregister()
