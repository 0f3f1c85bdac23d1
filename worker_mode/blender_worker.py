"""Start the worker from a Blender binary or any Python with the bpy module.

    blender -b --python worker_mode/blender_worker.py -- --manager http://farm:8080
    python worker_mode/blender_worker.py --manager http://farm:8080

This file is the one place that bootstraps the ``worker_mode`` package: it is run as a script,
so it puts the repository root on ``sys.path`` and imports the package from there. Inside the
package every import is relative, as Blender's extension system requires.
"""

import os
import sys


def _own_args() -> list[str]:
    """The arguments meant for the worker: after ``--`` inside Blender, all of them otherwise."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    if "bpy" in sys.modules:  # Inside Blender without "--": Blender's own arguments only.
        return []
    return sys.argv[1:]


def _bootstrap() -> int:
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    from worker_mode.cli import main

    return main(_own_args())


if __name__ == "__main__":
    sys.exit(_bootstrap())
