"""Frames are checked where Blender wrote them: cut short, wrong size or undecodable fails the
render; all black is only flagged in the task log. Real bpy renders, and the container checks
on real files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from worker_mode.frame_check import BadFrame, check_frame_file

RUN = Path(__file__).with_name("render_child_run.py")


def run_child(blend: str, out: Path, frames: str, *options: str) -> list[dict[str, Any]]:
    """The render process's messages for one request, rendered by real bpy."""
    done = subprocess.run([sys.executable, str(RUN), blend, str(out), frames, *options],
                          capture_output=True, text=True, timeout=180)
    assert "MESSAGES" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    tail = done.stdout.split("MESSAGES\n", 1)[1]
    return [json.loads(line) for line in tail.splitlines() if line.startswith("{")]


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["ev"] for m in messages]


def test_a_frame_cut_short_after_blender_wrote_it_fails_the_render(tiny_blend, tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1..2", "--damage", "truncate")
    assert "frame" not in kinds(messages)
    error = messages[-1]
    assert error["ev"] == "error"
    assert "frame 1" in error["message"] and "000001.png" in error["message"]
    assert "cut short" in error["message"]


def test_a_multilayer_exr_cut_short_fails_the_render(tiny_blend, tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1", "--format", "OPEN_EXR_MULTILAYER",
                         "--damage", "truncate")
    assert messages[-1]["ev"] == "error"
    assert "000001.exr" in messages[-1]["message"] and "cut short" in messages[-1]["message"]


def test_a_frame_of_the_wrong_size_fails_the_render(tiny_blend, tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1", "--damage", "resize")
    assert messages[-1] == {
        "ev": "error",
        "message": f"frame 1 ({tmp_path}/000001.png) is 16x32 pixels, but scene 'Scene' "
                   "renders 32x32",
    }


@pytest.mark.parametrize("fmt", ["PNG", "OPEN_EXR", "OPEN_EXR_MULTILAYER"])
def test_good_frames_pass_without_a_warning(tiny_blend, tmp_path, fmt):
    messages = run_child(tiny_blend, tmp_path, "1..2", "--format", fmt)
    assert kinds(messages)[-3:] == ["frame", "frame", "done"]
    assert not [m for m in messages if m["ev"] == "log"]


def test_a_frame_cropped_to_the_render_region_has_the_size_blender_gives_it(tiny_blend,
                                                                             tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1", "--crop")
    assert kinds(messages)[-2:] == ["frame", "done"], messages


@pytest.mark.parametrize("fmt", ["PNG", "OPEN_EXR"])
def test_an_all_black_frame_is_flagged_in_the_log_and_still_delivered(tiny_blend, tmp_path,
                                                                      fmt):
    messages = run_child(tiny_blend, tmp_path, "1", "--format", fmt, "--dark")
    assert kinds(messages)[-3:] == ["log", "frame", "done"]
    line = messages[-3]["line"]
    assert line.startswith("WARNING: frame 1 is all black")
    assert "light" not in line  # an opaque film says nothing about what was rendered


def test_a_black_frame_over_a_transparent_film_says_objects_got_no_light(tiny_blend, tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1", "--dark", "--transparent")
    line = next(m["line"] for m in messages if m["ev"] == "log")
    assert "all black" in line and "no light reached them" in line
    assert messages[-1]["ev"] == "done"


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"),
                                         ("WEBP", ".webp")])
def test_image_files_cut_anywhere_are_refused(tmp_path, fmt, suffix):
    data = _image(fmt)
    whole = tmp_path / f"whole{suffix}"
    whole.write_bytes(data)
    facts = check_frame_file(whole)
    assert facts is not None and facts.format == fmt
    if fmt != "WEBP":
        assert (facts.width, facts.height) == (64, 48)
    for keep in (0, 10, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(data[:keep])
        with pytest.raises(BadFrame):
            check_frame_file(cut)


def test_an_exr_cut_anywhere_is_refused(tiny_blend, tmp_path):
    messages = run_child(tiny_blend, tmp_path, "1", "--format", "OPEN_EXR")
    path = Path(messages[-2]["path"])
    data = path.read_bytes()
    facts = check_frame_file(path)
    assert facts is not None and (facts.width, facts.height) == (32, 32)
    assert not facts.layered
    for keep in (5, 100, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:keep])
        with pytest.raises(BadFrame, match="cut short|OpenEXR"):
            check_frame_file(path)


def test_a_file_of_another_kind_than_its_name_is_refused(tmp_path):
    path = tmp_path / "000001.png"
    path.write_bytes(_image("JPEG"))
    with pytest.raises(BadFrame, match="not a PNG"):
        check_frame_file(path)
