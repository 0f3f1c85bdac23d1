"""Farmhand, a render farm for Blender: the add-on's registration, and nothing else.

The parts are imported inside register(): the repository root is also the package that
pytest and type checkers walk through, and importing it must not import bpy.
"""

from __future__ import annotations

from types import ModuleType


def _parts() -> tuple[ModuleType, ...]:
    from . import operators, panels, preferences

    return (preferences, operators, panels)


def register() -> None:
    for part in _parts():
        part.register()


def unregister() -> None:
    for part in reversed(_parts()):
        part.unregister()
