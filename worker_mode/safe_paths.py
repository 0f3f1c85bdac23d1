"""Paths that come from elsewhere (a request, a preset, a submission, the manager's answers),
resolved inside the folder they are meant for, the same way on the manager and on workers.

A path passes ``relative_path`` when it is relative, uses ``/``, and cannot leave the folder
it is joined to on any platform: no ``..``, no root, no drive letter, no backslash, no names
Windows reserves, no control characters. ``StorageRoot.path`` then joins it to its folder and
also refuses what only the disk can tell: a symbolic link on the way that leads out.

No bpy and nothing of the manager here: the manager imports this module from worker mode.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

MAX_PATH_CHARS = 1000
MAX_COMPONENT_CHARS = 255
#: ``{jobs}/<checkout>/...``: a file of a job's checkout (Flamenco's convention).
JOBS_VARIABLE = "{jobs}"
#: Names Windows reserves in every folder; a worker on Windows could not create them.
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in range(10)
}
_FORBIDDEN_CHARS = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')
_DRIVE = re.compile(r"^[A-Za-z]:")
#: What makes a path absolute on some platform, or puts it under a variable's folder.
_ROOTED = re.compile(r"^(?:[/\\]|[A-Za-z]:|\{[A-Za-z_][A-Za-z0-9_]*\})")


class UnsafePath(ValueError):
    """A path that would not stay inside its folder; the message says why."""


def relative_path(value: str, max_chars: int = MAX_PATH_CHARS) -> PurePosixPath:
    """``value`` as a relative path that stays inside whatever folder it is joined to."""
    if not value:
        raise UnsafePath("the path is empty")
    if len(value) > max_chars:
        raise UnsafePath(f"the path is longer than {max_chars} characters")
    shown = repr(value[:200])
    if "\\" in value:
        raise UnsafePath(f"{shown} contains a backslash; separate folders with '/'")
    if value.startswith("/"):
        raise UnsafePath(f"{shown} is absolute; give a path relative to its folder")
    if _DRIVE.match(value):
        raise UnsafePath(f"{shown} starts with a drive letter")
    for part in value.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePath(f"{shown} has an empty, '.' or '..' component")
        if len(part) > MAX_COMPONENT_CHARS:
            raise UnsafePath(f"a component of {shown} is longer than {MAX_COMPONENT_CHARS} chars")
        if _FORBIDDEN_CHARS.search(part):
            raise UnsafePath(f"{shown} contains a character not allowed in file names")
        if part.endswith((" ", ".")):
            raise UnsafePath(f"{shown} has a component ending in a space or a dot")
        if part.split(".")[0].lower() in _WINDOWS_DEVICES:
            raise UnsafePath(f"{shown} uses a name Windows reserves ({part!r})")
    return PurePosixPath(value)


#: Between a share's name and the path inside it (``projects::shot.blend``), the /farm
#: protocol's way of naming a file every node finds in its own folder for the share.
SHARE_SEPARATOR = "::"


def is_share_path(value: object) -> bool:
    """Whether ``value`` is written ``share::path``; whether both parts are safe is
    ``relative_path``'s to say."""
    return isinstance(value, str) and SHARE_SEPARATOR in value


def is_relative(value: object) -> bool:
    """Whether ``value`` is a path relative to a folder still to be chosen: no root, drive,
    share or ``{variable}`` in front. It may still be an unsafe one (``relative_path``)."""
    return isinstance(value, str) and bool(value) and not _ROOTED.match(value)


def checkout_path(value: str) -> PurePosixPath | None:
    """The part after ``{jobs}/`` of a checkout path, checked; None for any other path."""
    if not value.startswith(JOBS_VARIABLE):
        return None
    rest = value[len(JOBS_VARIABLE) :]
    if not rest.startswith("/"):
        raise UnsafePath(f"{value[:200]!r}: write {JOBS_VARIABLE}/<checkout>/<file>")
    return relative_path(rest[1:])


class StorageRoot:
    """A folder that names from elsewhere are resolved in; nothing resolves outside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, relative: str | PurePosixPath, *, make_parents: bool = False) -> Path:
        """``relative`` inside the folder, or UnsafePath. With ``make_parents`` the folders on
        the way are created first (inside the folder only), so a link among them is seen."""
        checked = relative if isinstance(relative, PurePosixPath) else relative_path(relative)
        target = self.folder.joinpath(*checked.parts)
        if make_parents:
            self.folder.mkdir(parents=True, exist_ok=True)
            on_the_way = [f for f in target.parents if f.is_relative_to(self.folder)]
            for folder in reversed(on_the_way):
                # One by one, each checked first: past a link that leads out nothing is made,
                # and the check below refuses the path.
                if folder == self.folder or folder.is_dir() or not self.contains(folder):
                    continue
                if folder.exists():
                    shown = folder.relative_to(self.folder).as_posix()
                    raise UnsafePath(f"{shown!r} is a file, so {str(checked)!r} cannot be made")
                folder.mkdir()
        if not self.contains(target):
            raise UnsafePath(f"{str(checked)!r} leads outside {self.folder}")
        return target

    def contains(self, target: Path) -> bool:
        """Whether ``target`` (links followed, as opening it would) lies inside the folder."""
        return target.resolve().is_relative_to(self.folder.resolve())
