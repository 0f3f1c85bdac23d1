"""The render process: keeps one .blend open in bpy and renders frames on request.

This is the only module of worker_mode that imports bpy at module level. It runs in a child
process of the worker (see ``render_process``), so that a render can be abandoned at any
moment by killing the process: Blender has no Python call that aborts a blocking render.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import bpy

from . import devices
from .blender_args import RenderSettings, resolve_frames
from .blender_compat import render_one_frame, split_media_type, video_strips
from .defaults import BLACK_CHECK_SIZE, BLACK_LEVEL
from .frame_check import BadFrame, check_frame_file, format_of
from .frame_pixels import read_pixels
from .protocol import DEVICE_ENV, PINS_ENV, PORT_ENV, TOKEN_ENV, Channel
from .render_overrides import RENDER_SETTINGS

log = logging.getLogger(__name__)

class RenderError(Exception):
    """A render request that cannot be carried out; the message goes to the task log."""


def _flush_c_stdio() -> None:
    """Flush Blender's C-level stdout so its log lines reach the worker in order."""
    sys.stdout.flush()
    if sys.platform != "win32":
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):
            pass


def cycles_preferences() -> Any:
    addon = bpy.context.preferences.addons.get("cycles")
    return addon.preferences if addon is not None else None


def set_up_devices(device: str | None, pins: list[int] | None) -> dict[str, Any]:
    """List the render devices, enable the ones this process renders on; what the hello says
    of them. Raises DeviceError when the GPUs asked for are not there."""
    prefs = cycles_preferences()
    listed = devices.list_devices(prefs) if prefs is not None else []
    facts: dict[str, Any] = {"devices": [d.as_json() for d in listed], "gpu": None,
                             "gpu_ids": [], "active_gpu_ids": []}
    if device == "CPU":
        return facts
    try:
        choice = devices.choose(listed, gpu=True, pins=pins)
    except devices.DeviceError:
        if device == "GPU":
            raise
        return facts  # No GPU here: files that ask for one render on the CPU.
    # Without --gpu too: a file that asks for the GPU then gets it, instead of Cycles'
    # quiet fall-back to the CPU that factory preferences (no compute device) would give.
    facts["gpu"] = [choice.gpu_type, [d.name for d in choice.gpus]]
    facts["gpu_ids"] = [d.id for d in choice.gpus]
    facts["active_gpu_ids"] = devices.pin(prefs, choice) if prefs is not None else []
    return facts


def render_size(render: Any) -> tuple[int, int, int] | None:
    """Width, height and the slack in pixels of the frames Blender writes for these settings.

    Blender truncates the percentage scaling (``BKE_render_resolution``); a crop to the render
    region multiplies in single precision, hence one pixel of slack. None for stereo views,
    which Blender may write side by side or one above the other.
    """
    if render.use_multiview:
        return None
    width = render.resolution_x * render.resolution_percentage // 100
    height = render.resolution_y * render.resolution_percentage // 100
    if render.use_border and render.use_crop_to_border:
        width = int(width * (render.border_max_x - render.border_min_x))
        height = int(height * (render.border_max_y - render.border_min_y))
        return width, height, 1
    return width, height, 0


