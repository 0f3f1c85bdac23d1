"""Worker mode: a headless Blender that renders the farm's frames.

Nothing here imports bpy at module level except ``render_child`` (the render process).
"""
