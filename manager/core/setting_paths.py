"""The paths of a submission: which settings are paths, and which of their forms are refused.

A path setting (a string setting with a path subtype, and ``blendfile`` whatever its preset
says) is one of:

- ``{jobs}/<checkout>/<file>``: a file of a checkout in the manager's file store; the rest
  must be a relative path that stays inside the checkout, by the rule the worker applies;
- absolute (``/mnt/render/shot.blend``, ``R:\\shot.blend``, ``\\\\nas\\shot.blend``, or a
  two-way variable such as ``{render}/shot.blend``): a file on shared storage, opened by
  the worker on its own machine;
- relative (``projects/shot.blend``): inside a storage folder (the manager's); it must stay
  inside whatever folder it is resolved in;
- on a share (``projects::shot.blend``, the /farm protocol's convention): a share name,
  which each node maps to a folder of its own, then a relative path inside that folder.

No form may climb with ``..`` or hold control characters. Job types whose paths the manager
resolves in its own folders say so with a ``relative_path: false`` reject rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from manager.core.bounds import control_character
from manager.core.errors import BadInput
from manager.core.job_types import JobType
from worker_mode.safe_paths import (
    JOBS_VARIABLE,
    SHARE_SEPARATOR,
    UnsafePath,
    checkout_path,
    is_relative,
    is_share_path,
    relative_path,
)

PATH_SUBTYPES = ("file_path", "dir_path", "hashed_file_path")
#: Path settings whatever their preset says: Flamenco's own presets give ``blendfile`` no
#: subtype, and it is the file every worker opens.
PATH_KEYS = ("blendfile",)


def path_settings(job_type: JobType) -> list[str]:
    return [
        s.key
        for s in job_type.settings
        if s.type == "string" and (s.api.get("subtype") in PATH_SUBTYPES or s.key in PATH_KEYS)
    ]


def share_path(value: str) -> tuple[str, PurePosixPath] | None:
    """``(share, path)`` of a ``share::path`` value, both checked; None for other forms."""
    if not is_share_path(value):
        return None
    share, rest = value.split(SHARE_SEPARATOR, 1)
    if not share or "/" in share or share != str(relative_path(share, 200)):
        raise UnsafePath(f"{value[:200]!r}: the share name before '::' is not a plain name")
    return share, relative_path(rest)


def check_path(value: str) -> None:
    """UnsafePath when ``value`` is no path a worker or the manager may follow."""
    bad = control_character(value)
    if bad is not None:
        raise UnsafePath(f"paths may not contain control characters ({bad})")
    if share_path(value) is not None:
        return
    if value.startswith(JOBS_VARIABLE):
        checkout_path(value)
        return
    if ".." in re.split(r"[/\\]", value):
        raise UnsafePath(f"{value[:200]!r} climbs out of its folder with '..'")
    if is_relative(value):
        relative_path(value)


def check_path_settings(job_type: JobType, settings: Mapping[str, Any]) -> None:
    """BadInput naming the first path setting of a submission that is refused."""
    for key in path_settings(job_type):
        value = settings.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            check_path(value)
        except UnsafePath as exc:
            raise BadInput(f"settings.{key}: {exc}") from None
