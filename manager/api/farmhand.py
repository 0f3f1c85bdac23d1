"""Farmhand's own additions to the API, under ``/api/farmhand`` (not part of Flamenco's)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from manager.api.deps import FarmDep

router = APIRouter(prefix="/api/farmhand", tags=["farmhand"])


@router.get("/job-type-errors")
def job_type_errors(farm: FarmDep) -> JSONResponse:
    """Presets that could not be loaded, and why; the other job types keep working."""
    return JSONResponse(
        {"errors": [{"path": str(e.path), "message": e.message} for e in farm.job_types.errors()]}
    )
