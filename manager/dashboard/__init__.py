"""The web dashboard: a page at ``/`` that watches and steers the farm, its read queries
(``/api/farmhand/...``) and a server-sent event stream of farm changes. State changes go
through the API that every client uses (``/api/v3``, and ``manager/api/farmhand/`` for
Farmhand's own controls), never through this package."""

from __future__ import annotations

from manager.dashboard.routes import install

__all__ = ["install"]
