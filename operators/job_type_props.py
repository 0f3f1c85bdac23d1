"""The Farm panel's properties: job name, type, priority, and the chosen type's settings
(the worker tag is in ``worker_tags``).

A job type's settings are a ``PropertyGroup`` made at run time from the served
``AvailableJobSetting`` list (as Flamenco's add-on does) and hung on the window manager, so they
are not saved in the .blend: the next session gets the manager's current preset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import bpy

from .. import farm_state
from ..client.job_settings import (
    JobType,
    Setting,
    eval_namespace,
    evaluate_setting,
)

log = logging.getLogger(__name__)

#: Prefix of the boolean "take this setting from the scene" (the link button) of a setting.
AUTOEVAL_PREFIX = "farmhand_autoeval_"

BLENDER_SUBTYPES = {
    "file_path": "FILE_PATH",
    "dir_path": "DIR_PATH",
    "file_name": "FILE_NAME",
    "hashed_file_path": "FILE_PATH",  # Flamenco's own idea; Blender has no such subtype
}

_registered_group: type | None = None
#: The job type whose settings the panel has now; kept values belong to it alone.
_installed_name: str | None = None
#: Blender keeps only pointers to enum item strings: keep the items alive here.
_enum_items: list[tuple[str, str, str]] = []


class JobTypeSettings:
    """Mix-in of the generated property groups; ``job_type`` is set on each class."""

    job_type: JobType


def autoeval_name(key: str) -> str:
    return AUTOEVAL_PREFIX + key


def uses_eval(group: Any, setting: Setting) -> bool:
    """Whether the setting's value comes from its ``eval`` (rather than what was typed)."""
    if not setting.eval:
        return False
    if setting.show_link_button:
        return bool(getattr(group, autoeval_name(setting.key), True))
    return True


def default_job_name() -> str:
    return Path(bpy.data.filepath).stem if bpy.data.filepath else "untitled"


def scene_of(context: bpy.types.Context) -> bpy.types.Scene:
    scene = context.scene
    assert scene is not None, "Blender always has a scene where the Farm panel is"
    return scene


def job_name(scene: bpy.types.Scene) -> str:
    return scene.farmhand_job_name.strip() or default_job_name()  # type: ignore[attr-defined]


def namespace(context: bpy.types.Context, values: dict[str, Any]) -> dict[str, Any]:
    return eval_namespace(
        context=context,
        bpy=bpy,
        blendfile=bpy.data.filepath,
        jobname=job_name(scene_of(context)),
        values=values,
        abspath=bpy.path.abspath,
    )


def current_values(group: Any, job_type: JobType) -> dict[str, Any]:
    return {s.key: getattr(group, s.key) for s in job_type.settings if hasattr(group, s.key)}


def evaluate_into(context: bpy.types.Context, group: Any, *, only: str = "") -> dict[str, Any]:
    """Re-evaluate the settings that take their value from the scene, in preset order.

    Returns every setting's value afterwards. Raises ``SettingEvalError`` naming the setting.
    """
    job_type: JobType = group.job_type
    values = current_values(group, job_type)
    for setting in job_type.settings:
        if only and setting.key != only:
            continue
        if not uses_eval(group, setting):
            continue
        value = evaluate_setting(setting, namespace(context, values))
        values[setting.key] = value
        _assign(group, setting, value)
    return values


def _assign(group: Any, setting: Setting, value: Any) -> None:
    if setting.choices and value not in setting.choices:
        log.warning("setting %s: %r is not one of %s", setting.key, value, setting.choices)
        return
    try:
        setattr(group, setting.key, value)
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("setting %s: cannot show %r: %s", setting.key, value, exc)


def _on_autoeval_toggled(key: str) -> Any:
    def update(group: Any, context: bpy.types.Context) -> None:
        if getattr(group, autoeval_name(key)):
            try:
                evaluate_into(context, group, only=key)
            except Exception as exc:  # a preset's expression failing is shown, not raised
                farm_state.STATE.job_types_error = str(exc)

    return update


