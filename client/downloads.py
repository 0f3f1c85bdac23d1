"""A job's finished frames brought into a folder: each file once, resumable, with progress.

A small record in the folder (``.farmhand-downloads.json``) keeps, per file, the manager's
size and time of the version that was fetched and the SHA-256 of what was written. A file
whose manager version is the one recorded and whose bytes here still hash to the record is not
fetched again; a cut download goes on from the bytes it has; a new version whose bytes equal
what is here leaves the file untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .api import ManagerAPI

RECORD_NAME = ".farmhand-downloads.json"
PART_SUFFIX = ".farmhand-part"
_HASH_BLOCK = 1024 * 1024

#: ``progress(step, fraction)``, as :class:`client.progress.ProgressBar.update` takes it.
Progress = Callable[[str, float], None]


class DownloadFolderError(Exception):
    """The place to download into cannot be a folder (a file is there, or it is not writable)."""


def check_folder(folder: Path, option: str = "--to") -> None:
    """Refuse a target that is a file, before anything is fetched."""
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                what = "it" if place == folder else f"{place} is a file, so it"
                raise DownloadFolderError(f"{option} {folder}: {what} cannot hold downloads")
            return


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def local_path(folder: Path, name: str) -> Path | None:
    """Where an output named by the manager goes; None for a name that would leave the folder."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or any(p in ("..", "/") or p.endswith(PART_SUFFIX) for p in parts):
        return None
    if parts[0] == RECORD_NAME:
        return None
    return folder.joinpath(*(p for p in parts if p != "."))


@dataclass
class SyncResult:
    fetched: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes: int = 0
    total: int = 0
    """How many outputs the job has now."""


class FrameSync:
    """The outputs of one job, kept in step with a folder across calls (and runs)."""

    def __init__(self, api: ManagerAPI, job_id: str, folder: Path) -> None:
        self.api = api
        self.job_id = job_id
        self.folder = folder
        self._record_path = folder / RECORD_NAME
        self._record: dict[str, dict[str, Any]] = self._load_record()
        # Files already checked against the record in this run: hashed once, not per poll.
        self._checked: set[str] = set()

    def _load_record(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or data.get("job_id") != self.job_id:
            return {}
        return {str(k): v for k, v in files.items() if isinstance(v, dict)}

    def _save_record(self) -> None:
        temporary = self._record_path.with_name(self._record_path.name + ".tmp")
        temporary.write_text(
            json.dumps({"job_id": self.job_id, "files": self._record}, indent=1), encoding="utf-8"
        )
        os.replace(temporary, self._record_path)

    def _have(self, output: dict[str, Any], path: Path) -> bool:
        name = str(output["name"])
        entry = self._record.get(name)
        if entry is None or not entry.get("sha256"):
            return False
        if (entry.get("size"), entry.get("modified")) != (output["size"], output["modified"]):
            return False
        if name in self._checked:
            return True
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return False
        if file_sha256(path) != entry["sha256"]:
            return False
        self._checked.add(name)
        return True

    def sync(self, progress: Progress | None = None) -> SyncResult:
        """Fetch the outputs that are new, changed, or missing or altered here."""
        check_folder(self.folder)
        result = SyncResult()
        outputs = self.api.job_outputs(self.job_id)
        result.total = len(outputs)
        todo: list[tuple[dict[str, Any], Path]] = []
        for output in outputs:
            path = local_path(self.folder, str(output["name"]))
            if path is None:
                continue
            if self._have(output, path):
                result.unchanged += 1
            else:
                todo.append((output, path))
        if todo:
            self.folder.mkdir(parents=True, exist_ok=True)
        needed = sum(int(o["size"]) for o, _ in todo) or 1
        for output, path in todo:
            written = self._fetch(output, path, result, needed, progress)
            result.bytes += written
            result.fetched.append(str(output["name"]))
        if progress is not None and todo:
            progress(f"{len(todo)} file(s) fetched", 1.0)
        return result

    def _fetch(
        self,
        output: dict[str, Any],
        path: Path,
        result: SyncResult,
        needed: int,
        progress: Progress | None,
    ) -> int:
        name = str(output["name"])
        version = {"size": output["size"], "modified": output["modified"]}
        part = path.with_name(path.name + PART_SUFFIX)
        entry = self._record.get(name, {})
        resuming = (
            part.is_file() and not entry.get("sha256")
            and (entry.get("size"), entry.get("modified")) == (version["size"], version["modified"])
        )
        if not resuming:
            part.unlink(missing_ok=True)
            self._record[name] = {**version, "sha256": ""}
            self._save_record()
        path.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        begins, chunks = self.api.stream_from(str(output["url"]), have)
        written = 0
        with part.open("r+b" if part.exists() else "wb") as out:
            out.seek(begins)
            out.truncate()
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(name, (result.bytes + written) / needed)
        digest = file_sha256(part)
        if path.is_file() and file_sha256(path) == digest:
            part.unlink()  # the same bytes are here already: leave the file as it is
        else:
            os.replace(part, path)
        self._record[name] = {**version, "sha256": digest}
        self._checked.add(name)
        self._save_record()
        return written


_OUTPUT_FLAGS = ("--render-output", "-o")


def render_output_folder(api: ManagerAPI, job_id: str) -> str | None:
    """The folder a job's render tasks write frames to, as the manager filled it in (with the
    job's ``{timestamp}``): the folder the artist's panel names. None when no task renders."""
    for task in api.job_tasks(job_id):
        detail = api.get_json(f"/api/v3/tasks/{task['id']}")
        for command in detail.get("commands") or []:
            parameters = command.get("parameters") or {}
            args = [*(parameters.get("argsBefore") or []), *(parameters.get("args") or [])]
            for flag in _OUTPUT_FLAGS:
                if flag in args[:-1]:
                    output = str(args[args.index(flag) + 1])
                    return os.path.dirname(output) or None
        if detail.get("type") == "blender":
            return None  # a render task without an output: the .blend's own path is used
    return None
