"""What ``/farm`` and ``/potential`` answer, for the served OpenAPI document (the routes
build the bodies themselves; these models only describe them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, RootModel

FrameOut = int | list[int] | None


class InfoCommand(BaseModel):
    """How often to talk to the manager, in seconds."""

    id: Literal["info"]
    heartbeat: float
    arrhythmia: float
    error_scale: float
    hibernation: float
    memory: float


class TaskCommand(BaseModel):
    id: Literal["task"]
    uuid: str
    file: str
    frame: FrameOut
    issued: float
    requires: list[str]
    prmanCommands: None  # noqa: N815 (the RFAM node's name)


class KillCommand(BaseModel):
    id: Literal["kill"]
    uuid: str
    frame: FrameOut


class Commandments(RootModel[list[InfoCommand | TaskCommand | KillCommand]]):
    """The node's orders, in the order of its requests."""


class RegisteredCommand(BaseModel):
    id: Literal["registered"]
    name: str
    server: str
    """The node's own URL, to be used from now on."""
    message: str


class Registered(RootModel[list[RegisteredCommand]]):
    pass


class PotentialJob(BaseModel):
    uuid: str
    name: str
    created: float
    file: str
    priority: int
    video: bool
    requires: list[str]
    frames: int


class Potential(RootModel[list[PotentialJob]]):
    """Jobs not reported to this cluster before."""