class RenderChild:
    """Serves render and video requests from the worker, one at a time."""

    def __init__(
        self, channel: Channel, device: str | None, hardware: dict[str, Any] | None = None
    ) -> None:
        self.channel = channel
        self.device = device
        self.hardware = hardware or {}
        """What ``set_up_devices`` found: listed devices, chosen and enabled GPUs."""
        self.open_key: str | None = None
        self._originals: dict[tuple[int, str], tuple[Any, Any]] = {}
        """(struct pointer, attribute) -> (struct, value in the file) of what requests changed."""
        self._wanted: set[tuple[int, str]] = set()
        self._last_preview = 0.0
        self._preview_count = 0

    # -- plumbing -------------------------------------------------------------------------

    def send(self, **message: Any) -> None:
        _flush_c_stdio()
        self.channel.send(message)

    def serve(self) -> None:
        while True:
            request = self.channel.recv()
            if request is None or request.get("op") == "quit":
                return
            op = request.get("op")
            try:
                if op == "render":
                    self.render(request)
                elif op == "video":
                    self.video(request)
                else:
                    raise RenderError(f"unknown request {op!r}")
            except RenderError as exc:
                self.send(ev="error", message=str(exc))
            except Exception as exc:  # noqa: BLE001 - anything bpy raises fails the task only.
                traceback.print_exc()
                self.send(ev="error", message=f"{type(exc).__name__}: {exc}")
            else:
                self.send(ev="done")

    def _set(self, owner: Any, attr: str, value: Any) -> None:
        """Change a property for this request, remembering the file's own value."""
        key = (owner.as_pointer(), attr)
        self._wanted.add(key)
        if key not in self._originals:
            self._originals[key] = (owner, getattr(owner, attr))
        if getattr(owner, attr) == value:
            return
        try:
            setattr(owner, attr, value)
        except (TypeError, ValueError, AttributeError) as exc:
            raise RenderError(f"cannot set {attr} to {value!r}: {exc}") from exc

    def _restore_unwanted(self) -> None:
        """Put back what the previous request changed and this one does not.

        Only those: setting a property to the value it already has would still tag the scene,
        and toggling Persistent Data off and on would throw away what Cycles kept.
        """
        for key in [k for k in self._originals if k not in self._wanted]:
            owner, old = self._originals.pop(key)
            try:
                setattr(owner, key[1], old)
            except (TypeError, ValueError, AttributeError, ReferenceError):
                self.open_key = None  # Cannot put the file back as it was: reload next time.

    # -- the open file --------------------------------------------------------------------

    def ensure_open(self, blendfile: str, key: str) -> None:
        if key == self.open_key:
            self.send(ev="opened", reused=True, seconds=0.0, file=blendfile)
            return
        self._originals.clear()
        self.open_key = None
        if not os.path.isfile(blendfile):
            raise RenderError(f"blend file not found: {blendfile}")
        bpy.context.preferences.filepaths.use_scripts_auto_execute = False
        started = time.perf_counter()
        try:
            bpy.ops.wm.open_mainfile(filepath=blendfile, load_ui=False, use_scripts=False)
        except RuntimeError as exc:
            raise RenderError(f"Blender could not open {blendfile}: {exc}") from exc
        self.open_key = key
        self.send(ev="opened", reused=False, seconds=time.perf_counter() - started, file=blendfile)

    def _scene(self, name: str | None) -> Any:
        if name:
            scene = bpy.data.scenes.get(name)
            if scene is None:
                names = ", ".join(s.name for s in bpy.data.scenes)
                raise RenderError(f"scene {name!r} is not in the file (it has: {names})")
            return scene
        return bpy.context.scene or bpy.data.scenes[0]

    # -- render ---------------------------------------------------------------------------

    def _apply(self, scene: Any, settings: RenderSettings, request: dict[str, Any]) -> None:
        render = scene.render
        if settings.output:
            self._set(render, "filepath", settings.output)
        image = render.image_settings
        if settings.file_format:
            self._set_file_format(image, settings.file_format)
        elif image.file_format == "FFMPEG":
            raise RenderError(
                f"scene {scene.name!r} renders to a movie file; a farm renders frames "
                "(give --render-format)"
            )
        if settings.engine:
            self._set(render, "engine", settings.engine)
        if settings.threads is not None:
            self._set(render, "threads_mode", "AUTO" if settings.threads == 0 else "FIXED")
            if settings.threads:
                self._set(render, "threads", settings.threads)
        if settings.use_extension is not None:
            self._set(render, "use_file_extension", settings.use_extension)
        for attr, value in (
            ("frame_start", settings.frame_start),
            ("frame_end", settings.frame_end),
            ("frame_step", settings.frame_jump),
        ):
            if value is not None:
                self._set(scene, attr, value)
        self._set(render, "use_persistent_data", bool(request.get("persistent_data", True)))
        self._set(render, "use_overwrite", True)
        self._set(render, "use_placeholder", False)
        self._apply_overrides(scene, request.get("overrides") or {})
        if render.engine == "CYCLES":
            wanted = settings.device or self.device
            if settings.device == "GPU":
                self._check_gpu()
            if wanted:
                self._set(scene.cycles, "device", wanted)

    def _check_gpu(self) -> None:
        """Fail a job that asks for the GPU where Cycles would quietly render on the CPU."""
        if self.hardware.get("active_gpu_ids"):
            return
        if self.device == "CPU":
            why = "this worker renders on the CPU (started with --cpu, or the CPU slot)"
        elif self.hardware.get("gpu_ids"):
            names = ", ".join(self.hardware["gpu"][1])
            why = f"Cycles could not enable its GPU ({names})"
        else:
            why = "Cycles lists no GPU on this worker"
        raise RenderError(
            f"this job renders on the GPU, but {why}: Cycles would fall back to the CPU, "
            "many times slower, so the task fails here for a GPU worker to take it"
        )

    def _device_line(self, scene: Any) -> str:
        """Which device renders, for the task log."""
        render = scene.render
        if render.engine != "CYCLES":
            return f"render engine {render.engine}"
        if scene.cycles.device == "GPU" and self.hardware.get("active_gpu_ids"):
            gpu_type, names = self.hardware["gpu"]
            return f"Cycles renders on the GPU: {', '.join(names)} ({gpu_type})"
        if scene.cycles.device == "GPU":
            return "Cycles renders on the CPU: the file asks for the GPU, but none is enabled"
        cpu = next((d["name"] for d in self.hardware.get("devices", [])
                    if d.get("type") == "CPU"), "")
        return "Cycles renders on the CPU" + (f": {cpu}" if cpu else "")

    def _set_file_format(self, image: Any, file_format: str) -> None:
        if hasattr(image, "media_type"):  # Blender 5.0 splits images from video.
            multilayer = file_format == "OPEN_EXR_MULTILAYER"
            self._set(image, "media_type", "MULTI_LAYER_IMAGE" if multilayer else "IMAGE")
        self._set(image, "file_format", file_format)

    def _apply_overrides(self, scene: Any, overrides: dict[str, Any]) -> None:
        """Set the job's render-setting overrides (checked by the worker against the allow-list
        in ``render_overrides``), each remembered like any other change so the next job gets
        the file's own value back."""
        for path, value in overrides.items():
            kind = RENDER_SETTINGS[path].kind
            if kind == "camera":
                camera = bpy.data.objects.get(value)
                if camera is None or camera.type != "CAMERA":
                    names = ", ".join(o.name for o in bpy.data.objects if o.type == "CAMERA")
                    raise RenderError(f"override camera: {value!r} is not a camera object of "
                                      f"the file (its cameras: {names or 'none'})")
                self._set(scene, "camera", camera)
            elif kind == "view_layer":
                if scene.view_layers.get(value) is None:
                    names = ", ".join(layer.name for layer in scene.view_layers)
                    raise RenderError(f"override view_layer: scene {scene.name!r} has no view "
                                      f"layer {value!r} (it has: {names})")
                for layer in scene.view_layers:
                    self._set(layer, "use", layer.name == value)
            elif path == "render.image_settings.file_format":
                self._set_file_format(scene.render.image_settings, value)
            else:
                owner_path, _, attr = path.rpartition(".")
                owner = scene
                for part in owner_path.split(".") if owner_path else ():
                    owner = getattr(owner, part, None)
                    if owner is None:
                        raise RenderError(f"override {path}: this Blender has no {part!r} "
                                          f"settings (is its add-on enabled?)")
                self._set(owner, attr, value)

    def render(self, request: dict[str, Any]) -> None:
        settings = RenderSettings(**request["settings"])
        self.ensure_open(request["blendfile"], request["key"])
        scene = self._scene(settings.scene)
        self._wanted = set()
        self._apply(scene, settings, request)
        self._restore_unwanted()
        if settings.animation:
            frames = list(range(scene.frame_start, scene.frame_end + 1, scene.frame_step))
        else:
            frames = resolve_frames(settings.frames or "", scene.frame_start, scene.frame_end)
        self.send(ev="frames", frames=frames, scene=scene.name, engine=scene.render.engine,
                  device=self._device_line(scene))
        for index, frame in enumerate(frames):
            started = time.perf_counter()
            render_one_frame(scene, frame)
            seconds = time.perf_counter() - started
            path = scene.render.frame_path(frame=frame)
            if not os.path.isfile(path):
                raise RenderError(f"Blender did not write frame {frame} to {path}")
            image = self._check_frame(scene, frame, path)
            try:
                preview = self._preview(path, request, last=index == len(frames) - 1,
                                        image=image)
                self._flag_black(scene, frame, path, image)
            finally:
                if image is not None:
                    image.free()
            self.send(ev="frame", frame=frame, index=index, count=len(frames), path=path,
                      seconds=seconds, preview=preview)

    def _check_frame(self, scene: Any, frame: int, path: str) -> Any:
        """Fail on a frame file that is cut short, does not decode or has the wrong size.

        Returns the frame loaded with imbuf, for the preview and the black-frame check; None
        for a multilayer OpenEXR, which imbuf cannot read (its header gives the size).
        """
        try:
            facts = check_frame_file(path)
        except (BadFrame, OSError) as exc:
            raise RenderError(f"frame {frame} ({path}) is unusable: {exc}") from None
        image = None
        if facts is not None and facts.layered:
            size = (facts.width, facts.height)
        else:
            import imbuf

            try:
                image = imbuf.load(path)
            except (ValueError, OSError) as exc:
                raise RenderError(f"frame {frame} ({path}) does not decode: {exc}") from None
            size = tuple(image.size)
        expected = render_size(scene.render)
        if expected is not None:
            width, height, slack = expected
            if size[0] is None or size[1] is None or (
                abs(size[0] - width) > slack or abs(size[1] - height) > slack
            ):
                if image is not None:
                    image.free()
                raise RenderError(
                    f"frame {frame} ({path}) is {size[0]}x{size[1]} pixels, but scene "
                    f"{scene.name!r} renders {width}x{height}"
                )
        return image

    def _flag_black(self, scene: Any, frame: int, path: str, image: Any) -> None:
        """Warn in the task log when every pixel of the frame is black.

        Only a warning: some shots are black on purpose. The frame is shrunk with a box filter
        (each pixel the mean of a block, so one lit object keeps its block above black) and
        written in its own format, the only way to see imbuf's pixels; PNG and OpenEXR are read.
        """
        if image is None or format_of(path) not in ("PNG", "EXR"):
            return
        width, height = image.size
        scale = BLACK_CHECK_SIZE / max(width, height, 1)
        if scale < 1.0:
            image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                         method="BILINEAR")
        import imbuf

        with tempfile.TemporaryDirectory(prefix="farmhand-check-") as folder:
            small = os.path.join(folder, "frame")
            try:
                imbuf.write(image, filepath=small)
            except (OSError, ValueError, RuntimeError) as exc:
                print(f"farmhand: no black-frame check of {path}: {exc}", flush=True)
                return
            pixels = read_pixels(small)
        if pixels is None:
            return
        # Below the knee of the sRGB curve, linear = display / 12.92.
        level = BLACK_LEVEL / 12.92 if pixels.linear else BLACK_LEVEL
        if any(max(r, g, b) > level for r, g, b, _ in pixels.rgba):
            return
        line = f"WARNING: frame {frame} is all black ({path})"
        if scene.render.film_transparent:
            # With a transparent film, alpha is coverage: it tells empty from unlit.
            if any(a > 0 for *_, a in pixels.rgba):
                line += ("; objects cover part of it but no light reached them: are lights, "
                         "the world or emission missing?")
            else:
                line += "; nothing was rendered into it: check the camera and what is visible"
        self.send(ev="log", line=line)

    def _preview(
        self, path: str, request: dict[str, Any], last: bool, image: Any = None
    ) -> str | None:
        """A small copy of a finished frame, at most one per preview_interval seconds.

        Made with the imbuf module, never through bpy.data: adding an image datablock makes
        Cycles sync the whole scene again, which would undo Persistent Data. imbuf writes the
        format it read, so PNG and JPEG frames get a preview of their own kind; other formats
        use the JPEG Blender writes next to them when the scene asks for previews. ``image``
        is the frame already loaded; it is shrunk in place and left to the caller to free.
        """
        preview_dir = request.get("preview_dir")
        now = time.monotonic()
        if not preview_dir or now - self._last_preview < float(request.get("preview_interval", 1)):
            return None
        source = path
        suffix = Path(path).suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg"):
            source = str(Path(path).with_suffix(".jpg"))
            suffix = ".jpg"
            if not os.path.isfile(source):
                return None
        import imbuf  # Blender's image buffers; importable only once bpy is.

        self._last_preview = now
        max_size = int(request.get("preview_size", 320))
        self._preview_count += 1
        target = str(Path(preview_dir) / f"preview-{os.getpid()}-{self._preview_count}{suffix}")
        try:
            buf = image if image is not None and source == path else imbuf.load(source)
            width, height = buf.size
            scale = min(1.0, max_size / max(width, height, 1))
            if scale < 1.0:
                buf.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                           method="BILINEAR")
            imbuf.write(buf, filepath=target)
            if buf is not image:
                buf.free()
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"farmhand: no preview for {path}: {exc}", flush=True)
            return None
        return target

    # -- video ----------------------------------------------------------------------------

    def video(self, request: dict[str, Any]) -> None:
        """Encode image files into a movie with Blender's own FFmpeg, in a scratch scene."""
        inputs: list[str] = request["inputs"]
        output: str = request["output"]
        if not inputs:
            raise RenderError("no input frames to encode")
        first = bpy.data.images.load(inputs[0], check_existing=False)
        width, height = first.size[:]
        bpy.data.images.remove(first)
        if width <= 0 or height <= 0:
            raise RenderError(f"cannot read the size of {inputs[0]}")
        scene = bpy.data.scenes.new("farmhand-video")
        try:
            editor = scene.sequence_editor_create()
            strips = video_strips(editor)
            strip = strips.new_image("frames", inputs[0], channel=1, frame_start=1)
            for path in inputs[1:]:
                if os.path.dirname(path) != os.path.dirname(inputs[0]):
                    raise RenderError("all frames of a video must be in one folder")
                strip.elements.append(os.path.basename(path))
            fps = float(request.get("fps", 24.0))
            render = scene.render
            render.resolution_x = width + width % 2  # H.264 needs even sizes.
            render.resolution_y = height + height % 2
            render.resolution_percentage = 100
            render.fps = max(1, round(fps))
            render.fps_base = render.fps / fps
            scene.frame_start = 1
            scene.frame_end = len(inputs)
            image = render.image_settings
            split_media_type(image, "VIDEO")
            image.file_format = "FFMPEG"
            ffmpeg = render.ffmpeg
            ffmpeg.format = request.get("container", "MPEG4")
            ffmpeg.codec = request.get("codec", "H264")
            ffmpeg.constant_rate_factor = request.get("quality", "MEDIUM")
            if request.get("gop"):
                ffmpeg.gopsize = int(request["gop"])
            ffmpeg.audio_codec = "NONE"
            render.use_file_extension = False
            render.filepath = output
            os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
            started = time.perf_counter()
            bpy.ops.render.render(animation=True, scene=scene.name)
            self.send(ev="log", line=f"encoded {len(inputs)} frames in "
                                     f"{time.perf_counter() - started:.1f} s")
        finally:
            bpy.data.scenes.remove(scene)
        if not os.path.isfile(output):
            raise RenderError(f"Blender did not write the video {output}")


