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

from .file_cache import CHUNK, CacheError
from .outputs import sha256_of


class OutputsClient:
    def __init__(self, base_url: str, auth: tuple[str, str], session: Any = None) -> None:
        import requests  # here: Blender's Python has requests; importing it is not free

        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.http = session or requests.Session()
        self._requests = requests

    def _get(self, path: str, **kwargs: Any) -> Any:
        try:
            return self.http.get(
                f"{self.base_url}{path}", auth=self.auth, timeout=(5, 60), **kwargs
            )
        except self._requests.RequestException as exc:
            raise CacheError(f"cannot reach the manager: {exc}") from exc

    def job_has_checkout(self, job_id: str) -> bool:
        """Whether the job's files came through the manager's file store (no shared storage)."""
        response = self._get(f"/api/farmhand/jobs/{job_id}/checkout")
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise CacheError(f"the manager answered {response.status_code} about job {job_id}")
        return True

    def listing(self, job_id: str) -> list[dict[str, Any]]:
        response = self._get(f"/api/farmhand/jobs/{job_id}/outputs")
        if response.status_code != 200:
            raise CacheError(
                f"cannot list the outputs of job {job_id} ({response.status_code})"
            )
        return list(response.json().get("files", []))

    def download_matching(
        self,
        job_id: str,
        name_pattern: str,
        folder: Path,
        on_progress: Callable[[str], None],
    ) -> list[Path]:
        """Download the job's outputs whose name matches ``name_pattern`` into ``folder``."""
        wanted = [f for f in self.listing(job_id) if fnmatch.fnmatchcase(f["name"], name_pattern)]
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, entry in enumerate(sorted(wanted, key=lambda f: f["name"])):
            name = Path(entry["name"]).name  # listed names are flat; never leave the folder
            target = folder / name
            if not target.exists() or target.stat().st_size != entry["size"]:
                on_progress(f"fetching {name} ({index + 1}/{len(wanted)}) from the manager")
                self._download(job_id, entry, target)
            paths.append(target)
        return paths

    def _download(self, job_id: str, entry: dict[str, Any], target: Path) -> None:
        partial = target.with_name(target.name + ".part")
        response = self._get(f"/api/farmhand/jobs/{job_id}/outputs/{entry['name']}", stream=True)
        with response:
            if response.status_code != 200:
                raise CacheError(f"the manager answered {response.status_code} for {entry['name']}")
            try:
                with open(partial, "wb") as out:
                    for block in response.iter_content(CHUNK):
                        out.write(block)
            except self._requests.RequestException as exc:
                partial.unlink(missing_ok=True)
                raise CacheError(f"download of {entry['name']} interrupted: {exc}") from exc
        _, size = sha256_of(partial)
        if size != entry["size"]:
            partial.unlink(missing_ok=True)
            raise CacheError(
                f"{entry['name']}: got {size} bytes, the manager lists {entry['size']}"
            )
        shutil.move(partial, target)
