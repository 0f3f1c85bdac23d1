"""Writes the tests' tiny animated .blend (run with a Python that has bpy).

    python make_blend.py OUT.blend [--heavy N] [--size PX] [--samples N]

An emissive cube moves along x over frames 1..4 in front of a black world, so each frame's
bright pixels show which frame it is. ``--heavy N`` adds N subdivided spheres (bench).
"""

from __future__ import annotations

import argparse
import sys

import bpy


def build(size: int, samples: int, heavy: int, subdiv: int, script_marker: str | None,
          move_camera: bool = False) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Scene"
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False  # Every sample costs: frame times stay predictable.
    scene.cycles.device = "CPU"
    scene.render.resolution_x = size
    scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.frame_start = 1
    scene.frame_end = 4
    world = bpy.data.worlds.new("World")
    world.color = (0, 0, 0)
    scene.world = world

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = 8.0
    cam = bpy.data.objects.new("Camera", cam_data)
    cam.location = (0, 0, 10)
    scene.collection.objects.link(cam)
    scene.camera = cam

    mat = bpy.data.materials.new("Glow")
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (1, 1, 1, 1)
    emission.inputs["Strength"].default_value = 5
    out = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(emission.outputs[0], out.inputs[0])

    mesh = bpy.data.meshes.new("Cube")
    s = 0.8
    verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts, [], faces)
    mesh.materials.append(mat)
    cube = bpy.data.objects.new("Cube", mesh)
    scene.collection.objects.link(cube)
    moving = cam if move_camera else cube
    for frame, x in ((1, -3.0), (4, 3.0)):
        moving.location[0] = -x if move_camera else x
        moving.keyframe_insert("location", index=0, frame=frame)
    for fcurve in _fcurves(moving):
        for point in fcurve.keyframe_points:
            point.interpolation = "LINEAR"

    if script_marker:
        # A script that runs when the file is opened with scripts allowed: the worker must not.
        text = bpy.data.texts.new("on_load.py")
        text.write(f"open({script_marker!r}, 'w').write('ran')\n")
        text.use_module = True

    ground = bpy.data.meshes.new("Ground")
    ground.from_pydata([(-6, -6, -1), (6, -6, -1), (6, 6, -1), (-6, 6, -1)], [], [(0, 1, 2, 3)])
    ground.materials.append(bpy.data.materials.new("Grey"))
    scene.collection.objects.link(bpy.data.objects.new("Ground", ground))

    if heavy:
        dark = bpy.data.materials.new("Dark")
        for i in range(heavy):
            bpy.ops.mesh.primitive_uv_sphere_add(radius=0.2, location=(i % 10 - 4.5, 3.5, -1))
            obj = bpy.context.active_object
            obj.data.materials.append(dark)
            mod = obj.modifiers.new("Subdivision", "SUBSURF")
            mod.levels = subdiv
            mod.render_levels = subdiv


def _fcurves(obj: bpy.types.Object) -> list:
    action = obj.animation_data.action
    if hasattr(action, "fcurves"):
        return list(action.fcurves)
    from bpy_extras import anim_utils  # Blender 5.0: layered actions.

    slot = obj.animation_data.action_slot
    return list(anim_utils.action_get_channelbag_for_slot(action, slot).fcurves)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--heavy", type=int, default=0)
    parser.add_argument("--subdiv", type=int, default=4)
    parser.add_argument("--script-marker", default=None)
    parser.add_argument("--move-camera", action="store_true",
                        help="animate the camera instead of the cube (no geometry changes)")
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv
                             else sys.argv[1:])
    build(args.size, args.samples, args.heavy, args.subdiv, args.script_marker,
          args.move_camera)
    bpy.ops.wm.save_as_mainfile(filepath=args.out, compress=False)


if __name__ == "__main__":
    main()
