"""Commands of a task (``AssignedTask.commands[]``), by name."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

from .context import CommandContext
from .errors import CommandError
from .render_commands import blender_render, frames_to_video

log = logging.getLogger(__name__)

Params = dict[str, Any]


def _path(params: Params, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise CommandError(f"parameter {key!r} must be a non-empty path")
    return value


def echo(ctx: CommandContext, params: Params) -> None:
    message = params.get("message", "")
    ctx.log(str(message))
    log.info("echo: %s", message)


def sleep(ctx: CommandContext, params: Params) -> None:
    duration = params.get("duration_in_seconds")
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
        raise CommandError("parameter 'duration_in_seconds' must be a number >= 0")
    ctx.activity(f"sleeping {duration} s")
    ctx.sleep(float(duration))


def make_directory(ctx: CommandContext, params: Params) -> None:
    path = _path(params, "path")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create directory {path}: {exc}") from exc
    ctx.log(f"created directory {path}")


def move_directory(ctx: CommandContext, params: Params) -> None:
    src, dest = _path(params, "src"), _path(params, "dest")
    if not os.path.isdir(src):
        raise CommandError(f"cannot move {src}: not a directory")
    if os.path.exists(dest):
        # Flamenco keeps what was there: the old output goes aside with a timestamp suffix.
        stamp = int(os.path.getmtime(dest))
        aside = f"{dest.rstrip(os.sep)}-{stamp}"
        ctx.log(f"{dest} exists; moving it to {aside}")
        try:
            os.replace(dest, aside)
        except OSError as exc:
            raise CommandError(f"cannot move existing {dest} aside: {exc}") from exc
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        shutil.move(src, dest)
    except OSError as exc:
        raise CommandError(f"cannot move {src} to {dest}: {exc}") from exc
    ctx.log(f"moved {src} to {dest}")


def copy_file(ctx: CommandContext, params: Params) -> None:
    src, dest = _path(params, "src"), _path(params, "dest")
    if not os.path.isfile(src):
        raise CommandError(f"cannot copy {src}: no such file")
    if os.path.exists(dest):
        raise CommandError(f"cannot copy to {dest}: it already exists")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        shutil.copy2(src, dest)
    except OSError as exc:
        raise CommandError(f"cannot copy {src} to {dest}: {exc}") from exc
    ctx.log(f"copied {src} to {dest}")


COMMANDS: dict[str, Callable[[CommandContext, Params], None]] = {
    "blender-render": blender_render,
    "frames-to-video": frames_to_video,
    "echo": echo,
    "sleep": sleep,
    "make-directory": make_directory,
    "move-directory": move_directory,
    "copy-file": copy_file,
}
