"""Names for Blender's enum argument types, for type checking against fake-bpy-module.

At run time they are plain ``str``: the stubs' enum aliases exist only for type checkers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems as Icon
    from bpy.stub_internal.rna_enums import OperatorReturnItems as OperatorResult
else:
    Icon = str
    OperatorResult = str

__all__ = ["Icon", "OperatorResult"]
