"""The composition root: the manager's ASGI application, its doors and its middleware, built
from settings so tests can run many side by side. What runs beside the requests lives in
``manager.lifespan``."""

from __future__ import annotations

import logging

from fastapi import FastAPI

import manager
from manager.api.farmhand import controls, files, outputs
from manager.api.v3 import jobs, meta, shaman, worker, worker_mgt
from manager.config import Settings
from manager.core.farm import Farm
from manager.dashboard import install as install_dashboard
from manager.lifespan import lifespan_of
from manager.protocols import farm_json, flamenco2022, rest2015, sheepit
from manager.web.access_url import AccessInUrl
from manager.web.deps import AccessDep
from manager.web.errors import install_error_handlers
from manager.web.json_body import InputCheck
from manager.web.limits import BodySizeLimit
from manager.web.openapi import install_openapi

log = logging.getLogger(__name__)

#: Uploads have their own, larger limits; JSON bodies get the general one.
UPLOAD_PATHS = ("/api/v3/shaman/files/", "/sheepit/server/", outputs.UPLOAD_PREFIX)
#: Doors that check what they read themselves: the SheepIt-style protocol (forms, errors in
#: XML), and /farm and /potential, which read their bodies with ``read_json``.
OWN_INPUT_CHECKS = ("/sheepit/", "/farm", "/potential")


def create_app(settings: Settings, *, run_health_checks: bool = True) -> FastAPI:
    farm = Farm(settings)
    app = FastAPI(
        title=f"{manager.NAME} manager",
        version=manager.__version__,
        description="Render farm manager for Blender; speaks the Flamenco v3 API.",
        lifespan=lifespan_of(farm, health_checks=run_health_checks),
    )
    app.state.farm = farm
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(meta.public_router)
    app.include_router(worker.router)
    for router in (meta.router, worker_mgt.router, jobs.router, files.router, controls.router):
        app.include_router(router, dependencies=[AccessDep])
    shaman.install(app)
    outputs.install(app)
    flamenco2022.install(app)
    farm_json.install(app)
    sheepit.install(app)
    rest2015.install(app)
    install_dashboard(app)
    app.add_middleware(InputCheck, exempt_prefixes=OWN_INPUT_CHECKS)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_bytes, exempt_prefixes=UPLOAD_PATHS
    )
    # Outermost: the other middleware see the path without the token in it.
    app.add_middleware(AccessInUrl, access_token=lambda: farm.settings.access_token)
    return app
