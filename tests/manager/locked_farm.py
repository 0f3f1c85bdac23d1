"""A farm locked with an access token and a registration token, holding two jobs: job A with
its files in the file store (a checkout) and one uploaded frame, its task held by worker A;
job B, its task held by worker B. What the access tests read and refuse."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

from PIL import Image

from tests.conftest import FakeWorker, Manager, register_worker, submit

ACCESS_TOKEN = "studio-access"
REGISTRATION_TOKEN = "studio-registration"
BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
BLEND = b"the blend file of job A"
FRAME_NAME = "0001.png"


@dataclass
class LockedFarm:
    manager: Manager
    job_a: str
    task_a: str
    worker_a: FakeWorker
    job_b: str
    task_b: str
    worker_b: FakeWorker
    checkout: str
    sha256: str
    size: int
    frame: bytes


def _png() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)).save(out, "PNG")
    return out.getvalue()


def _store_checkout(manager: Manager) -> tuple[str, str]:
    sha = hashlib.sha256(BLEND).hexdigest()
    stored = manager.post(f"/api/v3/shaman/files/{sha}/{len(BLEND)}", data=BLEND)
    assert stored.status_code in (204, 208), stored.text
    body = {"checkoutPath": "shot-a", "files": [{"sha": sha, "size": len(BLEND),
                                                  "path": "shot.blend"}]}
    created = manager.post("/api/v3/shaman/checkout/create", json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["checkoutPath"]), sha


def _take_one_task(worker: FakeWorker, job_id: str) -> str:
    worker.wake()
    task = worker.next_task()
    assert task is not None and task["job"] == job_id, task
    return str(task["uuid"])


def lock_down(manager: Manager) -> LockedFarm:
    """Build the farm open, then set both tokens, as a studio would lock a running manager."""
    checkout, sha = _store_checkout(manager)
    one_task = {"frames": "1", "chunk_size": 1}
    job_a = submit(manager, name="job A", settings=one_task,
                   storage={"shaman_checkout_id": checkout})["id"]
    worker_a = register_worker(manager, "worker-a")
    task_a = _take_one_task(worker_a, job_a)
    job_b = submit(manager, name="job B", settings=one_task)["id"]
    worker_b = register_worker(manager, "worker-b")
    task_b = _take_one_task(worker_b, job_b)
    frame = _png()
    uploaded = manager.api(
        "PUT", f"/api/farmhand/outputs/tasks/{task_a}/{FRAME_NAME}", data=frame,
        auth=(worker_a.id, worker_a.secret),
        headers={"X-Farmhand-SHA256": hashlib.sha256(frame).hexdigest()},
    )
    assert uploaded.status_code == 201, uploaded.text
    manager.settings.access_token = ACCESS_TOKEN
    manager.settings.registration_token = REGISTRATION_TOKEN
    return LockedFarm(manager, job_a, task_a, worker_a, job_b, task_b, worker_b, checkout, sha,
                      len(BLEND), frame)
