"""Render-setting overrides in the worker: the allow-list, and real frames rendered with bpy
that show each override took effect and that the next job gets the file's own settings back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from worker_mode.blender_args import parse_blender_args
from worker_mode.errors import CommandError
from worker_mode.files import local_blendfile
from worker_mode.render_overrides import OverrideError, check_override, check_overrides
from worker_mode.renderer import Renderer

from .helpers import read_png, wait_for
from .test_end_to_end import _done

# --- the allow-list ----------------------------------------------------------------------


def test_allowed_values_come_back_ready_to_assign() -> None:
    assert check_overrides({
        "cycles.samples": 16, "cycles.adaptive_threshold": 0, "render.resolution_percentage": 50.0,
        "cycles.use_denoising": False, "camera": "Cam.001", "cycles.denoiser": "OPTIX",
    }) == {
        "cycles.samples": 16, "cycles.adaptive_threshold": 0.0,
        "render.resolution_percentage": 50, "cycles.use_denoising": False,
        "camera": "Cam.001", "cycles.denoiser": "OPTIX",
    }
    assert check_overrides(None) == {}
    assert isinstance(check_override("render.resolution_percentage", 50.0), int)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("scene.use_nodes", True, "'scene.use_nodes' is not a render setting a job may override"),
        ("render.filepath", "/etc/x", "'render.filepath' is not a render setting"),
        ("cycles.samples", 0, "render setting cycles.samples must be at least 1, got 0"),
        ("cycles.samples", 2.5, "cycles.samples must be a whole number, got 2.5"),
        ("cycles.samples", True, "cycles.samples must be a whole number, got true"),
        ("cycles.samples", "64", "cycles.samples must be a whole number, got '64'"),
        ("cycles.adaptive_threshold", math.nan, "must be a number, got nan"),
        ("cycles.adaptive_threshold", 2, "must be at most 1, got 2"),
        ("cycles.use_denoising", 1, "cycles.use_denoising must be true or false, got 1"),
        ("render.image_settings.file_format", "FFMPEG", "must be one of TARGA, TARGA_RAW"),
        ("camera", None, "render setting camera must be a name, got None"),
    ],
)
def test_anything_else_is_refused_naming_the_path_and_the_value(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(OverrideError) as caught:
        check_override(path, value)
    assert message in str(caught.value)


def test_overrides_must_be_a_mapping() -> None:
    with pytest.raises(OverrideError, match="overrides must be a mapping"):
        check_overrides(["cycles.samples", 1])


# --- real renders ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer():
    r = Renderer("CPU")
    yield r
    r.shutdown()


def render_frame(renderer: Renderer, blendfile: str, out: Path, overrides: dict[str, Any],
                 frame: int = 2) -> str:
    """Render one frame of the tiny scene (32x32, 4 samples) with ``overrides``; its path."""
    path, key = local_blendfile(blendfile)
    settings = parse_blender_args(["--render-output", f"{out}/######", "--render-format", "PNG",
                                   "--render-frame", str(frame)])
    events: list[dict[str, Any]] = []
    renderer.run({"op": "render", "blendfile": path, "key": key, "settings": settings.to_json(),
                  "overrides": check_overrides(overrides), "persistent_data": True},
                 events.append, lambda line: None, lambda: None)
    return str(next(e["path"] for e in events if e["ev"] == "frame"))


def test_overrides_change_what_is_rendered_and_the_next_job_gets_the_files_settings(
    renderer: Renderer, tiny_blend: str, tmp_path: Path
) -> None:
    own = read_png(render_frame(renderer, tiny_blend, tmp_path / "own", {}))
    one_sample = read_png(render_frame(renderer, tiny_blend, tmp_path / "one",
                                       {"cycles.samples": 1}))
    half = read_png(render_frame(renderer, tiny_blend, tmp_path / "half",
                                 {"render.resolution_percentage": 50, "cycles.samples": 1}))
    again = read_png(render_frame(renderer, tiny_blend, tmp_path / "again", {}))

    assert own[:2] == one_sample[:2] == (32, 32)
    # The cube's edges: four samples blend them, one sample makes each pixel in or out.
    assert own[2] != one_sample[2]
    levels = {px for row in one_sample[2] for px in row}
    assert len(levels) < len({px for row in own[2] for px in row}), levels
    assert half[:2] == (16, 16)
    # The file stays open between requests, but what a job changed goes back for the next.
    assert again == own


def test_a_camera_or_view_layer_the_file_lacks_fails_the_task_by_name(
    renderer: Renderer, tiny_blend: str, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="override camera: 'Nope' is not a camera object "
                                           r"of the file \(its cameras: Camera\)"):
        render_frame(renderer, tiny_blend, tmp_path, {"camera": "Nope"})
    with pytest.raises(CommandError, match="override view_layer: scene 'Scene' has no view "
                                           "layer 'Nope'"):
        render_frame(renderer, tiny_blend, tmp_path, {"view_layer": "Nope"})
    assert read_png(render_frame(renderer, tiny_blend, tmp_path,
                                 {"camera": "Camera", "view_layer": "ViewLayer"}))[:2] == (32, 32)


# --- through a manager -------------------------------------------------------------------


def test_a_submitted_override_renders_on_a_worker(manager, start_worker, tiny_blend, tmp_path):
    out = tmp_path / "out"
    job = manager.api.submit_render(tiny_blend, str(out), "1-2", chunk_size=2, name="half",
                                    samples=1, resolution_percentage=50, denoise=False)
    start_worker("w1")
    wait_for(lambda: _done(manager.api, job), 90, "the job to complete")
    frames = sorted(out.glob("*.png"))
    assert [f.name for f in frames] == ["000001.png", "000002.png"]
    assert all(read_png(str(f))[:2] == (16, 16) for f in frames)
