"""Manager variables: ``{name}`` values per platform, and two-way path replacement.

One-way variables are expanded when a task goes to a worker; two-way variables also turn a
submitter's platform-specific path (``R:\\render``) back into ``{name}`` at submission, so one
job works on Linux, Windows and macOS workers alike.
"""

from __future__ import annotations

import platform as _platform

from manager.config import Variable

ALL_PLATFORMS = "all"


def manager_platform() -> str:
    return _platform.system().lower()


def value_for(variable: Variable, platform: str) -> str | None:
    fallback = None
    for item in variable.values:
        if item.platform == platform:
            return item.value
        if item.platform == ALL_PLATFORMS:
            fallback = item.value
    return fallback


def variables_for(variables: dict[str, Variable], platform: str) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, variable in variables.items():
        value = value_for(variable, platform)
        if value is not None:
            out[name] = {"name": name, "value": value, "is_twoway": variable.is_twoway}
    return out


def to_platform(path: str, variables: dict[str, Variable], source: str, target: str) -> str:
    """Rewrite a path from one platform's two-way variable values to another's."""
    for variable in variables.values():
        if not variable.is_twoway:
            continue
        src, dst = value_for(variable, source), value_for(variable, target)
        if src and dst is not None and path.startswith(src):
            rest = path[len(src) :]
            if "\\" in dst or ":" in dst[:2]:
                rest = rest.replace("/", "\\")
            else:
                rest = rest.replace("\\", "/")
            if dst.endswith(("/", "\\")) and rest.startswith(("/", "\\")):
                rest = rest[1:]
            return dst + rest
    return path
