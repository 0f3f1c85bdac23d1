"""Farmhand's client side without Blender: the manager API, job settings and the CLI.

Imports inside this package are relative: the add-on loads it as part of the extension
(``bl_ext.<repo>.farmhand.client``), the ``farmhand`` command as the top-level ``client``.
"""
