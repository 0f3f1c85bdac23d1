"""The *Farm* panel in Properties → Output: job settings, submission, jobs, worker mode.

Drawing only reads the add-on's cached state; nothing here calls the manager.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import farm_state
from ..client.api import JobCounts
from ..client.progress import eta_text
from ..operators import job_type_props
from ..operators.connection import OFFLINE_MESSAGE
from ..operators.jobs import RUNNING_STATUSES, SHOWN_JOBS, preview_icon
from ..operators.worker import worker_running

STATUS_ICONS = {
    "active": "PLAY",
    "queued": "SORTTIME",
    "paused": "PAUSE",
    "completed": "CHECKMARK",
    "failed": "ERROR",
    "canceled": "CANCEL",
}


class FARMHAND_PT_farm(bpy.types.Panel):
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_label = "Farm"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None
        if not bpy.app.online_access:
            layout.label(text=OFFLINE_MESSAGE, icon="INTERNET_OFFLINE")
            return
        scene = job_type_props.scene_of(context)
        farm = farm_state.STATE
        layout.use_property_split = True
        layout.use_property_decorate = False

        col = layout.column()
        col.prop(scene, "farmhand_job_name", placeholder=job_type_props.default_job_name())
        row = col.row(align=True)
        row.prop(scene, "farmhand_job_type")
        row.operator("farmhand.refresh_job_types", text="", icon="FILE_REFRESH")
        if farm.job_types_error:
            col.label(text=farm.job_types_error, icon="ERROR")
        group = job_type_props.settings_group(context)
        unrun = job_type_props.unrun_note(group.job_type.name) if group is not None else ""
        if unrun:
            col.label(text=f"Jobs of this type wait: {unrun}", icon="INFO")
        col.prop(scene, "farmhand_priority")
        col.prop(scene, "farmhand_worker_tag")
        col.prop(scene, "farmhand_submit_paused")

        if group is not None:
            draw_job_settings(layout.box(), group)

        draw_submit(layout.column())


def draw_submit(col: Any) -> None:
    """Submit to Farm; while a submission runs, its progress and Abort."""
    farm = farm_state.STATE
    if farm.submit is not None:
        row = col.row(align=True)
        row.progress(factor=farm.submit.fraction, text=farm.submit.step)
        row.operator("farmhand.abort_submit", text="", icon="CANCEL")
    else:
        col.operator("farmhand.submit_job", icon="RENDER_ANIMATION")
    if farm.last_submit_message:
        col.label(text=farm.last_submit_message)


def draw_job_settings(layout: Any, group: Any) -> None:
    layout.use_property_split = True
    header = layout.row()
    header.label(text=group.job_type.label, icon="SETTINGS")
    header.operator("farmhand.eval_settings", text="", icon="FILE_REFRESH")
    for setting in group.job_type.settings:
        if not setting.shown_in_addon:
            continue
        row = layout.row(align=True)
        from_scene = job_type_props.uses_eval(group, setting)
        sub = row.row(align=True)
        sub.enabled = setting.editable and not from_scene
        sub.prop(group, setting.key)
        if setting.eval and setting.show_link_button:
            link = job_type_props.autoeval_name(setting.key)
            row.prop(group, link, text="", icon="LINKED" if getattr(group, link) else "UNLINKED")


class FARMHAND_PT_jobs(bpy.types.Panel):
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_label = "Jobs of This File"
    bl_parent_id = "FARMHAND_PT_farm"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bool(bpy.app.online_access)

    def draw_header(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        self.layout.operator("farmhand.refresh_jobs", text="", icon="FILE_REFRESH", emboss=False)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None
        farm = farm_state.STATE
        if farm.jobs_error:
            layout.label(text=farm.jobs_error, icon="ERROR")
        if not farm.jobs:
            layout.label(text="No jobs known for this file; refresh to fetch them")
            return
        for job in farm.jobs[:SHOWN_JOBS]:
            draw_job(layout.box(), job, farm.job_counts.get(str(job.get("id"))))


def draw_job(layout: Any, job: dict[str, Any], counts: JobCounts | None = None) -> None:
    status = str(job.get("status", ""))
    row = layout.row(align=True)
    row.label(text=str(job.get("name")), icon=STATUS_ICONS.get(status, "DOT"))
    row.label(text=status)
    for action, shown_when in (
        ("pause", ("queued", "active")),
        ("resume", ("paused",)),
        ("cancel", ("queued", "active", "paused")),
        ("requeue", ("completed", "failed", "canceled")),
    ):
        if status in shown_when:
            icon = {"pause": "PAUSE", "resume": "PLAY", "cancel": "X", "requeue": "FILE_REFRESH"}
            op = row.operator("farmhand.set_job_status", text="", icon=icon[action])
            op.job_id = job["id"]
            op.action = action
    factor, text = progress_of(job, counts)
    layout.progress(factor=factor, text=text)
    trouble = counts.describe() if counts is not None else ""
    if trouble:
        layout.label(text=trouble, icon="ERROR")
    activity = str(job.get("activity") or "")
    if activity and status not in ("completed", "canceled"):
        layout.label(text=activity, icon="INFO")
    preview = preview_icon(str(job.get("id")))
    if preview:
        layout.template_icon(icon_value=preview, scale=6.0)
    draw_frames_home(layout, str(job.get("id")))


def progress_of(job: dict[str, Any], counts: JobCounts | None) -> tuple[float, str]:
    """The job's progress bar: in frames where the manager counts them, with the time left
    while it runs; in tasks for a job without frames (or a manager without Farmhand's API)."""
    if counts is not None and counts.frames_total:
        done, total, unit = counts.frames_done, counts.frames_total, "frames"
    else:
        done, total = int(job.get("steps_completed") or 0), int(job.get("steps_total") or 0)
        unit = "tasks"
    text = f"{done} / {total} {unit}"
    if job.get("status") in RUNNING_STATUSES and counts is not None and done < total:
        text += f" · {eta_text(counts.remaining_seconds)}"
    return (done / total if total else 0.0), text


def draw_frames_home(layout: Any, job_id: str) -> None:
    """Download Frames (or its progress), Open Folder, Open Dashboard, and the last download's
    outcome."""
    farm = farm_state.STATE
    row = layout.row(align=True)
    download = farm.downloads.get(job_id)
    if download is not None:
        row.progress(factor=download.fraction, text=download.step or "Downloading")
    else:
        row.operator("farmhand.download_frames", icon="IMPORT").job_id = job_id
    row.operator("farmhand.open_frames_folder", text="", icon="FILE_FOLDER").job_id = job_id
    row.operator("farmhand.open_dashboard", text="", icon="URL").job_id = job_id
    said = farm.download_messages.get(job_id)
    if said is not None:
        message, failed = said
        layout.label(text=message, icon="ERROR" if failed else "INFO")


class FARMHAND_PT_worker(bpy.types.Panel):
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_label = "Worker Mode"
    bl_parent_id = "FARMHAND_PT_farm"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bool(bpy.app.online_access)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None
        if worker_running():
            layout.operator("farmhand.stop_worker_mode", icon="CANCEL")
        else:
            layout.operator("farmhand.worker_mode", icon="PLAY")
        if farm_state.STATE.worker_message:
            layout.label(text=farm_state.STATE.worker_message)


classes = (FARMHAND_PT_farm, FARMHAND_PT_jobs, FARMHAND_PT_worker)
register, unregister = bpy.utils.register_classes_factory(classes)