def _property(setting: Setting) -> Any:
    kwargs: dict[str, Any] = {
        "name": setting.display_name,
        "description": setting.description or setting.eval_description,
        "options": set(),
    }
    if setting.type == "string" and setting.choices:
        kwargs["items"] = [(c, c, "") for c in setting.choices]
        if setting.default in setting.choices:
            kwargs["default"] = setting.default
        return bpy.props.EnumProperty(**kwargs)
    if setting.default is not None:
        kwargs["default"] = setting.coerce(setting.default)
    if setting.type == "string":
        if setting.subtype in BLENDER_SUBTYPES:
            kwargs["subtype"] = BLENDER_SUBTYPES[setting.subtype]
        return bpy.props.StringProperty(**kwargs)
    if setting.type in ("int32", "float"):
        number = int if setting.type == "int32" else float
        if setting.minimum is not None:
            kwargs["min"] = number(setting.minimum)
        if setting.maximum is not None:
            kwargs["max"] = number(setting.maximum)
        if setting.type == "int32":
            kwargs.setdefault("min", -(2**31))
            kwargs.setdefault("max", 2**31 - 1)
            return bpy.props.IntProperty(**kwargs)
        return bpy.props.FloatProperty(**kwargs)
    if setting.type == "bool":
        return bpy.props.BoolProperty(**kwargs)
    raise ValueError(f"setting {setting.key!r}: unknown type {setting.type!r}")


def make_property_group(job_type: JobType) -> type:
    """A new, unregistered ``PropertyGroup`` class for the job type's settings."""
    annotations: dict[str, Any] = {}
    for setting in job_type.settings:
        annotations[setting.key] = _property(setting)
        if setting.eval and setting.show_link_button:
            annotations[autoeval_name(setting.key)] = bpy.props.BoolProperty(
                name="Take From Scene",
                description=setting.eval_description or f"Compute from the scene: {setting.eval}",
                default=True,
                options=set(),
                update=_on_autoeval_toggled(setting.key),
            )
    class_name = "FARMHAND_PG_" + "".join(p.title() for p in job_type.name.split("-"))
    return type(
        class_name,
        (JobTypeSettings, bpy.types.PropertyGroup),
        {"__annotations__": annotations, "job_type": job_type},
    )


def settings_group(context: bpy.types.Context) -> Any:
    """The current job type's settings, or None when no type is chosen or known."""
    group = getattr(context.window_manager, "farmhand_job_settings", None)
    if group is None or not hasattr(group, "job_type"):
        return None
    return group


def install_job_type(context: bpy.types.Context, job_type: JobType | None) -> None:
    """Make ``job_type``'s settings the panel's, with defaults and scene values filled in."""
    global _registered_group, _installed_name
    if _registered_group is not None:
        if hasattr(bpy.types.WindowManager, "farmhand_job_settings"):
            del bpy.types.WindowManager.farmhand_job_settings
        bpy.utils.unregister_class(_registered_group)
        _registered_group = None
    previous, _installed_name = _installed_name, job_type.name if job_type else None
    if job_type is None:
        return
    group_class = make_property_group(job_type)
    bpy.utils.register_class(group_class)
    _registered_group = group_class
    bpy.types.WindowManager.farmhand_job_settings = bpy.props.PointerProperty(  # type: ignore[attr-defined]
        type=group_class
    )
    group = settings_group(context)
    if job_type.name != previous:
        # Blender keeps a pointer property's values under its name after its class goes:
        # another type would inherit same-named values (a 'format') instead of its defaults.
        for setting in job_type.settings:
            group.property_unset(setting.key)
    try:
        evaluate_into(context, group)
    except Exception as exc:  # shown in the panel; the artist may fix the scene and retry
        farm_state.STATE.job_types_error = str(exc)


def unavailable_reason(name: str) -> str:
    """Why the manager's job type ``name`` cannot be chosen now; '' when it can (or when
    nothing is known yet)."""
    catalog = farm_state.STATE.catalog
    if not name or name in farm_state.STATE.job_types or catalog is None:
        return ""
    broken = catalog.broken_type(name)
    if broken is not None:
        return f"{broken.describe()}; fix the preset or choose another type"
    if catalog.get(name) is not None:
        return (f"job type {name!r} is not offered to artists; "
                "Preferences: Show All Job Types lists it")
    return f"the manager has no job type {name!r} any more; choose another"


def chosen_name(scene: Any) -> str:
    """The type the scene asks for; the farm's render type when it asks for none and that
    type is broken (so the drop-down says so); '' when the first offered type will do."""
    name = str(scene.get("farmhand_job_type_name", "")) if scene is not None else ""
    catalog = farm_state.STATE.catalog
    if not name and catalog is not None and catalog.broken_type(catalog.render_type):
        return catalog.render_type
    return name


