"""A task's files when the job came through the manager's file store (no shared storage).

Such a job names its file ``{jobs}/<checkout>/shot.blend``. The worker then fetches the
checkout into its cache (``file_cache.py``), renders into a folder of its own instead of the
submitter's output path, and uploads each frame as soon as Blender wrote it
(``outputs.py``). Jobs with plain paths (shared storage) are left alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .file_cache import CacheError, FileCache, HttpFetcher
from .job_outputs import download_matching, job_has_checkout
from .outputs import OutputUploader, UploadError, local_render_output
from .safe_paths import JOBS_VARIABLE

log = logging.getLogger(__name__)

Credentials = Callable[[], tuple[str, str]]


def is_checkout_path(path: object) -> bool:
    return isinstance(path, str) and path.startswith(JOBS_VARIABLE + "/")


class JobFiles:
    def __init__(self, manager_url: str, data_dir: Path, credentials: Credentials) -> None:
        self.manager_url = manager_url
        self.data_dir = data_dir
        self.credentials = credentials
        self._local = threading.local()

    def _fetcher(self) -> HttpFetcher:
        return HttpFetcher(self.manager_url, self.credentials())

    def _cache(self) -> FileCache:
        return FileCache(self.data_dir / "file-cache", self._fetcher())

    def local_blendfile(self, job_id: str, path: str, on_progress: Callable[[str], None]) -> str:
        """Fetch the job's checkout (what is not cached yet) and return the local path."""
        cache = self._cache()
        try:
            folder = cache.prepare_job(job_id, on_progress)
            # Other jobs' folders are only links: cheap to lay out again, and while they
            # exist, evicted cache files would keep their disk space.
            cache.remove_checkouts_except([folder])
            return cache.resolve(path)
        except (CacheError, ValueError) as exc:
            raise CacheError(f"cannot get the job's files: {exc}") from exc

    def local_output(self, job_id: str, render_output: str) -> str:
        return local_render_output(render_output, self.data_dir / "outputs" / job_id)

    def uses_file_store(self, job_id: str) -> bool:
        """Whether the job's files (and so its frames) live on the manager, not on a share."""
        return job_has_checkout(self._fetcher(), job_id)

    def fetch_frames(
        self, job_id: str, name_pattern: str, on_progress: Callable[[str], None]
    ) -> list[Path]:
        """The job's uploaded frames matching ``name_pattern``, downloaded to a folder here."""
        folder = self.data_dir / "outputs" / job_id / "frames-for-video"
        return download_matching(self._fetcher(), job_id, name_pattern, folder, on_progress)

    def upload(self, task_id: str, path: str) -> None:
        """Deliver one frame; returns once the manager has it, verified. Raises UploadError."""
        uploader = getattr(self._local, "uploader", None)
        if uploader is None:
            uploader = OutputUploader(self.manager_url, self.credentials())
            self._local.uploader = uploader
        uploader.upload(task_id, Path(path))
        Path(path).unlink(missing_ok=True)  # the manager has it, verified


__all__ = ["CacheError", "JobFiles", "UploadError", "is_checkout_path"]
