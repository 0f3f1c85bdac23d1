"""The small commands and the ffmpeg-argument translation."""

from __future__ import annotations

import threading

import pytest

from worker_mode.commands import copy_file, echo, make_directory, move_directory, sleep
from worker_mode.context import CommandContext
from worker_mode.errors import CommandError, TaskAbandoned
from worker_mode.render_commands import ffmpeg_args_to_settings


class FakeReporter:
    def __init__(self):
        self.lines: list[str] = []
        self.cancel_reason = None

    def log(self, line):
        self.lines.append(line)

    def set_activity(self, text):
        pass


def ctx():
    return CommandContext("t", FakeReporter(), None, threading.Event(), "/tmp")  # type: ignore[arg-type]


def test_file_commands(tmp_path):
    c = ctx()
    make_directory(c, {"path": str(tmp_path / "a" / "b")})
    (tmp_path / "a" / "b" / "f.txt").write_text("x")
    copy_file(c, {"src": str(tmp_path / "a" / "b" / "f.txt"), "dest": str(tmp_path / "c.txt")})
    assert (tmp_path / "c.txt").read_text() == "x"
    with pytest.raises(CommandError, match="already exists"):
        copy_file(c, {"src": str(tmp_path / "c.txt"), "dest": str(tmp_path / "c.txt")})
    (tmp_path / "dest").mkdir()
    move_directory(c, {"src": str(tmp_path / "a"), "dest": str(tmp_path / "dest")})
    assert (tmp_path / "dest" / "b" / "f.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("dest-")]  # Old one kept.


def test_echo_and_sleep():
    c = ctx()
    echo(c, {"message": "hi"})
    assert c.reporter.lines == ["hi"]
    sleep(c, {"duration_in_seconds": 0.05})
    with pytest.raises(CommandError, match="duration_in_seconds"):
        sleep(c, {"duration_in_seconds": "long"})


def test_sleep_stops_when_the_task_is_cancelled():
    c = ctx()
    c.reporter.cancel_reason = "cancelled"
    with pytest.raises(TaskAbandoned):
        sleep(c, {"duration_in_seconds": 60})


def test_flamenco_ffmpeg_args_map_to_blender_settings():
    args = ["-c:v", "h264", "-crf", "20", "-g", "18", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt", "yuv420p", "-r", "24", "-y"]
    settings = ffmpeg_args_to_settings(args, "/out/v.mp4")
    assert settings == {"container": "MPEG4", "codec": "H264", "quality": "HIGH", "gop": 18,
                        "fps": 24.0}
    with pytest.raises(CommandError, match="not supported"):
        ffmpeg_args_to_settings(["-filter_complex", "x"], "/out/v.mp4")
