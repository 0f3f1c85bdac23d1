"""Blender command-line arguments of a ``blender-render`` command, as render settings.

Flamenco job types describe a render as the arguments of a new Blender process
(``--render-output /out/###### --render-format PNG --render-frame 1..3``). A persistent
worker applies the same settings to the open file instead. Anything that cannot be applied
safely (Python, enabling auto-exec, unknown options) is refused with a message that names it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class ArgsError(ValueError):
    """The task's Blender arguments cannot be applied by this worker."""


IMAGE_FORMATS = {
    "TGA": "TARGA",
    "TARGA": "TARGA",
    "RAWTGA": "TARGA_RAW",
    "TARGA_RAW": "TARGA_RAW",
    "JPEG": "JPEG",
    "JPG": "JPEG",
    "IRIS": "IRIS",
    "PNG": "PNG",
    "BMP": "BMP",
    "HDR": "HDR",
    "TIFF": "TIFF",
    "EXR": "OPEN_EXR",
    "OPEN_EXR": "OPEN_EXR",
    "MULTILAYER": "OPEN_EXR_MULTILAYER",
    "OPEN_EXR_MULTILAYER": "OPEN_EXR_MULTILAYER",
    "CINEON": "CINEON",
    "DPX": "DPX",
    "JP2": "JPEG2000",
    "JPEG2000": "JPEG2000",
    "WEBP": "WEBP",
}
"""``--render-format`` values (Blender's names, case-insensitive) -> ImageFormatSettings enum."""

MOVIE_FORMATS = {"FFMPEG", "AVIRAW", "AVIJPEG", "H264", "MPEG", "THEORA", "XVID"}

ENGINES = {
    "CYCLES": "CYCLES",
    "BLENDER_EEVEE": "BLENDER_EEVEE",
    "BLENDER_EEVEE_NEXT": "BLENDER_EEVEE",
    "EEVEE": "BLENDER_EEVEE",
    "BLENDER_WORKBENCH": "BLENDER_WORKBENCH",
    "WORKBENCH": "BLENDER_WORKBENCH",
}

_IGNORED_FLAGS = {
    "-b", "--background", "-noaudio", "--noaudio", "-Y", "--disable-autoexec",
    "--factory-startup", "--quiet", "-q",
}
"""Flags that change nothing for a background render with scripts disabled."""

_REFUSED = {
    "-y": "enables Python scripts in the .blend (the worker keeps them disabled)",
    "--enable-autoexec": "enables Python scripts in the .blend (the worker keeps them disabled)",
    "-P": "runs a Python script",
    "--python": "runs a Python script",
    "--python-text": "runs a Python script",
    "--python-expr": "runs Python code",
    "--python-console": "starts a Python console",
    "--addons": "enables add-ons in a shared render process",
}


@dataclass
class RenderSettings:
    """What one ``blender-render`` command asks for, before the file is open."""

    scene: str | None = None
    output: str | None = None
    file_format: str | None = None
    engine: str | None = None
    threads: int | None = None
    use_extension: bool | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    frame_jump: int | None = None
    frames: str | None = None
    """The ``--render-frame`` text (``1..3,7``, ``+1``, ``-1``); None with ``--render-anim``."""
    animation: bool = False
    device: str | None = None
    """``GPU`` or ``CPU`` when the job says where Cycles renders (the command's
    ``render_device``); None for what the worker and the file say."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def refused_argument(arg: str) -> str | None:
    """Why a worker refuses this Blender argument whatever follows it (it runs Python, enables
    scripts or add-ons), or None; lets the manager refuse a preset that has one."""
    return _REFUSED.get(arg)


def _int_arg(option: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ArgsError(f"{option} needs a whole number, got {value!r}") from None


def parse_frame_number(text: str, start: int, end: int) -> int:
    """One frame as Blender reads it: ``+n`` from the scene start, ``-n`` from its end."""
    if text.startswith("+"):
        return start + int(text[1:])
    if text.startswith("-"):
        return end - int(text[1:]) + 1
    return int(text)


def resolve_frames(spec: str, start: int = 1, end: int = 250) -> list[int]:
    """Frames of a ``--render-frame`` value (``1..3,7``) in order, for a scene's start/end."""
    frames: list[int] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise ArgsError(f"--render-frame {spec!r}: empty item")
        try:
            if ".." in item:
                first_text, last_text = item.split("..", 1)
                first = parse_frame_number(first_text, start, end)
                last = parse_frame_number(last_text, start, end)
                if last < first:
                    raise ArgsError(f"--render-frame {spec!r}: range {item!r} runs backwards")
                frames.extend(range(first, last + 1))
            else:
                frames.append(parse_frame_number(item, start, end))
        except ArgsError:
            raise
        except ValueError:
            raise ArgsError(
                f"--render-frame {spec!r}: {item!r} is not a frame number or a range like 1..3"
            ) from None
    return frames


