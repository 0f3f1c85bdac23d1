"""``python -m worker_mode --manager URL``: the worker with the bpy module."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
