"""A job's frames as the manager keeps them, for the tasks that read them back.

Without shared storage the frames of a job exist only on the manager (every worker uploaded
its own and deleted its copy), so a ``frames-to-video`` task first downloads the frames it
encodes. Each download is checked against the size the manager lists.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .file_cache import CHUNK, CacheError, HttpFetcher
from .safe_paths import StorageRoot, UnsafePath


def job_has_checkout(fetcher: HttpFetcher, job_id: str) -> bool:
    """Whether the job's files came through the manager's file store (no shared storage)."""
    response = fetcher.get(f"/api/farmhand/jobs/{job_id}/checkout")
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise CacheError(f"the manager answered {response.status_code} about job {job_id}")
    return True


def download_matching(
    fetcher: HttpFetcher,
    job_id: str,
    name_pattern: str,
    folder: Path,
    on_progress: Callable[[str], None],
) -> list[Path]:
    """Download the job's outputs whose name matches ``name_pattern`` into ``folder``."""
    response = fetcher.get(f"/api/farmhand/jobs/{job_id}/outputs")
    if response.status_code != 200:
        raise CacheError(f"cannot list the outputs of job {job_id} ({response.status_code})")
    listed = response.json().get("files", [])
    wanted = sorted(
        (f for f in listed if fnmatch.fnmatchcase(f["name"], name_pattern)),
        key=lambda f: f["name"],
    )
    folder.mkdir(parents=True, exist_ok=True)
    root = StorageRoot(folder)
    paths = []
    for index, entry in enumerate(wanted):
        name = str(entry["name"]).rpartition("/")[2]  # the frames of a video lie side by side
        try:
            target = root.path(name)
        except UnsafePath as exc:
            raise CacheError(f"the manager listed an output named {name!r}: {exc}") from None
        if not target.exists() or target.stat().st_size != entry["size"]:
            on_progress(f"fetching {name} ({index + 1}/{len(wanted)}) from the manager")
            _download(fetcher, job_id, entry, target)
        paths.append(target)
    return paths


def _download(fetcher: HttpFetcher, job_id: str, entry: dict[str, Any], target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with fetcher.get(f"/api/farmhand/jobs/{job_id}/outputs/{entry['name']}", stream=True) as got:
        if got.status_code != 200:
            raise CacheError(f"the manager answered {got.status_code} for {entry['name']}")
        try:
            with open(partial, "wb") as out:
                for block in got.iter_content(CHUNK):
                    out.write(block)
        except OSError as exc:  # requests' errors are OSErrors too
            partial.unlink(missing_ok=True)
            raise CacheError(f"download of {entry['name']} interrupted: {exc}") from exc
    size = partial.stat().st_size
    if size != entry["size"]:
        partial.unlink(missing_ok=True)
        raise CacheError(f"{entry['name']}: got {size} bytes, the manager lists {entry['size']}")
    shutil.move(partial, target)
