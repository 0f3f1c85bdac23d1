"""The web dashboard: a page at ``/`` that watches and steers the farm, its read queries
(``/api/farmhand/...``) and a server-sent event stream of farm changes. State changes go
through the ``/api/v3`` endpoints, never through this package."""

from __future__ import annotations

from manager.dashboard.routes import install

__all__ = ["install"]
