"""Runs one render request on a RenderChild in this process (bpy) and prints its messages.

    python render_child_run.py BLEND OUT_DIR FRAMES [--format PNG] [--damage truncate|resize]
                               [--dark] [--transparent] [--crop]

Blender's own handlers stand in for what goes wrong on real machines: ``--damage`` changes
each frame file right after Blender wrote it (render_write); ``--dark`` (emission and world
off), ``--transparent`` and ``--crop`` (to a render region) change the scene once the file is
open (load_post). Prints one JSON message per line after the line "MESSAGES".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import bpy
import imbuf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from worker_mode.blender_args import parse_blender_args  # noqa: E402
from worker_mode.render_child import RenderChild  # noqa: E402


class ListChannel:
    def __init__(self, requests: list[dict[str, Any]]) -> None:
        self.requests = requests
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def recv(self) -> dict[str, Any] | None:
        return self.requests.pop(0) if self.requests else None


def damage(how: str) -> Any:
    @bpy.app.handlers.persistent
    def after_write(scene: Any, *_: Any) -> None:
        path = scene.render.frame_path(frame=scene.frame_current)
        if how == "truncate":
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
        elif how == "resize":
            image = imbuf.load(path)
            image.resize((image.size[0] // 2, image.size[1]), method="FAST")
            imbuf.write(image, filepath=path)
            image.free()

    return after_write


def change_scene(dark: bool, transparent: bool, crop: bool) -> Any:
    @bpy.app.handlers.persistent
    def after_load(*_: Any) -> None:
        for owner in [*bpy.data.materials, *bpy.data.worlds] if dark else ():
            for node in owner.node_tree.nodes if owner.node_tree else ():
                if node.type in ("EMISSION", "BACKGROUND"):
                    node.inputs["Strength"].default_value = 0.0
        for scene in bpy.data.scenes:
            render = scene.render
            render.film_transparent = transparent
            if crop:
                render.resolution_percentage = 67
                render.use_border = render.use_crop_to_border = True
                render.border_min_x, render.border_max_x = 0.1, 0.633
                render.border_min_y, render.border_max_y = 0.2, 0.777

    return after_load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("blend")
    parser.add_argument("out")
    parser.add_argument("frames")
    parser.add_argument("--format", default="PNG")
    parser.add_argument("--damage", choices=["truncate", "resize"])
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--transparent", action="store_true")
    parser.add_argument("--crop", action="store_true")
    args = parser.parse_args()
    if args.damage:
        bpy.app.handlers.render_write.append(damage(args.damage))
    if args.dark or args.transparent or args.crop:
        bpy.app.handlers.load_post.append(change_scene(args.dark, args.transparent, args.crop))
    settings = parse_blender_args(["--render-output", f"{args.out}/######", "--render-format",
                                   args.format, "--render-frame", args.frames])
    request = {"op": "render", "blendfile": args.blend, "key": "k",
               "settings": settings.to_json(), "persistent_data": True}
    channel = ListChannel([request])
    RenderChild(channel, None).serve()  # type: ignore[arg-type]
    print("MESSAGES")
    for message in channel.sent:
        print(json.dumps(message))
    # bpy 4.5 can loop for ever in its clean-up at exit ("Freeing memory after the leak
    # detector has run"); the messages are out, so this process leaves at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
