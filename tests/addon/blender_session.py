"""Runs in a bpy subprocess: installs the built extension, enables it, plays scenarios.

Usage: ``python blender_session.py SPEC.json``. The spec names the zip, the manager and the
scenarios to run in order; the results (one JSON object per scenario, or the error it raised)
are written to the spec's ``out`` path. One process per test module keeps pytest's own process
free of bpy.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import bpy

ADDON = "bl_ext.user_default.farmhand"


def run_op(op: Any, **kwargs: Any) -> dict[str, Any]:
    """Run an operator; RuntimeError carries the operator's ERROR reports."""
    try:
        result = op(**kwargs)
    except RuntimeError as exc:
        return {"result": "ERROR", "message": str(exc).replace("Error: ", "").strip()}
    return {"result": sorted(result)[0]}


def addon_module() -> Any:
    return sys.modules[ADDON]


def state() -> Any:
    return sys.modules[ADDON + ".farm_state"].STATE


def set_prefs(url: str, token: str = "", all_types: bool = True) -> None:
    """Most scenarios submit the test types, which artists are only offered on request."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.manager_url = url
    prefs.access_token = token
    prefs.show_all_job_types = all_types


def make_scene(blend_path: str, job_name: str = "") -> dict[str, Any]:
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Shot"
    scene.frame_start = 3
    scene.frame_end = 12
    scene.render.fps = 25
    scene.render.fps_base = 1.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = "//render/shot_"
    scene.render.resolution_x = 32
    scene.render.resolution_y = 32
    bpy.ops.wm.save_as_mainfile(filepath=blend_path)
    if job_name:
        scene.farmhand_job_name = job_name
    return {
        "blendfile": bpy.data.filepath,
        "frame_path": scene.render.frame_path(),
        "file_extension": scene.render.file_extension,
    }


# Scenarios --------------------------------------------------------------------------------


def scenario_installed(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": ADDON in bpy.context.preferences.addons,
        "operators": sorted(name for name in dir(bpy.ops.farmhand) if not name.startswith("_")),
        "panel": hasattr(bpy.types, "FARMHAND_PT_farm"),
        # Where Blender unpacked the extension's bundled wheels (its own site-packages).
        "bundled_packages": sorted(
            path.name
            for path in Path(bpy.utils.user_resource("EXTENSIONS")).glob(
                ".local/lib/python*/site-packages/*"
            )
        ),
    }


def scenario_offline(spec: dict[str, Any]) -> dict[str, Any]:
    bpy.context.preferences.system.use_online_access = False
    try:
        return {
            "refresh": run_op(bpy.ops.farmhand.refresh_job_types),
            "submit": run_op(bpy.ops.farmhand.submit_job),
        }
    finally:
        bpy.context.preferences.system.use_online_access = True


def scenario_unsaved(spec: dict[str, Any]) -> dict[str, Any]:
    bpy.ops.wm.read_homefile(use_empty=True)
    set_prefs(spec["manager"])
    refresh = run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "simple-blender-render"
    return {"refresh": refresh, "submit": run_op(bpy.ops.farmhand.submit_job)}


def scenario_test_connection(spec: dict[str, Any]) -> dict[str, Any]:
    set_prefs(spec["manager"])
    ok = run_op(bpy.ops.farmhand.test_connection)
    ok["state"] = state().connection_message
    set_prefs(spec["down_url"])
    down = run_op(bpy.ops.farmhand.test_connection)
    return {"up": ok, "down": down}


def scenario_submit(spec: dict[str, Any]) -> dict[str, Any]:
    scene_facts = make_scene(spec["blend"], spec.get("job_name", ""))
    set_prefs(spec["manager"])
    refresh = run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = spec["job_type"]
    group = bpy.context.window_manager.farmhand_job_settings
    for key, value in spec.get("set", {}).items():
        setattr(group, key, value)
    bpy.context.scene.frame_end = 12  # changed after refresh: submission re-evaluates
    submit = run_op(bpy.ops.farmhand.submit_job)
    return {
        "refresh": refresh,
        "submit": submit,
        "message": state().last_submit_message,
        "job_id": state().jobs[0]["id"] if state().jobs else None,
        "scene": scene_facts,
    }


def scenario_manager_down(spec: dict[str, Any]) -> dict[str, Any]:
    make_scene(spec["blend"])
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "simple-blender-render"
    set_prefs(spec["down_url"])
    return {
        "submit": run_op(bpy.ops.farmhand.submit_job),
        "refresh": run_op(bpy.ops.farmhand.refresh_job_types),
        "still_known": sorted(state().job_types),
    }


def scenario_stale_etag(spec: dict[str, Any]) -> dict[str, Any]:
    import requests

    make_scene(spec["blend"])
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "echo-sleep-test"
    old_etag = state().job_types["echo-sleep-test"].etag
    # The technical director edits the preset while the artist has the panel open.
    shipped = Path(spec["shipped_job_types"]) / "echo-sleep-test.yaml"
    changed = shipped.read_text().replace("default: Blender is fun", "default: Farms are fun")
    Path(spec["user_job_types"], "echo-sleep-test.yaml").write_text(changed)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        served = requests.get(spec["manager"] + "/api/v3/jobs/type/echo-sleep-test", timeout=5)
        if served.json()["etag"] != old_etag:
            break
        time.sleep(0.2)
    stale = run_op(bpy.ops.farmhand.submit_job)
    panel_error = state().job_types_error
    refresh = run_op(bpy.ops.farmhand.refresh_job_types)
    group = bpy.context.window_manager.farmhand_job_settings
    fresh = run_op(bpy.ops.farmhand.submit_job)
    return {
        "stale": stale,
        "panel_error": panel_error,
        "refresh": refresh,
        "message_default": group.message,
        "fresh": fresh,
        "job_id": state().jobs[0]["id"] if state().jobs else None,
    }


def _wait_for_catalog(manager: str, broken: bool) -> None:
    import requests

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        catalog = requests.get(manager + "/api/farmhand/job-types", timeout=5).json()
        if bool(catalog["errors"]) == broken:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the manager did not {'break' if broken else 'mend'} the preset")


def scenario_artist_types(spec: dict[str, Any]) -> dict[str, Any]:
    make_scene(spec["blend"])
    set_prefs(spec["manager"], all_types=False)
    props = sys.modules[ADDON + ".operators.job_type_props"]
    scene = bpy.context.scene
    refresh = run_op(bpy.ops.farmhand.refresh_job_types)
    group = props.settings_group(bpy.context)
    first = {
        "refresh": refresh,
        "offered": list(state().job_types),
        "shown": scene.farmhand_job_type,
        "settings_of": group.job_type.name if group is not None else None,
        "unrun": props.unrun_note(scene.farmhand_job_type),
    }
    # The technical director breaks the render type while the artist works.
    user_preset = Path(spec["user_job_types"], "simple-blender-render.yaml")
    user_preset.write_text("name: simple-blender-render\nsettings: 7\n")
    try:
        _wait_for_catalog(spec["manager"], broken=True)
        refresh = run_op(bpy.ops.farmhand.refresh_job_types)
        broken = {
            "refresh": refresh,
            "shown": scene.farmhand_job_type,
            "error": state().job_types_error,
            "settings_group": props.settings_group(bpy.context) is not None,
            "submit": run_op(bpy.ops.farmhand.submit_job),
        }
    finally:
        user_preset.unlink()
        _wait_for_catalog(spec["manager"], broken=False)
    return {"first": first, "broken": broken}


def _describe_property(rna: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": rna.type, "name": rna.name, "subtype": rna.subtype}
    if rna.type in ("INT", "FLOAT"):
        out.update(min=rna.hard_min, max=rna.hard_max, default=rna.default)
    elif rna.type == "ENUM":
        out.update(items=[i.identifier for i in rna.enum_items], default=rna.default)
    elif rna.type in ("STRING", "BOOLEAN"):
        out["default"] = rna.default
    return out


def scenario_every_preset(spec: dict[str, Any]) -> dict[str, Any]:
    import requests

    make_scene(spec["blend"], "preset_check")
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    served = requests.get(spec["manager"] + "/api/v3/jobs/types", timeout=5).json()
    out: dict[str, Any] = {"served": served["job_types"]}
    for name in sorted(state().job_types):
        bpy.context.scene.farmhand_job_type = name
        group = bpy.context.window_manager.farmhand_job_settings
        props = {
            p.identifier: _describe_property(p)
            for p in group.bl_rna.properties
            if p.identifier not in ("rna_type", "name")
        }
        values = {}
        for key in props:
            value = getattr(group, key)
            values[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        out[name] = {"props": props, "values": values, "error": state().job_types_error}
    return out


# A 1x1 PNG, as a worker would upload a rendered frame.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def _fake_worker_renders_one_task(manager: str) -> None:
    """Play a worker over HTTP: take a task, send a frame, complete it."""
    import requests

    secret = "s3cret-for-the-test"
    reg = requests.post(
        manager + "/api/v3/worker/register-worker",
        timeout=10,
        json={
            "name": "http-worker",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
    ).json()
    auth = (reg["uuid"], secret)
    base = manager + "/api/v3/worker"
    requests.post(
        base + "/sign-on",
        auth=auth,
        timeout=10,
        json={"name": "http-worker", "supported_task_types": ["misc"], "software_version": "t"},
    )
    requests.post(base + "/state-changed", auth=auth, timeout=10, json={"status": "awake"})
    task = requests.post(base + "/task", auth=auth, timeout=10).json()
    requests.post(
        f"{base}/task/{task['uuid']}/output-produced",
        auth=auth,
        timeout=10,
        data=PNG_1X1,
        headers={"Content-Type": "image/png"},
    )
    requests.post(
        f"{base}/task/{task['uuid']}", auth=auth, timeout=10, json={"taskStatus": "completed"}
    )
    requests.post(base + "/sign-off", auth=auth, timeout=10)


def scenario_jobs(spec: dict[str, Any]) -> dict[str, Any]:
    make_scene(spec["blend"])
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "frames-noop"
    bpy.context.window_manager.farmhand_job_settings.chunk_size = 5
    jobs_module = sys.modules[ADDON + ".operators.jobs"]
    real_start_polling, polls = jobs_module.start_polling, []
    jobs_module.start_polling = lambda: polls.append(len(state().jobs))
    try:
        submit = run_op(bpy.ops.farmhand.submit_job)
    finally:
        jobs_module.start_polling = real_start_polling
    job_id = state().jobs[0]["id"]
    _fake_worker_renders_one_task(spec["manager"])
    refresh = run_op(bpy.ops.farmhand.refresh_jobs)
    listed = [(j["id"], j["status"], j["steps_completed"], j["steps_total"]) for j in state().jobs]
    preview_path = state().previews.get(job_id, "")
    icon = jobs_module.preview_icon(job_id)
    drawn = _draw_job(job_id)
    running_panel = draw_panel("FARMHAND_PT_jobs")
    progress_of = sys.modules[ADDON + ".panels.farm"].progress_of
    without_counts = progress_of({"status": "active", "steps_completed": 2, "steps_total": 5},
                                 None)
    pause = run_op(bpy.ops.farmhand.set_job_status, job_id=job_id, action="pause")
    after_pause = next(j["status"] for j in state().jobs if j["id"] == job_id)
    cancel = run_op(bpy.ops.farmhand.set_job_status, job_id=job_id, action="cancel")
    after_cancel = next(j["status"] for j in state().jobs if j["id"] == job_id)
    again = run_op(bpy.ops.farmhand.set_job_status, job_id=job_id, action="cancel")
    # Another file: the list was this file's; a fetch for this file that comes late is dropped.
    this_file = bpy.data.filepath
    bpy.ops.wm.read_homefile(use_empty=True)
    after_new_file = {"jobs": len(state().jobs), "previews": len(state().previews)}
    jobs_module.apply_fetched(jobs_module.Fetched(jobs=[{"id": job_id}], blendfile=this_file))
    after_late_fetch = len(state().jobs)
    return {
        "polling_started_with_jobs": polls,
        "after_new_file": after_new_file,
        "after_late_fetch": after_late_fetch,
        "submit": submit,
        "job_id": job_id,
        "refresh": refresh,
        "listed": listed,
        "preview_path": preview_path,
        "preview_is_jpeg": Path(preview_path).read_bytes()[:2] == b"\xff\xd8"
        if preview_path
        else False,
        "icon": icon,
        "drawn": drawn,
        "running_panel": running_panel,
        "without_counts": without_counts,
        "pause": pause,
        "after_pause": after_pause,
        "cancel": cancel,
        "after_cancel": after_cancel,
        "cancel_again": again,
    }


def _worker_mode_until_done(manager: str, name: str, job_id: str, timeout: float) -> Any:
    """Run the UI's worker mode (a thread of this Blender) until the job ends; stop it."""
    import requests

    mode = sys.modules[ADDON + ".operators.worker"].WorkerMode(manager, name)
    mode.start()
    status = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(f"{manager}/api/v3/jobs/{job_id}", timeout=5).json()["status"]
        if status in ("completed", "failed"):
            break
        time.sleep(0.3)
    mode.request_stop()
    mode.thread.join(30)
    return mode, status


