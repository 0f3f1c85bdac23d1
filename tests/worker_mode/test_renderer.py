"""The render process itself (real bpy), without a manager."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from worker_mode.blender_args import parse_blender_args
from worker_mode.errors import CommandError, TaskAbandoned
from worker_mode.files import local_blendfile
from worker_mode.renderer import Renderer

from .conftest import _make_blend
from .helpers import bright_center_x


@pytest.fixture(scope="module")
def renderer():
    r = Renderer("CPU")
    yield r
    r.shutdown()


def render(renderer, blendfile, out, frames, stop=lambda: None, **extra):
    path, key = local_blendfile(blendfile)
    settings = parse_blender_args(["--render-output", f"{out}/######", "--render-format", "PNG",
                                   "--render-frame", frames])
    events, lines = [], []
    request = {"op": "render", "blendfile": path, "key": key, "settings": settings.to_json(),
               "persistent_data": True, "preview_dir": str(out), "preview_interval": 0,
               "preview_size": 16, **extra}
    renderer.run(request, events.append, lines.append, stop)
    return events, lines


def test_frames_are_rendered_in_order_and_the_file_stays_open(renderer, tiny_blend, tmp_path):
    events, _ = render(renderer, tiny_blend, tmp_path, "1..2")
    assert events[0]["ev"] == "opened" and not events[0]["reused"]
    events2, _ = render(renderer, tiny_blend, tmp_path, "3,4")
    assert events2[0]["reused"]
    frames = [e for e in events + events2 if e["ev"] == "frame"]
    assert [e["frame"] for e in frames] == [1, 2, 3, 4]
    xs = [bright_center_x(e["path"]) for e in frames]
    assert xs == sorted(xs)
    assert all(Path(e["preview"]).read_bytes()[:4] == b"\x89PNG" for e in frames)


def test_a_changed_file_is_opened_again(renderer, blend_dir, tmp_path):
    blend = _make_blend(blend_dir / "changing.blend")
    render(renderer, blend, tmp_path, "1")
    os.utime(blend, (time.time() + 5, time.time() + 5))
    events, _ = render(renderer, blend, tmp_path, "1")
    assert events[0]["reused"] is False


def test_scripts_in_the_blend_do_not_run(renderer, blend_dir, tmp_path):
    marker = tmp_path / "script-ran"
    blend = _make_blend(blend_dir / "script.blend", "--script-marker", str(marker))
    render(renderer, blend, tmp_path, "1")
    assert not marker.exists()


def test_blender_errors_fail_the_request_and_the_process_lives_on(renderer, tiny_blend, tmp_path):
    path, key = local_blendfile(tiny_blend)
    settings = parse_blender_args(["--scene", "Nope", "-f", "1"])
    with pytest.raises(CommandError, match="scene 'Nope' is not in the file"):
        renderer.run({"op": "render", "blendfile": path, "key": key,
                      "settings": settings.to_json()}, lambda e: None, lambda s: None,
                     lambda: None)
    render(renderer, tiny_blend, tmp_path, "1")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="blend file not found"):
        local_blendfile(str(tmp_path / "nope.blend"))


def test_a_crash_fails_the_request_with_the_log_tail(renderer, slow_blend, tiny_blend, tmp_path):
    pid = renderer.ensure_started().pid
    threading.Timer(3.0, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(CommandError, match="Blender crashed") as info:
        render(renderer, slow_blend, tmp_path, "1")
    # The log tail is part of the message: Blender's last lines, reading the file or, when
    # the render had time to print its progress, its samples.
    message = str(info.value)
    assert "last output:\n" in message and ("Read blend" in message or "Fra:1" in message)
    render(renderer, tiny_blend, tmp_path, "1")  # A new render process takes over.
    assert renderer.process.pid != pid


def test_a_render_is_abandoned_mid_frame_within_seconds(renderer, slow_blend, tmp_path):
    asked = []

    def stop():
        if asked and time.monotonic() - asked[0] > 0:
            return "cancelled by test"
        return None

    threading.Timer(2.0, lambda: asked.append(time.monotonic())).start()
    started = time.monotonic()
    with pytest.raises(TaskAbandoned):
        render(renderer, slow_blend, tmp_path, "1", stop=stop)
    assert time.monotonic() - asked[0] < 2.0
    assert time.monotonic() - started < 10
    assert not list(tmp_path.glob("*.png"))


def test_a_frame_over_max_frame_seconds_is_stopped_and_fails(renderer, slow_blend, tiny_blend,
                                                              tmp_path):
    path, key = local_blendfile(slow_blend)
    settings = parse_blender_args(["--render-output", f"{tmp_path}/######", "--render-frame", "1"])
    request = {"op": "render", "blendfile": path, "key": key, "settings": settings.to_json()}
    pid = renderer.ensure_started().pid
    with pytest.raises(CommandError, match=r"frame 1 ran longer than max_frame_seconds \(2 s\)"):
        renderer.run(request, lambda event: None, lambda line: None, lambda: None,
                     max_frame_seconds=2)
    assert renderer.process is None  # killed mid-frame, not left rendering
    render(renderer, tiny_blend, tmp_path, "1")  # a new render process takes the next task
    assert renderer.process.pid != pid
