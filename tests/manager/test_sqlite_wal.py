"""SQLite's write-ahead log is copied into the database by the checkpoint thread, not by the
commits of worker requests."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from sqlalchemy import text

from manager.db import session as db_session
from manager.db.session import Database


def wal_progress(path: Path) -> tuple[int, int]:
    """Frames in the log and frames already copied into the database, read from the WAL
    index (``-shm``) without checkpointing anything: its header's mxFrame and the
    checkpoint info's nBackfill, in the machine's byte order."""
    header = (path.parent / (path.name + "-shm")).read_bytes()[:136]
    (frames,) = struct.unpack_from("=I", header, 16)
    (copied,) = struct.unpack_from("=I", header, 96)
    return frames, copied


def test_the_checkpoint_thread_copies_the_log_back(tmp_path: Path) -> None:
    path = tmp_path / "farm.sqlite"
    db = Database(f"sqlite:///{path}")
    db.start_checkpoints()  # as the app's lifespan does
    try:
        with db.write() as session:
            session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        for batch in range(20):
            with db.write() as session:
                session.execute(
                    text("INSERT INTO notes (body) VALUES (:body)"),
                    [{"body": f"{batch}-{i}" * 20} for i in range(50)],
                )
        # Far below the pages at which a commit would checkpoint by itself.
        with db.read() as session:
            pages = session.execute(text("PRAGMA page_count")).scalar_one()
        assert pages < db_session.COMMIT_CHECKPOINT_PAGES

        deadline = time.monotonic() + 10
        while True:
            frames, copied = wal_progress(path)
            if frames > 0 and copied == frames or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert frames > 0 and copied == frames
    finally:
        db.dispose()
