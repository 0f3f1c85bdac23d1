"""Runs in a bpy subprocess: the add-on tests' session (tests/addon/blender_session.py) with
one more scenario, an artist opening a shot of the studio project and pressing *Submit to
Farm*. Usage: ``python addon_session.py SPEC.json``, as blender_session.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

import blender_session  # noqa: E402
import bpy  # noqa: E402
from blender_session import run_op, set_prefs, state  # noqa: E402


def scenario_submit_project(spec: dict[str, Any]) -> dict[str, Any]:
    bpy.ops.wm.open_mainfile(filepath=spec["blend"], load_ui=False)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = spec["frames"]
    set_prefs(spec["manager"])
    refresh = run_op(bpy.ops.farmhand.refresh_job_types)
    scene.farmhand_job_type = "simple-blender-render"
    submit = run_op(bpy.ops.farmhand.submit_job)
    return {
        "refresh": refresh,
        "submit": submit,
        "message": state().last_submit_message,
        "job_id": state().jobs[0]["id"] if state().jobs else None,
        "resolution": [scene.render.resolution_x, scene.render.resolution_y],
    }


blender_session.SCENARIOS["submit_project"] = scenario_submit_project

if __name__ == "__main__":
    sys.exit(blender_session.main())
