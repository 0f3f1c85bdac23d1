"""How much the farm adds to rendering: one run, three ways, two scenes; prints ratios.

    .venv/bin/python bench/render_overhead.py [--frames 12] [--heavy-frames 6]

(a) a bare in-process bpy loop (the limit): open the file once, render frame after frame;
(b) the farm: a manager and one worker, the frames submitted as a job with chunk size 1;
(c) a new Blender process per task (what a subprocess-per-task worker does).
Targets: b/a <= 1.05 on both scenes; on the heavy scene c/b >= 5.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
MAKE_BLEND = REPO / "tests" / "worker_mode" / "make_blend.py"

# Blender 5.0's render operator takes the frame range; 4.2 and 4.5 render the scene's own
# (as worker_mode/blender_compat.py bridges it), so the bench runs on either.
RENDER_FRAME = """
def render_frame(scene, frame):
    if "frame_start" in bpy.ops.render.render.get_rna_type().properties.keys():
        bpy.ops.render.render(animation=True, frame_start=frame, frame_end=frame)
        return
    if frame < scene.frame_start:
        scene.frame_start, scene.frame_end = frame, frame
    else:
        scene.frame_end, scene.frame_start = frame, frame
    bpy.ops.render.render(animation=True)
"""

BARE_LOOP = """
import sys, time, bpy
""" + RENDER_FRAME + """
blend, out, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
started = time.perf_counter()
bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False, use_scripts=False)
scene = bpy.context.scene
scene.render.filepath = out
scene.render.use_persistent_data = True
for frame in range(first, last + 1):
    render_frame(scene, frame)
print("SECONDS", time.perf_counter() - started)
"""

ONE_FRAME = """
import sys, bpy
""" + RENDER_FRAME + """
blend, out, frame = sys.argv[1], sys.argv[2], int(sys.argv[3])
bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False, use_scripts=False)
bpy.context.scene.render.filepath = out
render_frame(bpy.context.scene, frame)
"""


def make_blend(path: Path, *args: str) -> Path:
    subprocess.run([sys.executable, str(MAKE_BLEND), str(path), *args], check=True,
                   capture_output=True)
    return path


def bare_loop(blend: Path, out: Path, frames: int) -> float:
    result = subprocess.run(
        [sys.executable, "-c", BARE_LOOP, str(blend), f"{out}/######", "1", str(frames)],
        check=True, capture_output=True, text=True,
    )
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("SECONDS"))
    return float(line.split()[1])


def process_per_task(blend: Path, out: Path, frames: int) -> float:
    started = time.perf_counter()
    for frame in range(1, frames + 1):
        subprocess.run([sys.executable, "-c", ONE_FRAME, str(blend), f"{out}/######",
                        str(frame)], check=True, capture_output=True)
    return time.perf_counter() - started


class Farm:
    """A manager and one worker on loopback, started once for all measurements."""

    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.manager = subprocess.Popen(
            [sys.executable, "-m", "manager", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(tmp / "manager"), "--log-level", "warning"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait(lambda: requests.get(f"{self.url}/api/v3/version", timeout=1).ok)
        self.worker_log = tmp / "worker.log"
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "worker_mode", "--manager", self.url, "--name", "bench",
             "--data-dir", str(tmp / "worker"), "--poll-max", "0.2"],
            cwd=REPO, stdout=open(self.worker_log, "wb"), stderr=subprocess.STDOUT,
        )
        self._wait(lambda: "idle" in self.worker_log.read_text())

    @staticmethod
    def _wait(check, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("farm did not start")

    def render(self, blend: Path, out: Path, frames: int) -> float:
        settings = {
            "frames": f"1-{frames}", "chunk_size": 1, "render_output_root": str(out),
            "add_path_components": 0, "render_output_path": f"{out}/######",
            "blendfile": str(blend), "fps": 0.0, "format": "PNG",
            "image_file_extension": ".png", "has_previews": False, "scene": "Scene",
            "persistent_data": True,
        }
        body = {"name": out.name, "type": "simple-blender-render", "priority": 50,
                "submitter_platform": "linux", "settings": settings}
        resp = requests.post(f"{self.url}/api/v3/jobs", json=body, timeout=10)
        resp.raise_for_status()
        job = resp.json()["id"]
        while True:
            # Polled slowly: on a 2-core machine a fast poll steals CPU from the render it
            # measures. The time is the manager's own: submission to completion.
            time.sleep(0.5)
            found = requests.get(f"{self.url}/api/v3/jobs/{job}", timeout=10).json()
            if found["status"] == "completed":
                created = datetime.fromisoformat(found["created"])
                return (datetime.fromisoformat(found["updated"]) - created).total_seconds()
            if found["status"] in ("failed", "canceled"):
                raise RuntimeError(f"bench job {found['status']}; see {self.worker_log}")

    def stop(self) -> None:
        for proc in (self.worker, self.manager):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="frames of the light scene")
    parser.add_argument("--heavy-frames", type=int, default=6, help="frames of the heavy scene")
    parser.add_argument("--heavy-objects", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="farmhand-bench-"))
    version = subprocess.run(
        [sys.executable, "-c", "import bpy, sys; sys.stdout.write(bpy.app.version_string)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    print(f"Blender {version}; scratch folder: {tmp}")
    scenes = [
        ("light", make_blend(tmp / "light.blend", "--size", "96", "--samples", "64"),
         args.frames),
        ("heavy", make_blend(tmp / "heavy.blend", "--size", "96", "--samples", "16",
                             "--heavy", str(args.heavy_objects), "--subdiv", "4",
                             "--move-camera"),
         args.heavy_frames),
    ]
    farm = Farm(tmp)
    try:
        print(f"{'scene':6} {'frames':>6} {'a bare':>8} {'b farm':>8} {'c proc':>8} "
              f"{'b/a':>6} {'c/a':>6} {'c/b':>6}")
        for name, blend, frames in scenes:
            a = bare_loop(blend, tmp / f"{name}-a", frames)
            b = farm.render(blend, tmp / f"{name}-b", frames)
            c = process_per_task(blend, tmp / f"{name}-c", frames)
            print(f"{name:6} {frames:6d} {a:7.2f}s {b:7.2f}s {c:7.2f}s "
                  f"{b / a:6.2f} {c / a:6.2f} {c / b:6.2f}", flush=True)
    finally:
        farm.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
