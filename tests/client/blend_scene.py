"""Builds and renders the packing tests' scenes (run with a Python that has bpy).

    python blend_scene.py build ROOT      ROOT/library/lib.blend and ROOT/project/shot.blend
    python blend_scene.py render BLEND OUT.png

``lib.blend`` holds a plane showing ``library/tex/blue.png`` (right half of the frame);
``shot.blend`` has a plane showing ``project/textures/red.png`` (left half) and links the
library's collection. Both images are emission-only, so the render shows their exact colours.
``render`` fails when any image or library the file names does not exist, and prints the
absolute paths it used, one per line, prefixed with ``uses:``.
"""

from __future__ import annotations

import os
import sys

import bpy


def textured_plane(name: str, image_path: str, x: float) -> bpy.types.Object:
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(x, 0.0, 0.0))
    plane = bpy.context.active_object
    plane.name = name
    mat = bpy.data.materials.new(name + "Mat")
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = bpy.data.images.load(image_path)
    tex.interpolation = "Closest"
    emission = nodes.new("ShaderNodeEmission")
    out = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(tex.outputs["Color"], emission.inputs["Color"])
    mat.node_tree.links.new(emission.outputs[0], out.inputs[0])
    plane.data.materials.append(mat)
    return plane


def empty_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def build(root: str) -> None:
    lib_dir = os.path.join(root, "library")
    project = os.path.join(root, "project")

    scene = empty_scene()
    plane = textured_plane("LibPlane", os.path.join(lib_dir, "tex", "blue.png"), 0.5)
    collection = bpy.data.collections.new("LibCollection")
    scene.collection.children.link(collection)
    scene.collection.objects.unlink(plane)
    collection.objects.link(plane)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(lib_dir, "lib.blend"), relative_remap=True)

    scene = empty_scene()
    scene.name = "Scene"
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    scene.render.resolution_x = scene.render.resolution_y = 32
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("World")
    world.color = (0, 0, 0)
    scene.world = world
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = 2.0
    cam = bpy.data.objects.new("Camera", cam_data)
    cam.location = (0.0, 0.0, 5.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    textured_plane("ShotPlane", os.path.join(project, "textures", "red.png"), -0.5)
    with bpy.data.libraries.load(os.path.join(lib_dir, "lib.blend"), link=True) as (src, dst):
        dst.collections = ["LibCollection"]
    scene.collection.children.link(dst.collections[0])
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "shot.blend"), relative_remap=True)


def render(blend: str, out: str) -> None:
    bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)
    used = [bpy.path.abspath(lib.filepath) for lib in bpy.data.libraries]
    used += [
        bpy.path.abspath(img.filepath, library=img.library)
        for img in bpy.data.images
        if img.source == "FILE"
    ]
    for path in used:
        print("uses:" + os.path.realpath(path))
        if not os.path.isfile(path):
            sys.exit(f"missing: {path}")
    if len(bpy.data.libraries) != 1 or len(used) != 3:
        sys.exit(f"expected one library and two images, got {used}")
    scene = bpy.context.scene
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if args[0] == "build":
        build(args[1])
    elif args[0] == "render":
        render(args[1], args[2])
    else:
        sys.exit(f"unknown command {args[0]!r}")
