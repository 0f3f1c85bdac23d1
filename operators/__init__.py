"""The add-on's operators; registered in order, unregistered in reverse."""

from __future__ import annotations

from .. import farm_state
from . import connection, job_type_props, jobs, outputs, submit, worker, worker_tags

_modules = (job_type_props, worker_tags, connection, submit, jobs, outputs, worker)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
    farm_state.reset()
