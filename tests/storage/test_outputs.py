"""Frames back to the manager: verified, idempotent, resumable uploads; list, file, zip."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from manager.storage import output_store
from tests.conftest import FakeWorker, Manager, register_worker, submit
from worker_mode.outputs import OutputUploader, UploadRefused, local_render_output


@pytest.fixture
def task(manager: Manager, awake_worker: FakeWorker) -> dict[str, Any]:
    submit(manager)
    assigned = awake_worker.next_task()
    assert assigned is not None
    return assigned


def uploader(worker: FakeWorker, session: Any = None) -> OutputUploader:
    return OutputUploader(
        worker.manager.url, (worker.id, worker.secret), session=session, sleep=lambda s: None
    )


def frame(tmp_path: Path, name: str = "0001.png", size: int = 300_000) -> Path:
    """A real PNG of noise, which does not compress: a little over ``size`` bytes."""
    path = tmp_path / name
    width = 100
    height = max(1, size // (3 * width))
    Image.frombytes("RGB", (width, height), os.urandom(3 * width * height)).save(path)
    return path


def test_upload_is_verified_listed_and_downloadable(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    path = frame(tmp_path)
    sha = uploader(awake_worker).upload(task["uuid"], path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    job_id = task["job"]
    listing = manager.get(f"/api/farmhand/jobs/{job_id}/outputs").json()
    assert [f["name"] for f in listing["files"]] == ["0001.png"]
    assert listing["files"][0]["size"] == path.stat().st_size
    single = manager.get(listing["files"][0]["url"])
    assert single.status_code == 200 and single.content == path.read_bytes()


def test_same_upload_twice_changes_nothing(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    path = frame(tmp_path)
    up = uploader(awake_worker)
    up.upload(task["uuid"], path)
    stored = output_store(manager.settings).file(task["job"], "0001.png")
    assert stored is not None
    before = stored.stat().st_mtime_ns
    up.upload(task["uuid"], path)
    assert stored.stat().st_mtime_ns == before


def test_upload_resumes_after_the_connection_breaks(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    path = frame(tmp_path, size=2_000_000)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    url_path = f"/api/farmhand/outputs/tasks/{task['uuid']}/0001.png"

    class BreakingSession(requests.Session):
        """The first PUT sends half the body over a real socket, then the network 'fails'."""

        broke = False
        sent: list[int] = []

        def put(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if not BreakingSession.broke:
                BreakingSession.broke = True
                _send_half_then_drop(manager, url_path, kwargs["headers"], data, awake_worker)
                raise requests.ConnectionError("connection reset by peer")
            BreakingSession.sent.append(len(data))
            return super().put(url, data=data, **kwargs)

    uploader(awake_worker, BreakingSession()).upload(task["uuid"], path)
    assert BreakingSession.sent and BreakingSession.sent[0] < len(data)  # only the rest went
    stored = output_store(manager.settings).file(task["job"], "0001.png")
    assert stored is not None and hashlib.sha256(stored.read_bytes()).hexdigest() == sha


def _send_half_then_drop(
    manager: Manager, url_path: str, headers: dict[str, str], body: Any, worker: FakeWorker
) -> None:
    import base64

    chunk = body.read(1_000_000)
    auth = base64.b64encode(f"{worker.id}:{worker.secret}".encode()).decode()
    head = (
        f"PUT {url_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
        f"X-Farmhand-SHA256: {headers['X-Farmhand-SHA256']}\r\n"
        f"Content-Range: {headers['Content-Range']}\r\nContent-Length: {len(body) + len(chunk)}"
        "\r\n\r\n"
    ).encode()
    with socket.create_connection((manager.settings.host, manager.settings.port)) as conn:
        conn.sendall(head + chunk)
        time.sleep(0.3)


def test_damaged_upload_is_refused_and_leaves_nothing(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any]
) -> None:
    data = b"frame bytes"
    response = requests.put(
        f"{manager.url}/api/farmhand/outputs/tasks/{task['uuid']}/0001.png",
        data=data,
        headers={"X-Farmhand-SHA256": "0" * 64},
        auth=(awake_worker.id, awake_worker.secret),
        timeout=10,
    )
    assert response.status_code == 422 and "SHA-256" in response.json()["message"]
    assert manager.get(f"/api/farmhand/jobs/{task['job']}/outputs").json()["files"] == []
    partial = manager.settings.data_dir / "outputs" / task["job"] / "partial"
    assert not any(partial.glob("*"))


@pytest.mark.parametrize("name", ["../escape.png", "a/../../b.png", "C:/x.png", "a\\b.png"])
def test_output_names_that_could_escape_are_refused(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], name: str
) -> None:
    data = b"frame"
    response = requests.put(
        f"{manager.url}/api/farmhand/outputs/tasks/{task['uuid']}/{name}",
        data=data,
        headers={"X-Farmhand-SHA256": hashlib.sha256(data).hexdigest()},
        auth=(awake_worker.id, awake_worker.secret),
        timeout=10,
    )
    assert response.status_code in (400, 404), response.text
    assert not list((manager.settings.data_dir).rglob("escape.png"))


def test_only_the_tasks_worker_may_upload(
    manager: Manager, task: dict[str, Any], tmp_path: Path
) -> None:
    other = register_worker(manager, "other")
    with pytest.raises(UploadRefused, match="409"):
        uploader(other).upload(task["uuid"], frame(tmp_path))


def test_oversized_output_is_413(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    manager.settings.max_upload_bytes = 4096
    with pytest.raises(UploadRefused, match="413"):
        uploader(awake_worker).upload(task["uuid"], frame(tmp_path, size=5000))


def test_zip_holds_every_output_and_deleting_the_job_removes_them(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    up = uploader(awake_worker)
    frames = {f"{i:04d}.png": frame(tmp_path, f"{i:04d}.png", 50_000) for i in (1, 2, 3)}
    for name, path in frames.items():
        up.upload(task["uuid"], path, name)
    response = manager.get(f"/api/farmhand/jobs/{task['job']}/outputs.zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(frames)
        for name, path in frames.items():
            assert archive.read(name) == path.read_bytes()
    assert manager.api("DELETE", f"/api/v3/jobs/{task['job']}").status_code == 204
    assert not (manager.settings.data_dir / "outputs" / task["job"]).exists()
    assert manager.get(f"/api/farmhand/jobs/{task['job']}/outputs").status_code == 404


def test_downloads_need_the_access_token(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    uploader(awake_worker).upload(task["uuid"], frame(tmp_path))
    manager.settings.access_token = "studio"
    url = f"/api/farmhand/jobs/{task['job']}/outputs"
    assert manager.get(url).status_code == 401
    assert manager.get(url, headers={"Authorization": "Bearer studio"}).status_code == 200


def test_local_render_output_keeps_the_frame_pattern(tmp_path: Path) -> None:
    assert local_render_output("/mnt/out/shot/######", tmp_path) == str(tmp_path / "######")
    assert local_render_output("R:\\out\\shot\\frame_####.png", tmp_path) == str(
        tmp_path / "frame_####.png"
    )


def _stored(manager: Manager, job_id: str) -> list[str]:
    return [f["name"] for f in manager.get(f"/api/farmhand/jobs/{job_id}/outputs").json()["files"]]


def _partials(manager: Manager, job_id: str) -> list[Path]:
    return list((manager.settings.data_dir / "outputs" / job_id / "partial").glob("*"))


def test_a_png_cut_short_is_refused_once_and_nothing_is_stored(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    path = frame(tmp_path, size=50_000)
    path.write_bytes(path.read_bytes()[:30_000])

    class CountingSession(requests.Session):
        puts = 0

        def put(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            CountingSession.puts += 1
            return super().put(url, data=data, **kwargs)

    with pytest.raises(UploadRefused) as refused:
        uploader(awake_worker, CountingSession()).upload(task["uuid"], path)
    message = str(refused.value)
    assert "400" in message and "0001.png" in message and "cut short" in message
    assert CountingSession.puts == 1  # refused for what it is, not retried
    assert _stored(manager, task["job"]) == []
    assert _partials(manager, task["job"]) == []


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(
        b"IEND", b""
    )


def test_a_whole_png_that_does_not_decode_is_refused_with_the_reason(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any]
) -> None:
    data = _png(64, 64, os.urandom(2000))  # every chunk whole, the pixel data garbage
    response = requests.put(
        f"{manager.url}/api/farmhand/outputs/tasks/{task['uuid']}/0001.png",
        data=data,
        headers={"X-Farmhand-SHA256": hashlib.sha256(data).hexdigest()},
        auth=(awake_worker.id, awake_worker.secret),
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["message"].startswith("0001.png: it does not decode as PNG")
    assert _stored(manager, task["job"]) == [] and _partials(manager, task["job"]) == []


def test_a_frame_named_for_another_format_is_refused(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    jpeg = tmp_path / "0001.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(jpeg, "JPEG")
    with pytest.raises(UploadRefused, match="not a PNG file"):
        uploader(awake_worker).upload(task["uuid"], jpeg)


def _exr(width: int, height: int) -> bytes:
    """An uncompressed scan-line OpenEXR with half-float R, G and B."""

    def attr(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    channels = b"".join(c + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in (b"B", b"G", b"R"))
    box = struct.pack("<4i", 0, 0, width - 1, height - 1)
    header = (
        b"v/1\x01" + struct.pack("<I", 2)
        + attr("channels", "chlist", channels + b"\0")
        + attr("compression", "compression", b"\0")
        + attr("dataWindow", "box2i", box)
        + attr("displayWindow", "box2i", box)
        + attr("lineOrder", "lineOrder", b"\0")
        + attr("pixelAspectRatio", "float", struct.pack("<f", 1))
        + attr("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0))
        + attr("screenWindowWidth", "float", struct.pack("<f", 1))
        + b"\0"
    )
    line = struct.pack(f"<{3 * width}e", *([0.5] * 3 * width))
    first = len(header) + 8 * height
    offsets = [first + y * (8 + len(line)) for y in range(height)]
    chunks = b"".join(struct.pack("<ii", y, len(line)) + line for y in range(height))
    return header + struct.pack(f"<{height}Q", *offsets) + chunks


def test_openexr_frames_must_be_whole(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    data = _exr(16, 8)
    whole = tmp_path / "0001.exr"
    whole.write_bytes(data)
    cut = tmp_path / "0002.exr"
    cut.write_bytes(data[:-10])
    garbage = tmp_path / "0003.exr"
    garbage.write_bytes(os.urandom(1000))
    up = uploader(awake_worker)
    up.upload(task["uuid"], whole)
    with pytest.raises(UploadRefused, match="0002.exr: the last OpenEXR chunk runs past"):
        up.upload(task["uuid"], cut)
    with pytest.raises(UploadRefused, match="0003.exr: it is not an OpenEXR file"):
        up.upload(task["uuid"], garbage)
    assert _stored(manager, task["job"]) == ["0001.exr"]


def test_videos_and_other_outputs_are_stored_as_they_come(
    manager: Manager, awake_worker: FakeWorker, task: dict[str, Any], tmp_path: Path
) -> None:
    video = tmp_path / "shot-1-10.mp4"
    video.write_bytes(os.urandom(5000))
    uploader(awake_worker).upload(task["uuid"], video)
    assert _stored(manager, task["job"]) == ["shot-1-10.mp4"]
