"""The v3 meta API: version, configuration, variables, shared storage and farm status."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

import manager
from manager.api.v3 import schemas, spec_models
from manager.core import variables
from manager.core.farm_status import farm_status
from manager.web.deps import FarmDep

router = APIRouter(prefix="/api/v3", tags=["meta"])
#: Reachable without the access token: workers and the add-on check the manager with it.
public_router = APIRouter(prefix="/api/v3", tags=["meta"])

Audience = Literal["workers", "users"]


#: The Flamenco release whose API this manager speaks. Flamenco's add-on compares its own
#: version with ``shortversion`` and asks for a forced submission when they differ, so the
#: version answered is Flamenco's; Farmhand's own is ``farmhand_version``.
FLAMENCO_VERSION = "3.9"

#: How Flamenco's add-on names itself (``Flamenco/3.9-beta1 (Blender add-on)``). Every 3.x
#: add-on submits through the API this manager speaks, and it demands a forced submission
#: unless ``shortversion`` equals its own version string, betas included, so such an add-on
#: is answered its own version.
_FLAMENCO_ADDON = re.compile(
    r"Flamenco/(3\.\d{1,3}(?:[-.+][0-9A-Za-z.-]{1,40})?) \(Blender add-on\)"
)


def flamenco_version_for(user_agent: str) -> str:
    """The Flamenco version to answer the caller: its own if it is a 3.x Flamenco add-on."""
    asking = _FLAMENCO_ADDON.fullmatch(user_agent.strip())
    return asking.group(1) if asking else FLAMENCO_VERSION


@public_router.get("/version", response_model=spec_models.FlamencoVersion)
def get_version(farm: FarmDep, user_agent: str = Header(default="")) -> JSONResponse:
    version = flamenco_version_for(user_agent)
    return JSONResponse(
        {
            "version": version,
            "shortversion": version,
            "name": farm.settings.manager_name,
            "git": "",
            "farmhand_version": manager.__version__,
        }
    )


def _storage_location(farm: FarmDep) -> str:
    return farm.settings.shared_storage or str(farm.settings.storage_dir.resolve())


@router.get("/configuration", response_model=spec_models.ManagerConfiguration)
def get_configuration(farm: FarmDep) -> JSONResponse:
    return JSONResponse(
        {
            "storageLocation": _storage_location(farm),
            "shamanEnabled": not farm.settings.shared_storage,
            "isFirstRun": False,
        }
    )


@router.post("/configuration/check/shared-storage", response_model=spec_models.PathCheckResult)
def check_shared_storage_path(body: schemas.PathCheckInput) -> JSONResponse:
    path = Path(body.path)

    def result(usable: bool, cause: str) -> JSONResponse:
        return JSONResponse({"path": body.path, "is_usable": usable, "cause": cause})

    if not body.path.strip():
        return result(False, "An empty path is not usable as shared storage.")
    if not path.is_absolute():
        return result(False, "Use an absolute path, so every machine means the same folder.")
    try:
        if not path.exists():
            return result(False, "The path does not exist on the manager.")
        if not path.is_dir():
            return result(False, "The path is not a folder.")
    except OSError as exc:  # a name too long, a NUL: no folder can have it
        return result(False, f"The manager cannot look at this path: {exc.strerror or exc}.")
    if not os.access(path, os.W_OK | os.X_OK):
        return result(False, "The manager cannot write to this folder.")
    return result(True, "The folder exists and the manager can write to it.")


@router.get(
    "/configuration/variables/{audience}/{platform}", response_model=spec_models.ManagerVariables
)
def get_variables(audience: Audience, platform: str, farm: FarmDep) -> JSONResponse:
    return JSONResponse(variables.variables_for(farm.settings.variables, platform.lower()))


@router.get(
    "/configuration/shared-storage/{audience}/{platform}",
    response_model=spec_models.SharedStorageLocation,
)
def get_shared_storage(audience: Audience, platform: str, farm: FarmDep) -> JSONResponse:
    location = variables.to_platform(
        _storage_location(farm),
        farm.settings.variables,
        variables.manager_platform(),
        platform.lower(),
    )
    return JSONResponse(
        {
            "location": location,
            "audience": audience,
            "platform": platform,
            "shamanEnabled": not farm.settings.shared_storage,
        }
    )


@router.get("/status", response_model=spec_models.FarmStatusReport)
def get_farm_status(farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        return JSONResponse({"status": farm_status(session)})
