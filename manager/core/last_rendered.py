"""The last rendered frame of each job (and of the farm), as JPEG thumbnails at fixed sizes;
a new one is told to the farm's live views once its files are in place."""

from __future__ import annotations

import io
import json
import shutil
import threading
import uuid
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from manager.core.errors import BadInput
from manager.core.events import EventBus
from worker_mode.safe_paths import StorageRoot

#: (file name, max width, max height): the sizes Flamenco's web interface asks for.
THUMBNAILS = (
    ("last-rendered.jpg", 1920, 1080),
    ("last-rendered-small.jpg", 600, 338),
    ("last-rendered-tiny.jpg", 200, 112),
)
ACCEPTED_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 100_000_000
#: Which job the farm's last frame belongs to, kept beside the jobs' folders.
LAST_JOB = "last-job.json"


class LastRenderedStore:
    def __init__(self, root: Path, events: EventBus | None = None) -> None:
        self.root = root
        self._folder = StorageRoot(root)
        self._events = events
        self._lock = threading.Lock()

    def job_dir(self, job_id: str) -> Path:
        return self._folder.path(str(uuid.UUID(job_id)))

    def store(self, job_id: str, data: bytes) -> None:
        """Make the thumbnails of an uploaded frame; bad images are refused, never half-kept."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("JPEG", "PNG"):
                    raise BadInput("the image is neither JPEG nor PNG")
                if image.width * image.height > MAX_PIXELS:
                    raise BadInput("the image has too many pixels for a preview")
                image.load()
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise BadInput(f"not a readable image: {exc}") from None
        encoded = []
        for name, width, height in THUMBNAILS:
            thumb = rgb.copy()
            thumb.thumbnail((width, height))
            buffer = io.BytesIO()
            thumb.save(buffer, "JPEG", quality=85)
            encoded.append((name, buffer.getvalue()))
        target = self.job_dir(job_id)
        with self._lock:
            target.mkdir(parents=True, exist_ok=True)
            for name, content in encoded:
                tmp = target / f".{name}.tmp"
                tmp.write_bytes(content)
                tmp.replace(target / name)
            note = self.root / ".last-job.json.tmp"
            note.write_text(json.dumps({"job_id": job_id}))
            note.replace(self.root / LAST_JOB)
        if self._events is not None:
            self._events.publish("last-rendered", job_id=job_id)

    def _info(self, job_id: str) -> dict[str, object] | None:
        if not (self.job_dir(job_id) / THUMBNAILS[0][0]).is_file():
            return None
        return {
            "base": f"/job-files/last-rendered/{job_id}",
            "suffixes": [name for name, _, _ in THUMBNAILS],
        }

    def job_info(self, job_id: str) -> dict[str, object] | None:
        return self._info(job_id)

    def _last_job_id(self) -> str | None:
        """The job of the farm's last frame; None when the note is missing or unreadable
        (a disk that filled up, a hand edit): the farm then has no last frame to show."""
        try:
            note = json.loads((self.root / LAST_JOB).read_text(encoding="utf-8"))
            return str(uuid.UUID(note["job_id"]))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None

    def global_info(self) -> dict[str, object] | None:
        job_id = self._last_job_id()
        return self._info(job_id) if job_id is not None else None

    def file(self, job_id: str, name: str) -> Path | None:
        if name not in {n for n, _, _ in THUMBNAILS}:
            return None
        path = self._folder.path(f"{uuid.UUID(job_id)}/{name}")
        return path if path.is_file() else None

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
