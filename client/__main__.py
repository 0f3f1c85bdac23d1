"""``python -m client``: the ``farmhand`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
