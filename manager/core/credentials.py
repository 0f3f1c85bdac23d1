"""Worker secrets: stored as salted PBKDF2 hashes, verified once per process and then cached.

Workers authenticate every request, so a slow hash per request would cap the farm's dispatch
rate; a verified (worker, secret digest) pair is remembered in memory instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

PBKDF2_ITERATIONS = 100_000
VERIFIED_CACHE_SIZE = 10_000

#: The stored secret of workers that never present one (clients of the /farm, SheepIt and
#: 2015 protocols, who prove who they are in their protocol's own way): nothing verifies
#: against it.
NO_SECRET = "none"


def token_matches(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` is the configured token; no token configured lets everyone in.
    Compared in constant time, so the answer's timing tells nothing of the token."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def _check(secret: str, stored: str) -> bool:
    try:
        scheme, iterations, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac(
        "sha256", secret.encode(), bytes.fromhex(salt_hex), int(iterations)
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


class SecretVerifier:
    def __init__(self) -> None:
        self._verified: dict[tuple[str, bytes], str] = {}
        self._lock = threading.Lock()

    def verify(self, worker_id: str, secret: str, stored: str) -> bool:
        key = (worker_id, hashlib.sha256(secret.encode()).digest())
        with self._lock:
            if self._verified.get(key) == stored:
                return True
        if not _check(secret, stored):
            return False
        with self._lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = stored
        return True

    def knows(self, worker_id: str, secret: str) -> bool:
        """Whether this secret was verified for the worker before (its hash may have changed
        since; ``verify`` still compares it)."""
        key = (worker_id, hashlib.sha256(secret.encode()).digest())
        with self._lock:
            return key in self._verified

    def forget(self, worker_id: str) -> None:
        with self._lock:
            for key in [k for k in self._verified if k[0] == worker_id]:
                del self._verified[key]