def scenario_worker_mode(spec: dict[str, Any]) -> dict[str, Any]:
    """The worker of worker_mode/, in a thread of this Blender, renders an echo-sleep job."""
    import requests

    make_scene(spec["blend"])
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "echo-sleep-test"
    group = bpy.context.window_manager.farmhand_job_settings
    group.sleep_duration_seconds = 0
    group.sleep_repeats = 2
    run_op(bpy.ops.farmhand.submit_job)
    job_id = state().jobs[0]["id"]
    mode, status = _worker_mode_until_done(spec["manager"], "blender-in-test", job_id, 90)
    workers = requests.get(spec["manager"] + "/api/v3/worker-mgt/workers", timeout=5).json()
    return {
        "status": status,
        "stopped": not mode.running,
        "message": state().worker_message,
        "workers": [(w["name"], w["status"]) for w in workers["workers"]],
    }


def scenario_worker_mode_packed(spec: dict[str, Any]) -> dict[str, Any]:
    """*Start Worker Mode* renders a job the add-on packed into the manager (no shared storage):
    the UI's worker fetches the job's files like the command-line worker does."""
    import requests

    make_scene(spec["blend"])
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.frame_start, scene.frame_end = 1, 2
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    bpy.ops.wm.save_mainfile()
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    scene.farmhand_job_type = "simple-blender-render"
    submit = run_op(bpy.ops.farmhand.submit_job)
    job_id = state().jobs[0]["id"]
    _mode, status = _worker_mode_until_done(spec["manager"], "blender-ui-worker", job_id, 120)
    outputs = requests.get(f"{spec['manager']}/api/farmhand/jobs/{job_id}/outputs", timeout=5)
    return {
        "submit": submit,
        "status": status,
        "message": state().worker_message,
        "outputs": [f["name"] for f in outputs.json().get("files", [])],
        "frames_home": _frames_come_home(spec, job_id),
        "tasks": [
            requests.get(f"{spec['manager']}/api/v3/tasks/{t['id']}", timeout=5).json()["activity"]
            for t in requests.get(
                f"{spec['manager']}/api/v3/jobs/{job_id}/tasks", timeout=5).json()["tasks"]
        ],
    }


