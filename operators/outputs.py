"""Frames come home: *Download Frames*, *Open Folder* and *Open Dashboard* for a job of the file.

Frames go to the folder the job rendered into as the artist named it (the render output path
of the panel, with the job's time filled in), through ``client.downloads.FrameSync``: each file
once, resumable, checked by hash. A thread downloads (no bpy); a ``bpy.app.timers`` function
applies its progress on the main thread. In background mode the operator downloads itself.
While the job list refreshes itself, ``bring_frames_home`` fetches new frames as they finish
(the preference *Download Frames as They Finish*).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from .. import farm_state
from ..client.api import ManagerAPI, ManagerError, manager_base_url
from ..client.downloads import (
    DownloadFolderError,
    FrameSync,
    SyncResult,
    check_folder,
    render_output_folder,
)
from ..preferences import get_preferences, manager_api
from .connection import online_or_report
from .ui_types import OperatorResult

log = logging.getLogger(__name__)

#: How often the timer applies the download threads' progress, in seconds.
PUMP_INTERVAL_S = 0.25


@dataclass
class Progress:
    job_id: str
    step: str
    fraction: float


@dataclass
class Finished:
    job_id: str
    message: str
    failed: bool = False


Message = Progress | Finished
_inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()

#: One download at a time, by the button or as frames finish, so two never write one file.
_sync_lock = threading.Lock()
#: job id → its FrameSync as frames finish, kept so files already checked are not hashed again.
_syncs: dict[str, FrameSync] = {}
#: Jobs that name no output folder (no render task): not asked again.
_no_folder: set[str] = set()
#: Jobs whose frames come home as they finish: rendering, or done and not yet all here.
HOME_STATUSES = frozenset({"active", "paused", "pause-requested", "completed"})


def done_message(result: SyncResult, folder: str) -> str:
    if not result.total:
        return "No frames on the manager yet"
    kept = f", {result.unchanged} already here" if result.unchanged else ""
    return f"{len(result.fetched)} file(s) downloaded to {folder}{kept}"


def download(
    url: str, token: str, job_id: str, folder: str, out: queue.SimpleQueue[Message]
) -> None:
    """The background part: no bpy here, only the client and the queue."""
    api = ManagerAPI(url, token)
    try:
        with _sync_lock:
            result = FrameSync(api, job_id, Path(folder)).sync(
                lambda step, fraction: out.put(Progress(job_id, step, fraction))
            )
        out.put(Finished(job_id, done_message(result, folder)))
    except (ManagerError, DownloadFolderError, OSError) as exc:
        out.put(Finished(job_id, f"Download failed: {exc}", failed=True))
    finally:
        api.close()


def bring_frames_home(
    api: ManagerAPI, blendfile: str, jobs: list[dict[str, Any]], busy: set[str]
) -> dict[str, tuple[str, str, bool]]:
    """The frames of these jobs that finished since the last look, into their folders; for
    each job that got files or failed: (folder, what happened, failed). No bpy: runs in the
    job list's refresh thread. ``busy``: jobs the button is downloading now."""
    home: dict[str, tuple[str, str, bool]] = {}
    for job in jobs:
        job_id = str(job.get("id"))
        if job.get("status") not in HOME_STATUSES or job_id in busy or job_id in _no_folder:
            continue
        try:
            sync = _syncs.get(job_id)
            if sync is None:
                folder = render_output_folder(api, job_id)
                if not folder:
                    _no_folder.add(job_id)
                    continue
                if folder.startswith("//"):  # relative to the .blend, as Blender writes it
                    folder = os.path.join(os.path.dirname(blendfile), folder[2:])
                sync = _syncs[job_id] = FrameSync(api, job_id, Path(folder))
            sync.api = api
            with _sync_lock:
                result = sync.sync()
        except (ManagerError, DownloadFolderError, OSError) as exc:
            home[job_id] = ("", f"Download failed: {exc}", True)
            continue
        if result.fetched:
            home[job_id] = (str(sync.folder), done_message(result, str(sync.folder)), False)
    return home