def parse_blender_args(args: list[str]) -> RenderSettings:
    """Read Flamenco-style Blender arguments; the render action must come last."""
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ArgsError("args must be a list of strings")
    settings = RenderSettings()
    rendered = False
    i = 0

    def value(option: str) -> str:
        if i + 1 >= len(args):
            raise ArgsError(f"{option} needs a value")
        return args[i + 1]

    while i < len(args):
        arg = args[i]
        if rendered:
            raise ArgsError(
                f"argument {arg!r} comes after the render action; Blender would not apply it "
                "to the frames rendered before, so this worker refuses it"
            )
        if arg in _IGNORED_FLAGS:
            i += 1
            continue
        if arg in _REFUSED:
            raise ArgsError(f"unsupported Blender argument {arg!r}: it {_REFUSED[arg]}")
        if arg in ("-S", "--scene"):
            settings.scene = value(arg)
        elif arg in ("-o", "--render-output"):
            settings.output = value(arg)
        elif arg in ("-F", "--render-format"):
            fmt = value(arg).upper()
            if fmt in MOVIE_FORMATS:
                raise ArgsError(
                    f"--render-format {fmt}: movie formats cannot be rendered frame by frame "
                    "on a farm; render images and add a frames-to-video step"
                )
            if fmt not in IMAGE_FORMATS:
                raise ArgsError(f"--render-format {fmt!r} is not an image format Blender knows")
            settings.file_format = IMAGE_FORMATS[fmt]
        elif arg in ("-E", "--engine"):
            engine = value(arg).upper()
            if engine not in ENGINES:
                raise ArgsError(f"--engine {engine!r} is not a render engine this worker knows")
            settings.engine = ENGINES[engine]
        elif arg in ("-t", "--threads"):
            settings.threads = _int_arg(arg, value(arg))
            if not 0 <= settings.threads <= 1024:
                raise ArgsError(f"{arg} must be between 0 (all cores) and 1024")
        elif arg in ("-x", "--use-extension"):
            settings.use_extension = value(arg) not in ("0", "false", "False")
        elif arg in ("-s", "--frame-start"):
            settings.frame_start = _int_arg(arg, value(arg))
        elif arg in ("-e", "--frame-end"):
            settings.frame_end = _int_arg(arg, value(arg))
        elif arg in ("-j", "--frame-jump"):
            settings.frame_jump = _int_arg(arg, value(arg))
            if settings.frame_jump < 1:
                raise ArgsError(f"{arg} must be at least 1")
        elif arg in ("-f", "--render-frame"):
            settings.frames = value(arg)
            resolve_frames(settings.frames)  # Syntax check now; relative frames need the scene.
            rendered = True
        elif arg in ("-a", "--render-anim"):
            settings.animation = True
            rendered = True
            i += 1
            continue
        else:
            raise ArgsError(
                f"unsupported Blender argument {arg!r}: a persistent worker cannot apply it "
                "safely to an open file"
            )
        i += 2
    if not rendered:
        raise ArgsError("the arguments have no --render-frame or --render-anim: nothing to render")
    return settings
