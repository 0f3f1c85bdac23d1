"""``blender-render`` and ``frames-to-video``: requests to the render process."""

from __future__ import annotations

import glob
import logging
import os
import shutil
from typing import Any

from .blender_args import ArgsError, parse_blender_args
from .context import CommandContext
from .defaults import PREVIEW_MAX_SIZE, PREVIEW_MIN_INTERVAL_S
from .errors import CommandError
from .files import local_blendfile
from .job_files import CacheError, JobFiles, UploadError, is_checkout_path
from .render_overrides import OverrideError, check_overrides

log = logging.getLogger(__name__)


def _flag(value: Any) -> bool:
    """A boolean parameter that a job type may have written as text ("false", "0")."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def _seconds(value: Any, name: str) -> float | None:
    """A time limit parameter: a number of seconds; empty, 0 or absent is no limit."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"blender-render: {name} must be a number of seconds") from exc
    if seconds < 0 or seconds != seconds:
        raise CommandError(f"blender-render: {name} must be 0 (no limit) or more")
    return seconds or None


def _render_device(value: Any) -> str | None:
    """The job's ``render_device``: GPU, CPU, or empty/FILE for what the file says."""
    text = str(value or "").strip().upper()
    if text in ("", "FILE", "AUTO"):
        return None
    if text not in ("GPU", "CPU"):
        raise CommandError(f"blender-render: render_device {value!r} is not GPU, CPU or FILE")
    return text


def blender_render(ctx: CommandContext, params: dict[str, Any]) -> None:
    args = params.get("args", [])
    before = params.get("argsBefore", []) or []
    try:
        settings = parse_blender_args(list(before) + list(args))
    except (ArgsError, TypeError) as exc:
        raise CommandError(f"blender-render: {exc}") from exc
    try:
        # The manager checked them too; a worker trusts no job to stay inside the allow-list.
        overrides = check_overrides(params.get("overrides"))
    except OverrideError as exc:
        raise CommandError(f"blender-render: overrides: {exc}") from exc
    settings.device = _render_device(params.get("render_device"))
    job_files = ctx.job_files if is_checkout_path(params.get("blendfile")) else None
    blendfile_param = params.get("blendfile", "")
    if job_files is not None:
        # No shared storage: the job's files come from the manager, frames go back to it.
        try:
            blendfile_param = job_files.local_blendfile(ctx.job_id, blendfile_param, ctx.activity)
        except CacheError as exc:
            raise CommandError(str(exc)) from exc
        if settings.output:
            settings.output = job_files.local_output(ctx.job_id, settings.output)
    upload_errors: list[str] = []
    blendfile, key = local_blendfile(blendfile_param, from_file_cache=job_files is not None)
    request = {
        "op": "render",
        "blendfile": blendfile,
        "key": key,
        "settings": settings.to_json(),
        "overrides": overrides,
        "persistent_data": _flag(params.get("persistent_data", True)),
        "preview_dir": ctx.preview_dir,
        "preview_interval": PREVIEW_MIN_INTERVAL_S,
        "preview_size": PREVIEW_MAX_SIZE,
    }
    frames_done = 0

    def on_event(event: dict[str, Any]) -> None:
        nonlocal frames_done
        kind = event.get("ev")
        if kind == "opened":
            name = os.path.basename(blendfile)
            if event.get("reused"):
                line = f"reusing open file {name}"
            else:
                line = f"opened {name} in {event.get('seconds', 0):.1f} s"
            log.info(line)
            ctx.activity(line)
        elif kind == "frames":
            frames = event.get("frames", [])
            if event.get("device"):
                ctx.log(str(event["device"]))
            ctx.activity(f"rendering {len(frames)} frames of scene {event.get('scene')}")
        elif kind == "frame":
            frames_done += 1
            line = (
                f"frame {event['frame']} ({event['index'] + 1}/{event['count']}) rendered in "
                f"{event['seconds']:.2f} s: {event['path']}"
            )
            log.info(line)
            ctx.activity(line)
            ctx.steps(frames_done)
            if event.get("preview"):
                ctx.reporter.add_preview(event["preview"])
            if job_files is not None and not upload_errors:
                try:  # while Blender renders the next frame
                    job_files.upload(ctx.task_id, event["path"])
                    ctx.log(f"uploaded {os.path.basename(event['path'])} to the manager")
                except (UploadError, OSError) as exc:
                    upload_errors.append(str(exc))
        elif kind == "log":
            ctx.log(str(event.get("line", "")))

    ctx.renderer.run(request, on_event, ctx.log, ctx.should_stop,
                     max_frame_seconds=_seconds(params.get("max_frame_seconds"),
                                                "max_frame_seconds"))
    if upload_errors:
        raise CommandError(f"frame not delivered to the manager: {upload_errors[0]}")


