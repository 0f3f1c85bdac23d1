"""The worker's content-addressed cache: fetch once, verify, reuse, evict, lay out safely."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from tests.conftest import Manager, register_worker, submit
from worker_mode.file_cache import CacheError, FileCache, HttpFetcher, Manifest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MemoryFetcher:
    """The manager's file store as a dict; can fail once midway, or send damaged bytes."""

    def __init__(self, files: list[bytes]) -> None:
        self.files = {(sha(d), len(d)): d for d in files}
        self.fetched: list[tuple[str, int]] = []
        self.break_after: int | None = None
        self.damage = False

    def fetch(self, sha256: str, size: int, offset: int, out: BinaryIO) -> None:
        self.fetched.append((sha256, offset))
        data = self.files[(sha256, size)][offset:]
        if self.damage:
            data = b"X" * len(data)
        if self.break_after is not None:
            out.write(data[: self.break_after])
            self.break_after = None
            raise OSError("connection reset")
        out.write(data)

    def checkout_of_job(self, job_id: str) -> dict[str, Any]:
        raise AssertionError("not used")


def manifest(checkout: str, files: dict[str, bytes]) -> Manifest:
    return Manifest.from_json(
        {
            "checkoutPath": checkout,
            "files": [{"path": p, "sha": sha(d), "size": len(d)} for p, d in files.items()],
        }
    )


def test_files_are_fetched_once_and_shared_by_checkouts(tmp_path: Path) -> None:
    blend, tex = b"blend" * 100, b"texture" * 100
    fetcher = MemoryFetcher([blend, tex])
    cache = FileCache(tmp_path, fetcher)
    first = cache.materialise(manifest("job-1", {"shot.blend": blend, "tex/t.png": tex}))
    second = cache.materialise(manifest("job-2", {"shot.blend": blend, "maps/t.png": tex}))
    again = cache.materialise(manifest("job-1", {"shot.blend": blend, "tex/t.png": tex}))
    assert len(fetcher.fetched) == 2 and cache.downloaded_bytes == len(blend) + len(tex)
    assert again == first
    assert (first / "tex/t.png").read_bytes() == tex
    assert os.stat(first / "shot.blend").st_ino == os.stat(second / "shot.blend").st_ino
    # Read-only, so a render cannot corrupt the cache through a link.
    assert os.stat(first / "shot.blend").st_mode & 0o222 == 0


def test_least_recently_used_files_are_evicted_first(tmp_path: Path) -> None:
    a, b, c = (bytes([i]) * 1000 for i in range(3))
    fetcher = MemoryFetcher([a, b, c])
    cache = FileCache(tmp_path, fetcher, max_bytes=2500)
    cache.get(sha(a), len(a))
    cache.get(sha(b), len(b))
    os.utime(cache.path_of(sha(a), 1000), (1, 1))
    os.utime(cache.path_of(sha(b), 1000), (2, 2))
    cache.get(sha(a), len(a))  # used again: now the newest
    cache.materialise(manifest("j", {"c.bin": c}))  # over the limit: b goes
    assert cache.path_of(sha(a), 1000).exists()
    assert not cache.path_of(sha(b), 1000).exists()
    assert cache.path_of(sha(c), 1000).exists()


def test_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    fetcher = MemoryFetcher([data])
    fetcher.break_after = 20_000
    cache = FileCache(tmp_path, fetcher)
    import worker_mode.file_cache as fc

    fc.RETRY_WAIT_S = 0
    path = cache.get(sha(data), len(data))
    assert path.read_bytes() == data
    assert [offset for _, offset in fetcher.fetched] == [0, 20_000]


def test_damaged_download_is_refused_and_not_kept(tmp_path: Path) -> None:
    data = b"good bytes"
    fetcher = MemoryFetcher([data])
    fetcher.damage = True
    cache = FileCache(tmp_path, fetcher)
    with pytest.raises(CacheError, match="damaged"):
        cache.get(sha(data), len(data))
    assert not cache.path_of(sha(data), len(data)).exists()
    assert not any(cache.tmp_dir.iterdir())


@pytest.mark.parametrize(
    "bad", ["../evil.py", "/etc/cron.d/evil", "C:/evil", "a\\..\\evil", "a/../../evil", ""]
)
def test_manifest_paths_from_a_bad_manager_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(CacheError, match="malformed"):
        Manifest.from_json(
            {"checkoutPath": "ok", "files": [{"path": bad, "sha": "0" * 64, "size": 1}]}
        )
    with pytest.raises(CacheError, match="malformed"):
        Manifest.from_json({"checkoutPath": bad, "files": []})
    cache = FileCache(tmp_path / "cache", MemoryFetcher([]))
    with pytest.raises(ValueError):
        cache.resolve("{jobs}/" + bad)


@pytest.mark.parametrize("inside_link", ["sub/evil.txt", "sub/deeper/evil.txt"])
def test_links_in_the_checkout_folder_are_not_followed(tmp_path: Path, inside_link: str) -> None:
    """Neither a file nor a folder is ever made outside through a link in the checkout."""
    data = b"payload"
    cache = FileCache(tmp_path / "cache", MemoryFetcher([data]))
    outside = tmp_path / "outside"
    outside.mkdir()
    (cache.checkouts_dir / "job").mkdir(parents=True)
    (cache.checkouts_dir / "job" / "sub").symlink_to(outside)
    with pytest.raises(CacheError, match="outside"):
        cache.materialise(manifest("job", {inside_link: data}))
    assert not any(outside.iterdir())


def test_worker_fetches_a_jobs_checkout_from_the_manager(manager: Manager, tmp_path: Path) -> None:
    blend = b"blend file"
    manager.post(f"/api/v3/shaman/files/{sha(blend)}/{len(blend)}", data=blend)
    created = manager.post(
        "/api/v3/shaman/checkout/create",
        json={
            "checkoutPath": "proj/shot",
            "files": [{"sha": sha(blend), "size": len(blend), "path": "shot.blend"}],
        },
    )
    checkout = created.json()["checkoutPath"]
    job = submit(manager, storage={"shaman_checkout_id": checkout})
    worker = register_worker(manager)
    cache = FileCache(tmp_path, HttpFetcher(manager.url, (worker.id, worker.secret)))
    folder = cache.prepare_job(job["id"])
    assert folder == tmp_path / "checkouts" / "proj" / "shot"
    assert Path(cache.resolve("{jobs}/proj/shot/shot.blend")).read_bytes() == blend
    assert cache.resolve("/mnt/render/shot.blend") == "/mnt/render/shot.blend"

    other = submit(manager)
    with pytest.raises(CacheError, match="no files"):
        cache.prepare_job(other["id"])
    stranger = FileCache(tmp_path / "x", HttpFetcher(manager.url, (worker.id, "wrong")))
    with pytest.raises(CacheError, match="401"):
        stranger.prepare_job(job["id"])
