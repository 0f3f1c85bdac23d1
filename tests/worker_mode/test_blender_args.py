from __future__ import annotations

import pytest

from worker_mode.blender_args import ArgsError, parse_blender_args, resolve_frames


def test_flamenco_render_args_become_settings():
    settings = parse_blender_args([
        "--scene", "Scene", "--render-output", "/out/######", "--render-format", "PNG",
        "--render-frame", "1..3,7",
    ])
    assert settings.scene == "Scene"
    assert settings.output == "/out/######"
    assert settings.file_format == "PNG"
    assert resolve_frames(settings.frames or "") == [1, 2, 3, 7]


def test_short_options_and_format_names_are_understood():
    settings = parse_blender_args(["-b", "-S", "Shot", "-o", "//x_", "-F", "exr", "-E", "cycles",
                                   "-t", "4", "-f", "5"])
    assert (settings.scene, settings.output, settings.file_format) == ("Shot", "//x_", "OPEN_EXR")
    assert (settings.engine, settings.threads, settings.frames) == ("CYCLES", 4, "5")


def test_relative_frames_follow_blender():
    assert resolve_frames("+0..+2", start=10, end=20) == [10, 11, 12]
    assert resolve_frames("-1", start=10, end=20) == [20]


def test_render_anim_uses_the_scene_range():
    settings = parse_blender_args(["-s", "3", "-e", "5", "-a"])
    assert settings.animation and (settings.frame_start, settings.frame_end) == (3, 5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--python-expr", "import os", "-f", "1"], "runs Python code"),
        (["-y", "-f", "1"], "scripts"),
        (["--render-format", "FFMPEG", "-f", "1"], "movie formats"),
        (["--render-frame", "1", "--render-output", "/x"], "after the render action"),
        (["--render-frame", "3..1"], "backwards"),
        (["--render-frame", "a"], "not a frame number"),
        (["--scene", "S"], "nothing to render"),
        (["--frobnicate", "-f", "1"], "unsupported Blender argument '--frobnicate'"),
        (["--render-output"], "needs a value"),
    ],
)
def test_arguments_that_cannot_be_applied_safely_are_refused(args, message):
    with pytest.raises(ArgsError, match=message):
        parse_blender_args(args)
