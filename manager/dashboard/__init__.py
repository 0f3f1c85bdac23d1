"""The web dashboard: a page at ``/`` that watches and steers the farm, its read queries
(``/api/farmhand/...``) and a server-sent event stream of farm changes. State changes go
through the API that every client uses (``/api/v3``, and ``manager/api/farmhand/`` for
Farmhand's own controls), never through this package. It also serves the Blender add-on
(``extension.py``), so a workstation installs the one that matches its manager."""

from __future__ import annotations

from fastapi import FastAPI

from manager.dashboard import extension, routes


def install(app: FastAPI) -> None:
    """The dashboard's routes, and the add-on's zip at ``/extension.zip``."""
    routes.install(app)
    app.include_router(extension.router)


__all__ = ["install"]
