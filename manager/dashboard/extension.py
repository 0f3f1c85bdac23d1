"""The Blender add-on as an extension zip, built from the running manager's own source.

The repository root is the extension (``blender_manifest.toml``); the zip holds what Blender's
own builder (``blender --command extension build``) puts in it: every file under the root but
those the manifest's ``[build] paths_exclude_pattern`` leaves out, at the top of the zip. A
workstation gets the add-on that matches its manager from the dashboard, without Blender's
command-line tools. The zip is built on the first request and again only when a file changes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import threading
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import Response

from manager.core.errors import FarmError

#: The extension's root: the repository the manager runs from.
ADDON_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_NAME = "blender_manifest.toml"
ZIP_PATH = "/extension.zip"

router = APIRouter(tags=["dashboard"])


class NoAddonSource(FarmError):
    """This manager was installed without the add-on next to it."""

    status = 404


@dataclass(frozen=True)
class ExtensionZip:
    name: str
    """``farmhand-0.1.0.zip``, as Blender's builder names it."""
    data: bytes


def _excluded(relative: PurePosixPath, is_dir: bool, patterns: list[str]) -> bool:
    """Whether a path is left out by gitignore-style patterns, as Blender's builder reads them:
    ``/x`` only at the root, ``x/`` only folders, a pattern without ``/`` names at any depth."""
    text = relative.as_posix()
    for pattern in patterns:
        folders_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        if folders_only and not is_dir:
            continue
        if body.startswith("/"):
            if fnmatch.fnmatchcase(text, body[1:]):
                return True
        elif "/" in body:
            if fnmatch.fnmatchcase(text, body) or fnmatch.fnmatchcase(text, "*/" + body):
                return True
        elif fnmatch.fnmatchcase(relative.name, body):
            return True
    return False


def extension_files(root: Path) -> tuple[dict[str, object], list[tuple[str, Path]]]:
    """The manifest, and the files of the zip (name in the zip, path here), sorted."""
    try:
        manifest = tomllib.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoAddonSource(
            f"this manager has no add-on next to it ({root / MANIFEST_NAME} is missing); "
            "build the zip with Blender's extension builder (see the README)"
        ) from None
    build = manifest.get("build") or {}
    patterns = [str(p) for p in build.get("paths_exclude_pattern") or []]
    files: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(root):
        here = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if not (root / here / d).is_symlink()
                         and not _excluded(here / d, True, patterns))
        for name in sorted(names):
            relative = here / name
            path = root / relative
            if path.is_file() and not path.is_symlink() and not _excluded(relative, False,
                                                                          patterns):
                files.append((relative.as_posix().removeprefix("./"), path))
    return manifest, sorted(files)


def _signature(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        st = path.stat()
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build_zip(manifest: dict[str, object], files: list[tuple[str, Path]]) -> ExtensionZip:
    """The zip of the extension's files, named as Blender's builder names it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            archive.write(path, name)
    name = f"{manifest.get('id', 'extension')}-{manifest.get('version', '0')}.zip"
    return ExtensionZip(name, buffer.getvalue())


class _Cache:
    """The last zip built, reused while no file of the add-on changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._built: tuple[str, ExtensionZip] | None = None

    def get(self) -> ExtensionZip:
        with self._lock:
            manifest, files = extension_files(self.root)
            signature = _signature(files)
            if self._built is None or self._built[0] != signature:
                self._built = (signature, build_zip(manifest, files))
            return self._built[1]


_cache = _Cache(ADDON_ROOT)


@router.get(ZIP_PATH, include_in_schema=False)
def extension_zip() -> Response:
    """The add-on for Blender 4.2+: *Edit → Preferences → Get Extensions → Install from Disk*."""
    built = _cache.get()
    return Response(
        built.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{built.name}"',
            "Cache-Control": "no-cache",
        },
    )
