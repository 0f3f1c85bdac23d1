"""Builds the scenario tests' studio project (run with a Python that has bpy).

    python make_project.py ROOT

Textures must already be in ``ROOT/project/textures/red.png`` and ``ROOT/library/tex/blue.png``.
Writes, with paths relative to each file:

- ``library/lib.blend`` and ``project/shot.blend`` (see ``tests/client/blend_scene.py``), 32x32
  px, frames 1-3, 2 Cycles samples;
- ``project/shots/sq010/sh020.blend``: the same shot one folder deeper, 48x24 px;
- ``project/heavy.blend``: the same shot with frames of several seconds (many samples), for
  killing and stopping a render in the middle of a frame.
"""

from __future__ import annotations

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.client.blend_scene import build  # noqa: E402

HEAVY_SAMPLES = int(os.environ.get("FARMHAND_TEST_HEAVY_SAMPLES", "10000"))


def save_variant(path: str, width: int, height: int, samples: int) -> None:
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 3
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False  # every sample costs: frame times are predictable
    os.makedirs(os.path.dirname(path), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=path, relative_remap=True)


def main(root: str) -> None:
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups in the project
    build(root)
    shot = os.path.join(root, "project", "shot.blend")
    bpy.ops.wm.open_mainfile(filepath=shot, load_ui=False)
    save_variant(shot, 32, 32, 2)
    save_variant(os.path.join(root, "project", "shots", "sq010", "sh020.blend"), 48, 24, 2)
    bpy.ops.wm.open_mainfile(filepath=shot, load_ui=False)
    save_variant(os.path.join(root, "project", "heavy.blend"), 32, 32, HEAVY_SAMPLES)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    main(args[0])
