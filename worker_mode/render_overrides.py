"""Render settings a job may override, as data: RNA paths from the scene, with types and ranges.

A job type preset exposes a setting as an override of one of these paths (``override:
cycles.samples``); the manager checks submitted values with ``check_override`` and hands the
worker a mapping of path to value, which the render process applies after opening the file
and before rendering (``render_child``). Nothing outside this list can be set, and no Python
from a preset or a submission runs: the worker only assigns values to known properties.

No bpy here: the manager imports this module to check presets and submissions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .blender_args import IMAGE_FORMATS

INT_KINDS = ("int",)
TEXT_KINDS = ("enum", "camera", "view_layer")


class OverrideError(ValueError):
    """A render-setting override that is not allowed; the message names the path and value."""


@dataclass(frozen=True)
class RenderSetting:
    """One property of the scene a job may set."""

    path: str
    """Dotted RNA path from the scene (``render.resolution_percentage``)."""
    kind: str
    """``int``, ``float``, ``bool``, ``enum``; ``camera`` and ``view_layer`` take a name."""
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def setting_type(self) -> str:
        """The job-setting type a preset declares for it."""
        return {"int": "int32", "float": "float", "bool": "bool"}.get(self.kind, "string")


def _int(path: str, description: str, minimum: int, maximum: int) -> RenderSetting:
    return RenderSetting(path, "int", description, minimum, maximum)


def _float(path: str, description: str, minimum: float, maximum: float) -> RenderSetting:
    return RenderSetting(path, "float", description, minimum, maximum)


def _bool(path: str, description: str) -> RenderSetting:
    return RenderSetting(path, "bool", description)


_IMAGE_FORMAT_CHOICES = tuple(dict.fromkeys(IMAGE_FORMATS.values()))

RENDER_SETTINGS: dict[str, RenderSetting] = {s.path: s for s in (
    _int("render.resolution_x", "Width of the frame in pixels (at 100%)", 4, 65536),
    _int("render.resolution_y", "Height of the frame in pixels (at 100%)", 4, 65536),
    _int("render.resolution_percentage", "Resolution scale in percent", 1, 32767),
    _bool("render.film_transparent", "Transparent film: the world is not rendered"),
    _bool("render.use_motion_blur", "Motion blur"),
    _bool("render.use_simplify", "Simplify"),
    _int("render.simplify_subdivision_render", "Simplify: most subdivision levels", 0, 6),
    RenderSetting("render.image_settings.file_format", "enum", "Image file format",
                  choices=_IMAGE_FORMAT_CHOICES),
    RenderSetting("render.image_settings.color_depth", "enum", "Bits per channel",
                  choices=("8", "10", "12", "16", "32")),
    _int("render.image_settings.quality", "JPEG/WebP quality", 0, 100),
    _int("render.image_settings.compression", "PNG compression", 0, 100),
    RenderSetting("camera", "camera", "The camera that renders (name of a camera object)"),
    RenderSetting("view_layer", "view_layer",
                  "The only view layer that renders (the others are switched off)"),
    _int("cycles.samples", "Cycles: samples per pixel", 1, 16_777_216),
    _bool("cycles.use_adaptive_sampling", "Cycles: adaptive sampling"),
    _float("cycles.adaptive_threshold", "Cycles: noise threshold of adaptive sampling", 0.0, 1.0),
    _int("cycles.adaptive_min_samples", "Cycles: fewest samples of adaptive sampling", 0, 4096),
    _float("cycles.time_limit", "Cycles: most seconds per frame (0: no limit)", 0.0, 86400.0),
    _bool("cycles.use_denoising", "Cycles: denoise the render"),
    RenderSetting("cycles.denoiser", "enum", "Cycles: denoiser",
                  choices=("OPENIMAGEDENOISE", "OPTIX")),
    _int("cycles.max_bounces", "Cycles: most light bounces", 0, 1024),
    _int("cycles.diffuse_bounces", "Cycles: most diffuse bounces", 0, 1024),
    _int("cycles.glossy_bounces", "Cycles: most glossy bounces", 0, 1024),
    _int("cycles.transmission_bounces", "Cycles: most transmission bounces", 0, 1024),
    _int("cycles.volume_bounces", "Cycles: most volume bounces", 0, 1024),
    _int("cycles.transparent_max_bounces", "Cycles: most transparent bounces", 0, 1024),
    _float("cycles.sample_clamp_direct", "Cycles: clamp of direct light (0: none)", 0.0, 1e8),
    _float("cycles.sample_clamp_indirect", "Cycles: clamp of indirect light (0: none)", 0.0, 1e8),
    _int("cycles.seed", "Cycles: noise seed", 0, 2_147_483_647),
    _bool("cycles.use_animated_seed", "Cycles: a different noise seed on every frame"),
    _int("eevee.taa_render_samples", "EEVEE: samples per pixel", 1, 65536),
)}
"""Every path a job may override. Ranges are Blender's own limits or tighter."""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)[:80]


def check_override(path: Any, value: Any) -> Any:
    """``value`` ready to assign to ``path``; OverrideError naming both when it is refused."""
    setting = RENDER_SETTINGS.get(path) if isinstance(path, str) else None
    if setting is None:
        raise OverrideError(
            f"{str(path)[:80]!r} is not a render setting a job may override; "
            f"known are {', '.join(RENDER_SETTINGS)}"
        )
    kind = setting.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise OverrideError(f"render setting {path} must be true or false, "
                                f"got {_describe(value)}")
        return value
    if kind in TEXT_KINDS:
        if not isinstance(value, str) or not value:
            raise OverrideError(f"render setting {path} must be a name, got {_describe(value)}")
        if setting.choices and value not in setting.choices:
            raise OverrideError(f"render setting {path} must be one of "
                                f"{', '.join(setting.choices)}; got {_describe(value)}")
        return value
    number_ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "int" and not (isinstance(value, int) or (
            isinstance(value, float) and value.is_integer())):
        number_ok = False
    if not number_ok or not math.isfinite(value):
        wanted = "a whole number" if kind == "int" else "a number"
        raise OverrideError(f"render setting {path} must be {wanted}, got {_describe(value)}")
    if setting.minimum is not None and value < setting.minimum:
        raise OverrideError(f"render setting {path} must be at least "
                            f"{_number(setting.minimum)}, got {_describe(value)}")
    if setting.maximum is not None and value > setting.maximum:
        raise OverrideError(f"render setting {path} must be at most "
                            f"{_number(setting.maximum)}, got {_describe(value)}")
    return int(value) if kind == "int" else float(value)


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def check_overrides(overrides: Any) -> dict[str, Any]:
    """A command's ``overrides`` parameter, checked; OverrideError names the first refused."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise OverrideError(
            f"overrides must be a mapping of render-setting paths to values, not "
            f"{_describe(overrides)}"
        )
    return {path: check_override(path, value) for path, value in overrides.items()}