def apply_messages() -> Finished | None:
    """Main thread: take the threads' progress into the panel's state; the last finish."""
    last = None
    while True:
        try:
            message = _inbox.get_nowait()
        except queue.Empty:
            break
        if isinstance(message, Progress):
            if message.job_id in farm_state.STATE.downloads:
                farm_state.STATE.downloads[message.job_id] = farm_state.SubmitProgress(
                    message.step, message.fraction
                )
        else:
            farm_state.STATE.downloads.pop(message.job_id, None)
            farm_state.STATE.download_messages[message.job_id] = (message.message, message.failed)
            last = message
    _redraw()
    return last


def _pump() -> float | None:
    apply_messages()
    return PUMP_INTERVAL_S if farm_state.STATE.downloads else None


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


def frames_folder(context: bpy.types.Context, job_id: str) -> str:
    """The job's frame folder on this machine; ValueError says why there is none."""
    known = farm_state.STATE.frame_folders.get(job_id)
    if known:
        return known
    api = manager_api(context)
    try:
        folder = render_output_folder(api, job_id)
    except ManagerError as exc:
        raise ValueError(str(exc)) from None
    finally:
        api.close()
    if not folder:
        raise ValueError("The job names no render output folder")
    folder = bpy.path.abspath(folder)  # a path relative to the .blend ("//render/")
    farm_state.STATE.frame_folders[job_id] = folder
    return folder


class FARMHAND_OT_download_frames(bpy.types.Operator):
    bl_idname = "farmhand.download_frames"
    bl_label = "Download Frames"
    bl_description = (
        "Bring the job's finished frames into its render output folder; files already there "
        "are not fetched again"
    )

    job_id: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        if self.job_id in farm_state.STATE.downloads:
            self.report({"WARNING"}, "The job's frames are being downloaded already")
            return {"CANCELLED"}
        try:
            folder = frames_folder(context, self.job_id)
            check_folder(Path(folder), "Render output")
        except (ValueError, DownloadFolderError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        prefs = get_preferences(context)
        listing = farm_state.SubmitProgress("Listing the frames", 0.0)
        farm_state.STATE.downloads[self.job_id] = listing
        farm_state.STATE.download_messages.pop(self.job_id, None)
        args = (prefs.manager_url, prefs.access_token, self.job_id, folder, _inbox)
        if bpy.app.background:  # no event loop to pump a thread's progress
            download(*args)
            finished = apply_messages()
            assert finished is not None
            self.report({"ERROR" if finished.failed else "INFO"}, finished.message)
            return {"CANCELLED" if finished.failed else "FINISHED"}
        threading.Thread(target=download, args=args, name="farmhand-download",
                         daemon=True).start()
        if not bpy.app.timers.is_registered(_pump):
            bpy.app.timers.register(_pump, first_interval=PUMP_INTERVAL_S)
        self.report({"INFO"}, f"Downloading the frames to {folder}")
        return {"FINISHED"}


def open_path(path: str) -> None:
    """Show a folder in the system's file browser (a name tests replace)."""
    bpy.ops.wm.path_open(filepath=path)


def open_url(url: str) -> None:
    """Open a page in the web browser (a name tests replace)."""
    bpy.ops.wm.url_open(url=url)


class FARMHAND_OT_open_frames_folder(bpy.types.Operator):
    bl_idname = "farmhand.open_frames_folder"
    bl_label = "Open Folder"
    bl_description = "Show the job's render output folder in the file browser"

    job_id: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        try:
            folder = frames_folder(context, self.job_id)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not Path(folder).is_dir():
            self.report({"ERROR"}, f"No frames in {folder} yet: Download Frames first")
            return {"CANCELLED"}
        open_path(folder)
        return {"FINISHED"}


def dashboard_url(manager_url: str, job_id: str = "") -> str:
    base = manager_base_url(manager_url)
    return f"{base}/#/jobs/{job_id}" if job_id else f"{base}/"


class FARMHAND_OT_open_dashboard(bpy.types.Operator):
    bl_idname = "farmhand.open_dashboard"
    bl_label = "Open Dashboard"
    bl_description = "Open the manager's dashboard (at the job's page) in the web browser"

    job_id: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not online_or_report(self):
            return {"CANCELLED"}
        open_url(dashboard_url(get_preferences(context).manager_url, self.job_id))
        return {"FINISHED"}


classes = (FARMHAND_OT_download_frames, FARMHAND_OT_open_frames_folder, FARMHAND_OT_open_dashboard)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()


def unregister() -> None:
    if bpy.app.timers.is_registered(_pump):
        bpy.app.timers.unregister(_pump)
    _unregister()