_CODECS = {
    "h264": ("MPEG4", "H264"),
    "libx264": ("MPEG4", "H264"),
    "h265": ("MPEG4", "H265"),
    "hevc": ("MPEG4", "H265"),
    "libx265": ("MPEG4", "H265"),
    "libvpx-vp9": ("WEBM", "WEBM"),
    "vp9": ("WEBM", "WEBM"),
    "libaom-av1": ("MKV", "AV1"),
    "av1": ("MKV", "AV1"),
    "prores": ("QUICKTIME", "PRORES"),
    "prores_ks": ("QUICKTIME", "PRORES"),
    "ffv1": ("MKV", "FFV1"),
}
_CRF_LEVELS = [(0, "LOSSLESS"), (17, "PERC_LOSSLESS"), (20, "HIGH"), (23, "MEDIUM"),
               (26, "LOW"), (29, "VERYLOW"), (32, "LOWEST")]
_CONTAINERS = {".mp4": "MPEG4", ".mkv": "MKV", ".webm": "WEBM", ".mov": "QUICKTIME",
               ".avi": "AVI", ".ogv": "OGG"}


def ffmpeg_args_to_settings(args: list[str], output: str) -> dict[str, Any]:
    """Blender's FFmpeg settings for the ffmpeg arguments Flamenco's job types pass."""
    container = _CONTAINERS.get(os.path.splitext(output)[1].lower(), "MPEG4")
    settings: dict[str, Any] = {"container": container, "codec": "H264", "quality": "MEDIUM"}
    i = 0
    while i < len(args):
        arg = str(args[i])
        nxt = str(args[i + 1]) if i + 1 < len(args) else None
        if arg in ("-y", "-n"):
            i += 1
            continue
        if nxt is None:
            raise CommandError(f"frames-to-video: ffmpeg argument {arg} needs a value")
        if arg in ("-c:v", "-vcodec", "-codec:v"):
            if nxt not in _CODECS:
                raise CommandError(f"frames-to-video: video codec {nxt!r} is not supported")
            container_for_codec, settings["codec"] = _CODECS[nxt]
            if container == "MPEG4" and container_for_codec != "MPEG4":
                settings["container"] = container_for_codec
        elif arg == "-crf":
            try:
                crf = int(float(nxt))
            except ValueError:
                raise CommandError(f"frames-to-video: -crf {nxt!r} is not a number") from None
            settings["quality"] = min(_CRF_LEVELS, key=lambda level: abs(level[0] - crf))[1]
        elif arg == "-g":
            settings["gop"] = int(nxt)
        elif arg == "-r":
            settings["fps"] = float(nxt)
        elif arg == "-pix_fmt":
            pass  # Blender picks the codec's usual pixel format (yuv420p for H.264).
        elif arg == "-vf":
            if not nxt.startswith("pad="):
                raise CommandError(f"frames-to-video: video filter {nxt!r} is not supported")
            # Padding to even sizes: the encoder step already does that.
        else:
            raise CommandError(f"frames-to-video: ffmpeg argument {arg!r} is not supported")
        i += 2
    return settings


def frames_to_video(ctx: CommandContext, params: dict[str, Any]) -> None:
    pattern = params.get("inputGlob")
    output = params.get("outputFile")
    if not isinstance(pattern, str) or not isinstance(output, str) or not output:
        raise CommandError("frames-to-video needs 'inputGlob' and 'outputFile'")
    job_files = ctx.job_files
    from_store = job_files is not None and _job_uses_file_store(job_files, ctx.job_id)
    if from_store:
        assert job_files is not None
        # No shared storage: the frames are on the manager, and so goes the video.
        name_pattern = os.path.basename(pattern.replace("\\", "/"))
        try:
            frames = job_files.fetch_frames(ctx.job_id, name_pattern, ctx.activity)
        except CacheError as exc:
            raise CommandError(f"frames-to-video: {exc}") from exc
        inputs = [str(path) for path in frames]
        output = str(frames[0].parent.parent / os.path.basename(output)) if frames else output
    else:
        inputs = sorted(glob.glob(pattern))
    if not inputs:
        raise CommandError(f"frames-to-video: no files match {pattern}")
    args = params.get("args", []) or []
    if not isinstance(args, list):
        raise CommandError("frames-to-video: 'args' must be a list")
    settings = ffmpeg_args_to_settings(args, output)
    fps = settings.pop("fps", None) or params.get("fps", 24.0)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise CommandError(f"frames-to-video: fps {fps!r} is not a number") from None
    if fps <= 0:
        raise CommandError("frames-to-video: fps must be positive")
    request = {"op": "video", "inputs": inputs, "output": output, "fps": fps, **settings}
    ctx.activity(f"encoding {len(inputs)} frames to {output}")
    log.info("encoding %d frames to %s", len(inputs), output)

    def on_event(event: dict[str, Any]) -> None:
        if event.get("ev") == "log":
            ctx.log(str(event.get("line", "")))

    ctx.renderer.run(request, on_event, ctx.log, ctx.should_stop)
    if from_store:
        assert job_files is not None
        try:
            job_files.upload(ctx.task_id, output)
        except (UploadError, OSError) as exc:
            raise CommandError(f"video not delivered to the manager: {exc}") from exc
        shutil.rmtree(os.path.dirname(inputs[0]), ignore_errors=True)
        ctx.log(f"uploaded {os.path.basename(output)} to the manager")
    else:
        ctx.log(f"wrote {output}")


def _job_uses_file_store(job_files: JobFiles, job_id: str) -> bool:
    try:
        return job_files.uses_file_store(job_id)
    except CacheError as exc:
        raise CommandError(f"frames-to-video: {exc}") from exc