class RecordingLayout:
    """Stands in for a panel's ``UILayout``: records what a draw function puts in it."""

    def __init__(self, calls: list[list[Any]] | None = None) -> None:
        self.calls: list[list[Any]] = [] if calls is None else calls

    def _child(self, kind: str) -> RecordingLayout:
        self.calls.append([kind])
        return RecordingLayout(self.calls)

    def row(self, **_: Any) -> RecordingLayout:
        return self._child("row")

    def column(self, **_: Any) -> RecordingLayout:
        return self._child("column")

    def box(self) -> RecordingLayout:
        return self._child("box")

    def label(self, text: str = "", icon: str = "NONE", **_: Any) -> None:
        self.calls.append(["label", text, icon])

    def progress(self, factor: float = 0.0, text: str = "", **_: Any) -> None:
        self.calls.append(["progress", round(factor, 3), text])

    def operator(self, idname: str, text: str | None = None, icon: str = "NONE",
                 **_: Any) -> Any:
        properties = type("OperatorProperties", (), {})()
        self.calls.append(["operator", idname, text, icon, properties])
        return properties

    def prop(self, data: Any, name: str, **_: Any) -> None:
        rna = data.bl_rna.properties[name]
        if rna.type != "ENUM":
            self.calls.append(["prop", name])
            return
        # A drop-down: its entries (a dynamic one's from its items callback, as Blender asks
        # them when it opens) and the one it shows.
        if rna.enum_items:
            offered = [[i.identifier, i.name] for i in rna.enum_items]
        else:
            items = getattr(type(data), name).keywords["items"]
            offered = [[i[0], i[1]] for i in items(data, bpy.context)]
        self.calls.append(["prop", name, "ENUM", offered, getattr(data, name)])

    def template_icon(self, icon_value: int = 0, **_: Any) -> None:
        self.calls.append(["template_icon", bool(icon_value)])

    def recorded(self) -> list[list[Any]]:
        """The calls, with each operator's properties as the dict the draw code set."""
        return [[*c[:4], dict(vars(c[4]))] if c[0] == "operator" else c for c in self.calls]


