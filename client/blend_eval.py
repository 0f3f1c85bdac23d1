"""Evaluate a job type's settings in a .blend's scene; runs inside Blender, for the CLI.

    python blend_eval.py SPEC.json OUT.json                      (a Python with the bpy module)
    blender -b --factory-startup --python blend_eval.py -- SPEC.json OUT.json

The spec holds the .blend, the job type as served, the job name and the values already given.
This script is run by path, so it loads ``job_settings.py`` (stdlib only) from next to itself.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any


def _own_args() -> list[str]:
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return sys.argv[1:]


def _job_settings() -> ModuleType:
    path = Path(__file__).with_name("job_settings.py")
    spec = importlib.util.spec_from_file_location("farmhand_job_settings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main() -> int:
    spec_path, out_path = _own_args()[:2]
    spec = json.loads(Path(spec_path).read_text())
    out = Path(out_path)
    import bpy  # inside Blender only

    try:
        bpy.ops.wm.open_mainfile(filepath=spec["blendfile"], load_ui=False, use_scripts=False)
    except RuntimeError as exc:
        out.write_text(json.dumps({"error": f"cannot open {spec['blendfile']}: {exc}"}))
        return 1
    js = _job_settings()
    job_type = js.JobType.from_api(spec["job_type"])

    def namespace(values: Mapping[str, Any]) -> dict[str, Any]:
        return js.eval_namespace(
            context=bpy.context,
            bpy=bpy,
            blendfile=bpy.data.filepath,
            jobname=spec["jobname"],
            values=values,
        )

    try:
        values = js.evaluate_settings(job_type, make_namespace=namespace, given=spec["given"])
    except js.SettingEvalError as exc:
        out.write_text(json.dumps({"error": str(exc)}))
        return 1
    out.write_text(json.dumps({"settings": values}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
