"""Helpers for the protocol tests: the running app behind a manager fixture, jobs to render."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.conftest import Manager, submit


def app_of(manager: Manager) -> FastAPI:
    app: FastAPI = manager._server.config.app
    return app


def submit_frames(manager: Manager, frames: str = "1-2", **overrides: Any) -> dict[str, Any]:
    settings = {"blendfile": overrides.pop("blendfile", "projects/shot.blend"), "frames": frames}
    return submit(
        manager, overrides.pop("job_type", "single-frame-render"), settings=settings, **overrides
    )


def job_status(manager: Manager, job_id: str) -> str:
    response = manager.get(f"/api/v3/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])