def draw_panel(name: str) -> list[list[Any]]:
    """What the add-on's panel ``name`` draws now, as the artist would see it."""
    layout = RecordingLayout()
    getattr(bpy.types, name).draw(type("Panel", (), {"layout": layout})(), bpy.context)
    return layout.recorded()


def scenario_without_cycles(spec: dict[str, Any]) -> dict[str, Any]:
    """A Blender with the Cycles add-on off submits the render type: the Cycles overrides are
    left out (the file's values render), the others are the scene's."""
    import requests

    make_scene(spec["blend"], "no-cycles")
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "simple-blender-render"
    with_cycles = dict(bpy.context.window_manager.farmhand_job_settings.items())
    bpy.ops.preferences.addon_disable(module="cycles")
    try:
        submit = run_op(bpy.ops.farmhand.submit_job)
    finally:
        bpy.ops.preferences.addon_enable(module="cycles")
    job_id = state().jobs[0]["id"] if submit["result"] == "FINISHED" else ""
    settings = requests.get(f"{spec['manager']}/api/v3/jobs/{job_id}", timeout=5).json().get(
        "settings", {}) if job_id else {}
    keys = ("samples", "adaptive_threshold", "denoise", "resolution_percentage")
    return {
        "submit": submit,
        "with_cycles": {k: with_cycles.get(k) for k in keys},
        "stored": {k: settings.get(k) for k in keys},
    }


