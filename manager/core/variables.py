"""Manager variables: ``{name}`` values per platform, and two-way path replacement.

One-way variables are expanded when a task goes to a worker; two-way variables also turn a
submitter's platform-specific path (``R:\\render``) back into ``{name}`` at submission, so one
job works on Linux, Windows and macOS workers alike.
"""

from __future__ import annotations

import platform as _platform
import re
from typing import Any

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


def _is_windows_path(value: str) -> bool:
    return "\\" in value or value[1:2] == ":"


def _starts_path(text: str, prefix: str) -> bool:
    """``text`` is ``prefix`` or goes on below it (``/mnt/render`` is not under ``/mnt/ren``)."""
    if not prefix or not text.startswith(prefix):
        return False
    rest = text[len(prefix) :]
    return not rest or prefix.endswith(("/", "\\")) or rest[0] in "/\\"


def to_variables(value: Any, variables: dict[str, Variable], platform: str) -> Any:
    """Submission: a path under a two-way variable's ``platform`` value becomes ``{name}...``.

    Applied to every string in ``value`` (settings, lists of them); the longest matching value
    wins, so ``/mnt/render/shots`` beats ``/mnt/render``.
    """
    if isinstance(value, dict):
        return {k: to_variables(v, variables, platform) for k, v in value.items()}
    if isinstance(value, list):
        return [to_variables(v, variables, platform) for v in value]
    if not isinstance(value, str):
        return value
    best: tuple[str, str] | None = None
    for name, variable in variables.items():
        own = value_for(variable, platform) if variable.is_twoway else None
        if own and _starts_path(value, own) and (best is None or len(own) > len(best[1])):
            best = (name, own)
    if best is None:
        return value
    name, own = best
    rest = value[len(own) :].replace("\\", "/")
    if own.endswith(("/", "\\")):
        rest = "/" + rest
    return "{" + name + "}" + rest


def expand_for_platform(value: Any, variables: dict[str, Variable], platform: str) -> Any:
    """Task hand-out: ``{name}`` becomes the variable's value on the worker's platform.

    After a two-way variable the rest of the path gets the platform's separators. Names that
    are not variables (``{jobs}`` for a checkout, placeholders of the worker) stay as they are.
    """
    if isinstance(value, dict):
        return {k: expand_for_platform(v, variables, platform) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_for_platform(v, variables, platform) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if variable is None:
            return match.group(0)
        own = value_for(variable, platform)
        if own is None:
            return match.group(0)
        rest = match.group(2)
        if variable.is_twoway and rest:
            rest = rest.replace("/", "\\") if _is_windows_path(own) else rest.replace("\\", "/")
            if own.endswith(("/", "\\")) and rest[0] in "/\\":
                rest = rest[1:]
        return own + rest

    return _VARIABLE_RE.sub(replace, value)


#: ``{name}`` and the path that follows it, up to white space or a quote.
_VARIABLE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}([^\s\"'{]*)")
