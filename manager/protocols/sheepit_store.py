"""What the SheepIt-style adapter keeps beside the core: users (hashed passwords, rendering
rights), the keys their logins answer, sessions, the maintenance switch, job archives,
renderers and frame checks."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
import secrets
import threading
import zipfile
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from manager.core.credentials import SecretVerifier, hash_secret
from manager.core.errors import BadInput, Conflict, NotFound
from manager.core.farm import Farm
from manager.core.setting_paths import share_path
from manager.db.models import Job
from manager.db.protocol_models import ProtocolFlag, SheepitKey, SheepitSession, SheepitUser
from manager.db.queries import sheepit as sheepit_queries
from worker_mode.safe_paths import StorageRoot, UnsafePath

log = logging.getLogger(__name__)

#: Largest frame (or error log) a client may upload, in bytes.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: Largest image, in pixels, the manager decodes to check it.
MAX_FRAME_PIXELS = 200_000_000
#: Black frames after which a session is disabled (answered 203 / 304).
BROKEN_FRAMES_BEFORE_DISABLE = 3
MAINTENANCE_FLAG = "sheepit.maintenance"
#: Keys kept per login, the most recently used: a client that logged in long ago on more
#: machines than this needs the password again.
MAX_KEYS_PER_LOGIN = 20
_LOGIN = re.compile(r"^[A-Za-z0-9_.@+-]{1,200}$")


# Users ---------------------------------------------------------------------------------------


def add_user(
    session: Session, login: str, password: str, now: datetime, expires_at: datetime | None = None
) -> SheepitUser:
    if not _LOGIN.match(login):
        raise BadInput("login: use 1-200 letters, digits and _ . @ + -")
    if len(password) < 8:
        raise BadInput("password: use at least 8 characters")
    if session.get(SheepitUser, login) is not None:
        raise Conflict(f"login: user {login!r} already exists")
    user = SheepitUser(
        login=login,
        password_hash=hash_secret(password),
        can_render=True,
        expires_at=expires_at,
        frames_rendered=0,
        created=now,
    )
    session.add(user)
    return user


def get_user(session: Session, login: str) -> SheepitUser:
    user = session.get(SheepitUser, login)
    if user is None:
        raise NotFound("SheepIt user", login)
    return user


def change_user(
    session: Session,
    login: str,
    *,
    password: str | None = None,
    can_render: bool | None = None,
    expires_at: datetime | None | bool = False,
) -> SheepitUser:
    """Change a password, grant or revoke rendering rights, set or clear (None) an expiry."""
    user = get_user(session, login)
    if password is not None:
        if len(password) < 8:
            raise BadInput("password: use at least 8 characters")
        user.password_hash = hash_secret(password)
        # A key stands for the password: whoever had the old one may hold keys of it.
        revoke_keys(session, login)
    if can_render is not None:
        user.can_render = can_render
    if expires_at is not False:
        user.expires_at = expires_at  # type: ignore[assignment]
    return user


def delete_user(session: Session, login: str) -> None:
    user = get_user(session, login)
    revoke_keys(session, login)
    session.delete(user)


def user_summary(user: SheepitUser, keys: int) -> dict[str, object]:
    return {
        "login": user.login,
        "can_render": user.can_render,
        "expires_at": user.expires_at.isoformat() if user.expires_at else None,
        "frames_rendered": user.frames_rendered,
        "keys": keys,
    }


def check_password(verifier: SecretVerifier, user: SheepitUser, password: str) -> bool:
    return verifier.verify(f"sheepit:{user.login}", password, user.password_hash)


# Keys ----------------------------------------------------------------------------------------
#
# SheepIt servers answer a login with a ``publickey`` that clients keep and send in place of
# the password from then on (so the password itself need not be stored on the machine). Here
# it opens SheepIt sessions of its login and nothing else.


def issue_key(session: Session, login: str, now: datetime) -> str:
    """A new key for the login; its least recently used keys past MAX_KEYS_PER_LOGIN go."""
    for old in sheepit_queries.keys_of_login(session, login)[MAX_KEYS_PER_LOGIN - 1 :]:
        session.delete(old)
    key = secrets.token_urlsafe(32)
    session.add(SheepitKey(key_hash=token_hash(key), login=login, created=now, last_used=now))
    return key


def find_key(session: Session, login: str, given: str) -> SheepitKey | None:
    """The login's key that ``given`` is, if any; every key is compared in constant time."""
    given_hash = token_hash(given)
    found = None
    for key in sheepit_queries.keys_of_login(session, login):
        if hmac.compare_digest(key.key_hash, given_hash):
            found = key
    return found


def revoke_keys(session: Session, login: str) -> None:
    sheepit_queries.delete_keys_of_login(session, login)


# Sessions ------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, login: str, worker_id: str, os_name: str, bits: str, now: datetime
) -> str:
    """A new session for the client; returns the token for its cookie."""
    for old in sheepit_queries.open_sessions_of_worker(session, worker_id):
        old.ended = True
    token = secrets.token_urlsafe(32)
    session.add(
        SheepitSession(
            token_hash=token_hash(token),
            login=login,
            worker_id=worker_id,
            os=os_name,
            bits=bits,
            broken_frames=0,
            disabled=False,
            ended=False,
            frames_rendered=0,
            created=now,
        )
    )
    return token


