"""The Farm panel's Worker Tag: a drop-down of the manager's worker tags, and "any worker".

The tags come from the add-on's cache (filled by Refresh Job Types), so drawing never waits for
the manager; the chosen tag is kept by name in the scene, and stays chosen, and shown, while
the manager is out of reach or no longer has it.
"""

from __future__ import annotations

import logging
from typing import Any

import bpy

from .. import farm_state
from ..client.api import ManagerAPI, ManagerError

log = logging.getLogger(__name__)

#: Where the scene keeps the chosen tag's name ("" for any worker).
CHOSEN_KEY = "farmhand_worker_tag_name"
#: The free-text property of earlier versions kept its value under the property's own name.
EARLIER_KEY = "farmhand_worker_tag"

#: The "no tag" entry. Blender takes an empty identifier for a separator, and a tag name is
#: never blank (the manager strips names), so a blank identifier cannot be a tag's.
ANY_WORKER = (" ", "Any Worker", "No tag: any worker may render the job")

#: Blender keeps only pointers to enum item strings: keep the items alive here.
_enum_items: list[tuple[str, str, str]] = []


def refresh_worker_tags(api: ManagerAPI) -> None:
    """Cache the manager's tags; a manager that cannot list them leaves the list empty."""
    try:
        farm_state.STATE.worker_tags = api.worker_tags()
    except ManagerError as exc:
        log.info("no worker tags from the manager: %s", exc)
        farm_state.STATE.worker_tags = []


def chosen_tag(scene: Any) -> str:
    """The tag name the job is submitted with; '' for any worker."""
    value = scene.get(CHOSEN_KEY)
    if value is None:
        value = scene.get(EARLIER_KEY, "")
    return value.strip() if isinstance(value, str) else ""


def _item_names(scene: Any) -> list[str]:
    """The tag names in the drop-down's order, '' (any worker) first."""
    names = ["", *(t.name for t in farm_state.STATE.worker_tags)]
    chosen = chosen_tag(scene)
    if chosen not in names:
        names.append(chosen)
    return names


def _worker_tag_items(scene: Any, context: Any) -> list[tuple[str, str, str]]:
    known = {t.name: t for t in farm_state.STATE.worker_tags}
    items = [ANY_WORKER]
    for name in _item_names(scene)[1:]:
        tag = known.get(name)
        if tag is not None:
            items.append((name, name, tag.description or f"Only workers tagged {name}"))
        elif known:
            items.append(
                (
                    name,
                    f"{name} (not on the manager)",
                    "The manager has no such tag and refuses a job for it",
                )
            )
        else:
            items.append((name, name, "Refresh job types to list the manager's tags"))
    _enum_items[:] = items
    return _enum_items


def _get_worker_tag(scene: Any) -> int:
    names = _item_names(scene)
    chosen = chosen_tag(scene)
    return names.index(chosen) if chosen in names else 0


def _set_worker_tag(scene: Any, index: int) -> None:
    names = _item_names(scene)
    if 0 <= index < len(names):
        scene[CHOSEN_KEY] = names[index]


def register() -> None:
    bpy.types.Scene.farmhand_worker_tag = bpy.props.EnumProperty(  # type: ignore[attr-defined]
        name="Worker Tag",
        description="Only workers with this tag render the job; Any Worker: no tag",
        items=_worker_tag_items,
        get=_get_worker_tag,
        set=_set_worker_tag,
    )


def unregister() -> None:
    if hasattr(bpy.types.Scene, "farmhand_worker_tag"):
        del bpy.types.Scene.farmhand_worker_tag
    _enum_items.clear()