PARENT_WATCH_INTERVAL_S = 1.0
"""How often the render process checks that its worker is still there."""


def die_with_worker() -> None:
    """End this process as soon as the worker that started it is gone, even mid-frame.

    A render blocks the main thread for as long as a frame takes, so the closed socket would
    be noticed only after the frame: a killed worker's render would go on competing with the
    restarted worker. Linux kills us through PR_SET_PDEATHSIG; everywhere a thread watches
    the parent process id, which changes when the parent dies (bpy releases the GIL while it
    renders, so the thread runs).
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watch thread still covers it
    if os.getppid() != parent:  # the worker died before the line above took effect
        os._exit(3)

    def watch() -> None:
        while True:
            time.sleep(PARENT_WATCH_INTERVAL_S)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="watch-worker", daemon=True).start()


def main() -> int:
    """Entry point of the render process; talks to the worker over a loopback socket."""
    die_with_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the worker's to handle.
    port = int(os.environ[PORT_ENV])
    token = os.environ[TOKEN_ENV]
    device = os.environ.get(DEVICE_ENV) or None
    sock = socket.create_connection(("127.0.0.1", port))
    channel = Channel(sock)
    channel.send({"ev": "auth", "token": token})
    pins_text = os.environ.get(PINS_ENV) or ""
    pins = [int(p) for p in pins_text.split(",") if p.strip()] if pins_text else None
    try:
        hardware = set_up_devices(device, pins)
    except devices.DeviceError as exc:
        channel.send({"ev": "fatal", "message": f"--gpu: {exc}"})
        return 2
    channel.send({
        "ev": "hello",
        "blender": bpy.app.version_string,
        "pid": os.getpid(),
        **hardware,
    })
    try:
        RenderChild(channel, device, hardware).serve()
    except (ConnectionError, OSError):
        pass  # The worker went away: nothing left to do.
    finally:
        channel.close()
    return 0