def _item_names(scene: Any) -> list[str]:
    names = list(farm_state.STATE.job_types)
    chosen = chosen_name(scene)
    # The scene's type stays in the list when it cannot be used, so the drop-down shows it
    # (and why) instead of silently showing another type.
    if chosen and chosen not in names and unavailable_reason(chosen):
        names.append(chosen)
    return names


def _job_type_items(scene: Any, context: Any) -> list[tuple[str, str, str]]:
    items = []
    catalog = farm_state.STATE.catalog
    for name in _item_names(scene):
        job_type = farm_state.STATE.job_types.get(name)
        if job_type is None:
            items.append((name, f"{name} (unavailable)", unavailable_reason(name)))
            continue
        entry = catalog.get(name) if catalog is not None else None
        note = entry.unrun_note if entry is not None else ""
        label = f"{job_type.label} (no worker runs it)" if note else job_type.label
        items.append((name, label, "; ".join(t for t in (job_type.description, note) if t)))
    _enum_items[:] = items or [("", "(refresh job types)", "Fetch the job types from the manager")]
    return _enum_items


def _get_job_type(scene: Any) -> int:
    name = chosen_name(scene)
    names = _item_names(scene)
    return names.index(name) if name in names else 0


def _set_job_type(scene: Any, index: int) -> None:
    names = _item_names(scene)
    if 0 <= index < len(names):
        scene["farmhand_job_type_name"] = names[index]
        farm_state.STATE.job_types_error = unavailable_reason(names[index])
        install_job_type(bpy.context, farm_state.STATE.job_types.get(names[index]))


def chosen_job_type(scene: Any) -> JobType | None:
    """The job type the scene asks for; the farm's render type when it asks for none.

    A type it asks for that is broken or gone gives None and says why in the panel, so a
    submission never goes out as another type than the one the artist chose.
    """
    name = chosen_name(scene)
    types = farm_state.STATE.job_types
    if name in types:
        return types[name]
    reason = unavailable_reason(name)
    if reason:
        farm_state.STATE.job_types_error = reason
        return None
    # The render type comes first among the offered types.
    return next(iter(types.values()), None)


def unrun_note(name: str) -> str:
    """'no connected worker runs ffmpeg tasks' for the offered type ``name``, or ''."""
    catalog = farm_state.STATE.catalog
    entry = catalog.get(name) if catalog is not None else None
    return entry.unrun_note if entry is not None else ""


def select_job_type(context: bpy.types.Context, name: str) -> None:
    """Choose a job type by name (scripts and tests; the panel's drop-down does the same)."""
    if name not in farm_state.STATE.job_types:
        known = ", ".join(farm_state.STATE.job_types) or "none; refresh job types"
        reason = unavailable_reason(name) or f"the manager offers no job type {name!r}"
        raise KeyError(f"{reason} (offered: {known})")
    scene_of(context)["farmhand_job_type_name"] = name
    install_job_type(context, farm_state.STATE.job_types[name])


def register() -> None:
    scene = bpy.types.Scene
    scene.farmhand_job_name = bpy.props.StringProperty(  # type: ignore[attr-defined]
        name="Job Name",
        description="Name of the job on the farm; empty uses the file name",
        default="",
    )
    scene.farmhand_job_type = bpy.props.EnumProperty(  # type: ignore[attr-defined]
        name="Job Type",
        description="What the farm does with the file; the manager's presets",
        items=_job_type_items,
        get=_get_job_type,
        set=_set_job_type,
    )
    scene.farmhand_priority = bpy.props.IntProperty(  # type: ignore[attr-defined]
        name="Priority", description="Higher goes first", default=50, min=0, max=100
    )
    scene.farmhand_submit_paused = bpy.props.BoolProperty(  # type: ignore[attr-defined]
        name="Submit Paused",
        description="Submit the job paused, to start it later from the panel or the dashboard",
        default=False,
    )


def unregister() -> None:
    install_job_type(bpy.context, None)
    for name in (
        "farmhand_job_name",
        "farmhand_job_type",
        "farmhand_priority",
        "farmhand_submit_paused",
    ):
        if hasattr(bpy.types.Scene, name):
            delattr(bpy.types.Scene, name)
