"""Where the bpy API differs between the Blender versions the worker supports (4.2 LTS on).

Imported only in the render process, where bpy is loaded; each function names the versions
it bridges, so the day a version is dropped its branch can go.
"""

from __future__ import annotations

from typing import Any

import bpy


def _operator_takes(operator: Any, name: str) -> bool:
    try:
        return name in operator.get_rna_type().properties.keys()
    except (AttributeError, KeyError, RuntimeError):
        return False


RENDER_TAKES_FRAME_RANGE = _operator_takes(bpy.ops.render.render, "frame_start")
"""Blender 5.0's render operator renders a given frame range; 4.2 and 4.5 render the scene's."""


def render_one_frame(scene: Any, frame: int) -> None:
    """Render ``frame`` of ``scene`` to its output path, as an animation render of one frame
    (file naming, overwrite and placeholder settings then apply as for any animation)."""
    if RENDER_TAKES_FRAME_RANGE:
        bpy.ops.render.render(animation=True, frame_start=frame, frame_end=frame,
                              scene=scene.name)
        return
    # Blender 4.2 and 4.5: narrow the scene's own range for the render, then put it back, so
    # that the file's range is what the next request sees.
    start, end = scene.frame_start, scene.frame_end
    try:
        if frame < start:
            scene.frame_start = frame
            scene.frame_end = frame
        else:
            scene.frame_end = frame
            scene.frame_start = frame
        bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        if scene.frame_start != start or scene.frame_end != end:
            # The order matters: Blender clamps each end of the range to the other.
            scene.frame_end = max(end, scene.frame_start)
            scene.frame_start = start
            scene.frame_end = end


def video_strips(editor: Any) -> Any:
    """The sequencer's top-level strips: ``strips`` from Blender 4.4 on, ``sequences`` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def split_media_type(image_settings: Any, media_type: str) -> None:
    """Blender 5.0 sets image or video output by ``media_type`` before ``file_format``;
    earlier versions have only ``file_format``."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = media_type
