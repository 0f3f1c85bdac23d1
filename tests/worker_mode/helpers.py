"""Small helpers of the worker tests: waiting, PNG reading, job submission."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def read_png(path: str) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Width, height and rows of pixels of an 8-bit RGB/RGBA PNG (what the tests render)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), f"unexpected PNG type {depth}/{color}"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 255
        rows.append(line)
        prev = line
    pixels = [
        [tuple(row[x * channels : x * channels + 3]) for x in range(width)] for row in rows
    ]
    return width, height, pixels


def bright_center_x(path: str) -> float:
    """Mean x of the bright pixels (the moving cube); fails on a blank frame."""
    _, _, pixels = read_png(path)
    xs = [x for row in pixels for x, px in enumerate(row) if sum(px) > 300]
    assert xs, f"{path} is blank"
    return sum(xs) / len(xs)


class Api:
    """The manager endpoints the tests drive (submitting, cancelling, inspecting)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def submit_render(self, blendfile: str, out_dir: str, frames: str, chunk_size: int,
                      name: str = "job", tag: str | None = None, **extra: Any) -> str:
        settings = {
            "frames": frames,
            "chunk_size": chunk_size,
            "render_output_root": out_dir,
            "add_path_components": 0,
            "render_output_path": f"{out_dir}/######",
            "blendfile": blendfile,
            "fps": 24.0,
            "format": "PNG",
            "image_file_extension": ".png",
            "has_previews": False,
            "scene": "Scene",
            "persistent_data": True,
            **extra,
        }
        return self.submit(name, "simple-blender-render", settings, tag)

    def submit(self, name: str, job_type: str, settings: dict[str, Any],
               tag: str | None = None) -> str:
        """The job's id; a job for the workers of ``tag`` is tagged while still paused, so
        that no other worker takes a task first."""
        body = {"name": name, "type": job_type, "priority": 50, "submitter_platform": "linux",
                "settings": settings, **({"initial_status": "paused"} if tag else {})}
        resp = requests.post(f"{self.url}/api/v3/jobs", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        job = str(resp.json()["id"])
        if tag:
            jobs = f"{self.url}/api/v3/jobs/{job}"
            requests.post(f"{jobs}/settag", json={"name": tag}, timeout=10).raise_for_status()
            requests.post(f"{jobs}/setstatus", json={"status": "queued", "reason": "tagged"},
                          timeout=10).raise_for_status()
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/api/v3/jobs/{job_id}", timeout=10).json()

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/api/v3/jobs/{job_id}/tasks", timeout=10).json()["tasks"]

    def task(self, task_id: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/api/v3/tasks/{task_id}", timeout=10).json()

    def task_log(self, task_id: str) -> str:
        resp = requests.get(f"{self.url}/api/v3/tasks/{task_id}/logtail", timeout=10)
        return resp.text if resp.status_code == 200 else ""

    def job_status(self, job_id: str) -> str:
        return str(self.job(job_id)["status"])

    def set_job_status(self, job_id: str, status: str) -> None:
        resp = requests.post(f"{self.url}/api/v3/jobs/{job_id}/setstatus",
                             json={"status": status, "reason": "test"}, timeout=10)
        assert resp.status_code == 204, resp.text

    def workers(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v3/worker-mgt/workers", timeout=10)
        return resp.json()["workers"]

    def set_worker_status(self, worker_id: str, status: str) -> None:
        resp = requests.post(f"{self.url}/api/v3/worker-mgt/workers/{worker_id}/setstatus",
                             json={"status": status, "is_lazy": False}, timeout=10)
        assert resp.status_code == 204, resp.text

    def last_rendered(self, job_id: str) -> requests.Response:
        return requests.get(f"{self.url}/api/v3/jobs/{job_id}/last-rendered", timeout=10)
