"""A task's .blend on this machine, and when it counts as the same file as before.

By here the path is local: on shared storage it is the job's own; without it, ``job_files.py``
has already fetched the checkout and resolved ``{jobs}/...`` into the worker's cache.
"""

from __future__ import annotations

import os

from .errors import CommandError


def local_blendfile(path: str, from_file_cache: bool = False) -> tuple[str, str]:
    """The local path of a job's .blend and a key that changes when its content changes.

    ``from_file_cache``: the path is a hard link into the worker's content-addressed cache,
    whose files never change but whose mtime records their last use; there the inode names
    the content.
    """
    if not isinstance(path, str) or not path:
        raise CommandError("blendfile parameter is missing")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CommandError(f"blend file not found: {path}") from None
    except OSError as exc:
        raise CommandError(f"cannot read blend file {path}: {exc}") from exc
    real = os.path.realpath(path)
    if from_file_cache:
        return real, f"{real}:{st.st_size}:inode-{st.st_ino}"
    # Size and modification time: cheap, and a re-saved file always changes one.
    return real, f"{real}:{st.st_size}:{st.st_mtime_ns}"