def find_session(session: Session, token: str | None) -> SheepitSession | None:
    if not token:
        return None
    found = session.get(SheepitSession, token_hash(token))
    return None if found is None or found.ended else found


def count_broken_frame(client: SheepitSession) -> None:
    client.broken_frames += 1
    if client.broken_frames >= BROKEN_FRAMES_BEFORE_DISABLE:
        client.disabled = True


# Maintenance -----------------------------------------------------------------------------------


def in_maintenance(session: Session) -> bool:
    flag = session.get(ProtocolFlag, MAINTENANCE_FLAG)
    return bool(flag is not None and flag.value)


def set_maintenance(session: Session, enabled: bool) -> None:
    flag = session.get(ProtocolFlag, MAINTENANCE_FLAG)
    if flag is None:
        session.add(ProtocolFlag(name=MAINTENANCE_FLAG, value=enabled))
    else:
        flag.value = enabled


# Files -----------------------------------------------------------------------------------------


def job_files(farm: Farm, job: Job) -> list[tuple[Path, str]]:
    """The job's files on the manager's disk, each with its name in the archive.

    The blend file is a path relative to the shared storage, then to the manager's storage
    folder; one that is absolute, climbs out with '..' or leads out through a link is never
    served, whatever the job says. A /farm-style ``share::path`` is the folder named after
    the share there. Content-addressed job storage plugs in here."""
    blendfile = str(job.settings.get("blendfile", ""))
    if not blendfile:
        return []
    try:
        on_share = share_path(blendfile)
    except UnsafePath as exc:
        log.warning("job %s: not serving its blend file: %s", job.id, exc)
        return []
    if on_share is not None:
        blendfile = f"{on_share[0]}/{on_share[1]}"
    folders = [Path(farm.settings.shared_storage)] if farm.settings.shared_storage else []
    folders.append(farm.settings.storage_dir)
    for folder in folders:
        try:
            candidate = StorageRoot(folder).path(blendfile)
        except UnsafePath as exc:
            log.warning("job %s: not serving its blend file: %s", job.id, exc)
            return []
        if candidate.is_file():
            return [(candidate, candidate.name)]
    return []


@dataclass(frozen=True)
class Archive:
    path: Path
    md5: str
    blend_name: str


class ArchiveStore:
    """Zips of job files, built once per job, and the renderer archives an admin put in
    ``<data dir>/sheepit/renderers/<os>-<bits>.zip``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folder = StorageRoot(root)
        self._lock = threading.Lock()
        self._md5: dict[Path, tuple[float, str]] = {}

    def job_archive(self, farm: Farm, job: Job) -> Archive:
        files = job_files(farm, job)
        target = self._folder.path(f"archives/{job.id}.zip")
        with self._lock:
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".tmp")
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path, name in files:
                        archive.write(path, name)
                tmp.replace(target)
        blend = next((name for _, name in files if name.endswith(".blend")), "")
        return Archive(target, self.md5(target), blend)

    def renderer(self, os_name: str, bits: str) -> Path | None:
        path = self._folder.path(f"renderers/{os_name}-{bits}.zip")
        return path if path.is_file() else None

    def md5(self, path: Path) -> str:
        mtime = path.stat().st_mtime
        with self._lock:
            known = self._md5.get(path)
        if known is not None and known[0] == mtime:
            return known[1]
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        with self._lock:
            self._md5[path] = (mtime, digest.hexdigest())
        return digest.hexdigest()

    def forget_job(self, job_id: str) -> None:
        self._folder.path(f"archives/{job_id}.zip").unlink(missing_ok=True)


# Frames ----------------------------------------------------------------------------------------


class FrameVerdict(Enum):
    GOOD = "good"
    BLACK = "black"
    NOT_AN_IMAGE = "not an image"
    TOO_LARGE = "too large"


@dataclass
class CheckedFrame:
    verdict: FrameVerdict
    format: str = ""
    png: bytes = b""


def check_frame(data: bytes) -> CheckedFrame:
    """Whether an upload is an image and not black; the image as PNG for previews."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_FRAME_PIXELS:
                return CheckedFrame(FrameVerdict.TOO_LARGE)
            image.load()
            fmt = image.format or ""
            has_alpha = "A" in image.getbands()
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return CheckedFrame(FrameVerdict.NOT_AN_IMAGE)
    except Image.DecompressionBombError:
        return CheckedFrame(FrameVerdict.TOO_LARGE)
    extrema: tuple[tuple[int, int], ...] = rgba.getextrema()  # type: ignore[assignment]
    colour_max = max(high for _, high in extrema[:3])
    alpha_max = extrema[3][1]
    # A fully transparent frame is an empty layer, not a broken GPU's black frame.
    if colour_max == 0 and (not has_alpha or alpha_max > 0):
        return CheckedFrame(FrameVerdict.BLACK, fmt)
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    return CheckedFrame(FrameVerdict.GOOD, fmt, buffer.getvalue())
