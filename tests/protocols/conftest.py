"""Helpers for the protocol tests: the running app behind a manager fixture, jobs to render,
and what the farm shows while a big submission goes in."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from manager.core import write_steps
from manager.db.models import Job, Task
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


def between_steps(monkeypatch: pytest.MonkeyPatch, look: Callable[[], None]) -> None:
    """Have ``look`` run in each pause between two steps of a long write (a submission stored
    in steps, a big job's status change), where the worker requests queued meanwhile get
    their turn."""
    monkeypatch.setattr(write_steps, "time", SimpleNamespace(sleep=lambda _: look()))


def stored_jobs(manager: Manager) -> list[tuple[str, int]]:
    """Each stored job's status and how many of its tasks are stored."""
    with manager.farm.db.read() as session:
        rows = session.execute(
            select(Job.status, func.count(Task.id))
            .outerjoin(Task, Task.job_id == Job.id)
            .group_by(Job.id, Job.status)
            .order_by(Job.id)
        )
        return [(status, count) for status, count in rows]
