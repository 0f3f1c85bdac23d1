"""What the 2015 REST API answers, for the served OpenAPI document (the routes build the
bodies themselves; these models only describe them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, RootModel


class Task2015(BaseModel):
    id: int
    worker_id: int | None
    """The 2015 number of the worker rendering it, if one is."""
    priority: int
    frame_start: int
    frame_end: int
    frame_current: int
    status: Literal["ready", "rendering", "completed", "failed", "canceled", "paused"]
    format: str


class Worker2015(BaseModel):
    activity: str | None
    connection: Literal["online", "offline"]
    current_task: int | None
    hostname: str
    id: int
    ip_address: str
    log: None
    port: int
    status: Literal["enabled", "disabled"]
    system: str
    time_cost: None


class Workers2015(RootModel[dict[str, Worker2015]]):
    """Workers by hostname."""


class WorkerFacts2015(BaseModel):
    hostname: str
    mac_address: int | str | None
    system: str
    update_frequent: dict[str, Any]
    update_less_frequent: dict[str, Any]


class WorkerOrder2015(BaseModel):
    task_id: int | None
    """The 2015 number of the task the worker is to render, or none."""
