"""GPU slots on a machine without a GPU: the device list is injected
(``FARMHAND_RENDER_DEVICES``), the workers are real, and so are their render processes,
which Cycles cannot put on the injected GPUs: a job that asks for the GPU fails there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from .conftest import REPO
from .helpers import wait_for

GIB = 1024
INJECTED = [
    {"type": "OPTIX", "name": "RTX 4090", "id": "OPTIX_RTX 4090_0000:01:00", "memory_mb": 24564},
    {"type": "OPTIX", "name": "RTX 4090", "id": "OPTIX_RTX 4090_0000:02:00", "memory_mb": 24564},
    {"type": "OPTIX", "name": "RTX 3060", "id": "OPTIX_RTX 3060_0000:03:00", "memory_mb": 12288},
    {"type": "CUDA", "name": "RTX 4090", "id": "CUDA_RTX 4090_0000:01:00", "memory_mb": 24564},
    {"type": "CPU", "name": "AMD EPYC", "id": "CPU", "memory_mb": None},
]


def worker_env() -> dict[str, str]:
    return {**os.environ, "FARMHAND_RENDER_DEVICES": json.dumps(INJECTED)}


def start(manager_url: str, tmp: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = open(tmp / f"{name}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "worker_mode", "--manager", manager_url, "--name", name,
         "--data-dir", str(tmp / name), "--poll-max", "0.5", *args],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=worker_env(),
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def full_log(manager, task_id: str) -> str:
    """The whole task log (the tail may have lost its first lines to Blender's output)."""
    info = requests.get(f"{manager.url}/api/v3/tasks/{task_id}/log", timeout=10)
    if info.status_code != 200:
        return ""
    return requests.get(manager.url + info.json()["url"], timeout=10).text


def log_says(manager, task_id: str, text: str) -> bool:
    return wait_for(lambda: text in full_log(manager, task_id), 10, repr(text))


def workers_by_name(manager) -> dict[str, dict]:
    out = {}
    for summary in manager.api.workers():
        one = requests.get(f"{manager.url}/api/v3/worker-mgt/workers/{summary['id']}",
                           timeout=10).json()
        out[one["name"]] = one
    return out


def test_list_devices_numbers_the_gpus_of_the_best_type() -> None:
    out = subprocess.run([sys.executable, "-m", "worker_mode", "--list-devices"], cwd=REPO,
                         env=worker_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "0: OPTIX   RTX 4090  24 GiB" in lines[0]
    assert lines[2].strip().startswith("2: OPTIX   RTX 3060")
    assert any(line.strip().startswith("CUDA") for line in lines)  # listed, not numbered
    assert "--gpu renders on OPTIX" in out.stdout


def test_per_gpu_slots_are_workers_of_their_own_each_on_its_gpu(
    manager, tiny_blend, tmp_path
) -> None:
    proc = start(manager.url, tmp_path, "box", "--slots", "per-gpu", "--devices", "0,2",
                 "--cpu-slot")
    try:
        names = {"box-gpu0", "box-gpu2", "box-cpu"}
        workers = wait_for(
            lambda: (w := workers_by_name(manager)) and names <= {
                n for n, one in w.items() if one["status"] == "awake"} and w,
            90, "three slot workers to be awake")
        assert set(workers) == names
        gpu0, gpu2, cpu = workers["box-gpu0"], workers["box-gpu2"], workers["box-cpu"]
        # Each slot's render process is pinned to its own device, and says so at sign-on.
        assert [d["id"] for d in gpu0["hardware"]["gpus"]] == ["OPTIX_RTX 4090_0000:01:00"]
        assert [d["id"] for d in gpu2["hardware"]["gpus"]] == ["OPTIX_RTX 3060_0000:03:00"]
        assert cpu["hardware"]["gpus"] == [] and cpu["hardware"]["render_device"] == "CPU"
        assert len(gpu0["hardware"]["devices"]) == len(INJECTED)
        tags = {name: sorted(t["name"] for t in one["tags"]) for name, one in workers.items()}
        assert tags["box-gpu0"] == ["cuda", "gpu", "optix", "vram>=12g", "vram>=16g",
                                    "vram>=24g", "vram>=8g"]
        assert tags["box-gpu2"] == ["cuda", "gpu", "optix", "vram>=12g", "vram>=8g"]
        assert tags["box-cpu"] == ["cpu"]
        assert all(one["blender_version"] for one in workers.values())

        # A job for the CPU slot renders there, and its log says on what.
        out = tmp_path / "out-cpu"
        job = manager.api.submit_render(tiny_blend, str(out), "1-2", chunk_size=2, name="cpu",
                                        tag="cpu")
        wait_for(lambda: manager.api.job_status(job) == "completed", 90, "the CPU job")
        (render,) = [t for t in manager.api.tasks(job) if t["name"].startswith("render")]
        assert manager.api.task(render["id"])["worker"]["name"] == "box-cpu"
        assert log_says(manager, render["id"], "Cycles renders on the CPU")

        # A job that asks for the GPU fails where Cycles cannot use it, saying why.
        job = manager.api.submit_render(tiny_blend, str(tmp_path / "out-gpu"), "1", chunk_size=1,
                                        name="gpu", tag="gpu", render_device="GPU")
        wait_for(lambda: manager.api.job_status(job) == "failed", 90, "the GPU job to fail")
        (render,) = [t for t in manager.api.tasks(job) if t["name"].startswith("render")]
        assert log_says(manager, render["id"],
                        "this job renders on the GPU, but Cycles could not enable its GPU")
        assert "fall back to the CPU" in full_log(manager, render["id"])
    finally:
        stop(proc)
    assert (tmp_path / "box" / "slots" / "gpu0" / "credentials.json").is_file()


def test_a_gpu_job_on_a_cpu_worker_fails_with_the_reason(manager, tiny_blend, tmp_path) -> None:
    proc = start(manager.url, tmp_path, "plain", "--cpu")
    try:
        job = manager.api.submit_render(tiny_blend, str(tmp_path / "out"), "1", chunk_size=1,
                                        render_device="GPU")
        wait_for(lambda: manager.api.job_status(job) == "failed", 90, "the job to fail")
        (render,) = [t for t in manager.api.tasks(job) if t["name"].startswith("render")]
        assert log_says(manager, render["id"], "this worker renders on the CPU")
    finally:
        stop(proc)
