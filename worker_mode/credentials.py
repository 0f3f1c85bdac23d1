"""The worker's id and secret, kept per manager URL in a file only the user can read."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from .defaults import CREDENTIALS_FILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    worker_id: str
    secret: str


def default_data_dir() -> Path:
    """The per-user folder for credentials and the file cache."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "farmhand-worker"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class CredentialStore:
    """Reads and writes ``credentials.json`` in the data dir (mode 0600, atomic replace)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / CREDENTIALS_FILE

    def _read_all(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable credentials file %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, manager_url: str) -> Credentials | None:
        entry = self._read_all().get(manager_url.rstrip("/"))
        if not isinstance(entry, dict):
            return None
        worker_id, secret = entry.get("worker_id"), entry.get("secret")
        if not isinstance(worker_id, str) or not isinstance(secret, str):
            return None
        return Credentials(worker_id, secret)

    def save(self, manager_url: str, creds: Credentials | None) -> None:
        """Store (or with None, forget) the credentials for one manager."""
        data = self._read_all()
        key = manager_url.rstrip("/")
        if creds is None:
            data.pop(key, None)
        else:
            data[key] = {"worker_id": creds.worker_id, "secret": creds.secret}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to an existing tmp file.
        os.replace(tmp, self.path)