def scenario_panel_states(spec: dict[str, Any]) -> dict[str, Any]:
    """The Farm panel before anything works, connected, and with the manager gone."""
    bpy.ops.wm.read_homefile(use_empty=True)
    drawn: dict[str, Any] = {}
    bpy.context.preferences.system.use_online_access = False
    drawn["offline"] = draw_panel("FARMHAND_PT_farm")
    bpy.context.preferences.system.use_online_access = True
    make_scene(spec["blend"])
    set_prefs(spec["down_url"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    drawn["not_connected"] = draw_panel("FARMHAND_PT_farm")
    set_prefs(spec["manager"], all_types=False)
    run_op(bpy.ops.farmhand.refresh_job_types)
    drawn["connected"] = draw_panel("FARMHAND_PT_farm")
    drawn["no_jobs"] = draw_panel("FARMHAND_PT_jobs")
    set_prefs(spec["down_url"])
    run_op(bpy.ops.farmhand.refresh_jobs)
    drawn["jobs_error"] = draw_panel("FARMHAND_PT_jobs")
    return drawn


def _draw_job(job_id: str) -> list[list[Any]]:
    job = next(j for j in state().jobs if j["id"] == job_id)
    layout = RecordingLayout()
    sys.modules[ADDON + ".panels.farm"].draw_job(layout, job, state().job_counts.get(job_id))
    return layout.recorded()


def _frames_come_home(spec: dict[str, Any], job_id: str) -> dict[str, Any]:
    """Download Frames, again (nothing new), Open Folder and Open Dashboard of a done job."""
    outputs = sys.modules[ADDON + ".operators.outputs"]
    opened: list[str] = []
    outputs.open_path, outputs.open_url = opened.append, opened.append
    not_yet = run_op(bpy.ops.farmhand.open_frames_folder, job_id=job_id)
    run_op(bpy.ops.farmhand.refresh_jobs)
    done_panel = draw_panel("FARMHAND_PT_jobs")
    first = run_op(bpy.ops.farmhand.download_frames, job_id=job_id)
    first["said"] = state().download_messages.get(job_id)
    folder = state().frame_folders.get(job_id, "")
    files = sorted(p.name for p in Path(folder).iterdir()) if folder else []
    drawn = _draw_job(job_id)
    again = run_op(bpy.ops.farmhand.download_frames, job_id=job_id)
    again["said"] = state().download_messages.get(job_id)
    # As frames finish: what the job list's refresh brings home (frames gone from the folder
    # come back), and nothing for a job the button is downloading.
    for frame in Path(folder).glob("*.png"):
        frame.unlink()
    jobs_module = sys.modules[ADDON + ".operators.jobs"]
    api = sys.modules[ADDON + ".client.api"].ManagerAPI(spec["manager"])
    busy = jobs_module.fetch_jobs(api, bpy.data.filepath, with_images=False, frames_home={job_id})
    busy_files = sorted(p.name for p in Path(folder).glob("*.png"))
    fetched = jobs_module.fetch_jobs(api, bpy.data.filepath, with_images=False, frames_home=set())
    api.close()
    jobs_module.apply_fetched(fetched)
    as_they_finish = {
        "busy": [busy.frames_home, busy_files],
        "files": sorted(p.name for p in Path(folder).glob("*.png")),
        "said": state().download_messages.get(job_id),
    }
    progress = sys.modules[ADDON + ".farm_state"].SubmitProgress
    state().downloads[job_id] = progress("000002.png", 0.5)
    downloading = _draw_job(job_id)
    del state().downloads[job_id]
    return {
        "as_they_finish": as_they_finish,
        "done_panel": done_panel,
        "downloading": downloading,
        "not_yet": not_yet,
        "first": first,
        "again": again,
        "folder": folder,
        "frame_path": bpy.context.scene.render.frame_path(frame=1),
        "files": files,
        "drawn": drawn,
        "open_folder": run_op(bpy.ops.farmhand.open_frames_folder, job_id=job_id),
        "open_dashboard": run_op(bpy.ops.farmhand.open_dashboard, job_id=job_id),
        "opened": opened,
    }


def scenario_abort_submit(spec: dict[str, Any]) -> dict[str, Any]:
    """The artist presses Abort while the file is packed and uploaded: nothing is submitted."""
    import requests

    make_scene(spec["blend"], "aborted-shot")
    set_prefs(spec["manager"])
    run_op(bpy.ops.farmhand.refresh_job_types)
    bpy.context.scene.farmhand_job_type = "simple-blender-render"
    submit_module = sys.modules[ADDON + ".operators.submit"]
    real_submit = submit_module.submit
    steps: list[list[Any]] = []

    def submit_and_abort(api: Any, request: Any, blendfile: Any, progress: Any,
                         **kwargs: Any) -> Any:
        def watched(step: str, fraction: float) -> None:
            steps.append([step, fraction])
            if fraction > 0:  # the first step past the start: Abort is pressed
                submit_module.request_abort()
            progress(step, fraction)

        return real_submit(api, request, blendfile, watched, **kwargs)

    submit_module.submit = submit_and_abort
    try:
        aborted = run_op(bpy.ops.farmhand.submit_job)
    finally:
        submit_module.submit = real_submit
    after = {"submit": state().submit, "message": state().last_submit_message,
             "abort_poll": bpy.ops.farmhand.abort_submit.poll()}
    names = [j["name"] for j in requests.get(f"{spec['manager']}/api/v3/jobs",
                                             timeout=5).json()["jobs"]]
    draw_submit = sys.modules[ADDON + ".panels.farm"].draw_submit
    state().submit = sys.modules[ADDON + ".farm_state"].SubmitProgress("Uploading", 0.4)
    submitting = RecordingLayout()
    draw_submit(submitting)
    abort_poll = bpy.ops.farmhand.abort_submit.poll()
    abort = run_op(bpy.ops.farmhand.abort_submit)
    state().submit = None
    idle = RecordingLayout()
    draw_submit(idle)
    again = run_op(bpy.ops.farmhand.submit_job)  # the next submission is not aborted
    return {
        "aborted": aborted,
        "steps": steps,
        "after": {**after, "submit": after["submit"] is not None},
        "job_names": names,
        "submitting": submitting.recorded(),
        "abort_poll": abort_poll,
        "abort": abort,
        "idle": idle.recorded(),
        "again": again,
    }


def _worker_tag_prop() -> list[Any]:
    drawn = draw_panel("FARMHAND_PT_farm")
    return next(c for c in drawn if c[0] == "prop" and c[1] == "farmhand_worker_tag")


def scenario_worker_tags(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker Tag offers the manager's tags; the chosen one goes with the job, and stays chosen
    while the manager is out of reach."""
    import requests

    make_scene(spec["blend"], "tagged-shot")
    scene = bpy.context.scene
    scene["farmhand_worker_tag"] = "render-nodes"  # a file saved with the free-text field
    set_prefs(spec["down_url"])
    out: dict[str, Any] = {"down_refresh": run_op(bpy.ops.farmhand.refresh_job_types)}
    out["down"] = _worker_tag_prop()
    tags = {}
    for name in ("gpu", "studio-b"):
        made = requests.post(f"{spec['manager']}/api/v3/worker-mgt/tags",
                             json={"name": name, "description": f"the {name} machines"}, timeout=5)
        made.raise_for_status()
        tags[name] = made.json()["id"]
    out["tag_ids"] = tags
    set_prefs(spec["manager"])
    out["refresh"] = run_op(bpy.ops.farmhand.refresh_job_types)
    out["stale"] = _worker_tag_prop()
    scene.farmhand_job_type = "frames-noop"
    scene.farmhand_worker_tag = "gpu"
    out["chosen"] = _worker_tag_prop()
    try:
        scene.farmhand_worker_tag = "no-such-tag"
        out["unknown_taken"] = True
    except TypeError:
        out["unknown_taken"] = False
    out["submit"] = run_op(bpy.ops.farmhand.submit_job)
    out["job_id"] = state().jobs[0]["id"] if state().jobs else None
    scene.farmhand_worker_tag = " "  # Any Worker
    out["any_submit"] = run_op(bpy.ops.farmhand.submit_job)
    out["any_job_id"] = state().jobs[0]["id"] if state().jobs else None
    return out


def scenario_disable(spec: dict[str, Any]) -> dict[str, Any]:
    bpy.ops.preferences.addon_disable(module=ADDON)
    return {
        "enabled": ADDON in bpy.context.preferences.addons,
        "scene_props_left": [n for n in dir(bpy.types.Scene) if n.startswith("farmhand_")],
    }


SCENARIOS = {
    name[len("scenario_") :]: fn for name, fn in globals().items() if name.startswith("scenario_")
}


def install(zip_path: str) -> None:
    bpy.context.preferences.system.use_online_access = True
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    if "FINISHED" not in result or ADDON not in bpy.context.preferences.addons:
        raise RuntimeError(f"installing {zip_path} failed: {result}")


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    results: dict[str, Any] = {}
    install(spec["zip"])
    for name, args in spec["scenarios"]:
        try:
            results[name] = SCENARIOS[name.split(":")[0]]({**spec, **args})
        except Exception:
            results[name] = {"exception": traceback.format_exc()}
    Path(spec["out"]).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
