"""Two manager processes on one PostgreSQL database never hand out the same task."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import POSTGRES_ENV, REPO, free_port, reset_postgres

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV), reason=f"PostgreSQL not configured: set {POSTGRES_ENV}"
)


def _start(database: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "manager",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--database",
            database,
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/api/v3/version", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("manager did not start")


@pytest.fixture
def two_managers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    database = os.environ[POSTGRES_ENV]
    reset_postgres(database)
    first, url_a = _start(database, tmp_path / "a")  # runs the migrations
    second, url_b = _start(database, tmp_path / "b")
    try:
        yield url_a, url_b
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=15)


def _register(url: str) -> tuple[str, str]:
    secret = uuid.uuid4().hex
    body = {
        "name": secret[:8],
        "secret": secret,
        "platform": "linux",
        "supported_task_types": ["misc"],
    }
    worker_id = requests.post(url + "/api/v3/worker/register-worker", json=body, timeout=10).json()[
        "uuid"
    ]
    auth = (worker_id, secret)
    requests.post(
        url + "/api/v3/worker/sign-on",
        auth=auth,
        timeout=10,
        json={"name": secret[:8], "supported_task_types": ["misc"], "software_version": "t"},
    )
    requests.post(
        url + "/api/v3/worker/state-changed", auth=auth, json={"status": "awake"}, timeout=10
    )
    return auth


def test_workers_split_between_two_managers_never_share_a_task(
    two_managers: tuple[str, str],
) -> None:
    url_a, url_b = two_managers
    job = requests.post(
        url_a + "/api/v3/jobs",
        timeout=30,
        json={
            "name": "shared",
            "type": "frames-noop",
            "priority": 50,
            "submitter_platform": "linux",
            "settings": {"frames": "1-300", "chunk_size": 1},
        },
    ).json()
    claims: list[str] = []
    lock = threading.Lock()

    def work(url: str, auth: tuple[str, str]) -> None:
        http = requests.Session()
        http.auth = auth
        while True:
            response = http.post(url + "/api/v3/worker/task", timeout=30)
            if response.status_code == 204:
                return
            assert response.status_code == 200, response.text
            task_id = response.json()["uuid"]
            with lock:
                claims.append(task_id)
            done = http.post(
                url + f"/api/v3/worker/task/{task_id}", json={"taskStatus": "completed"}, timeout=30
            )
            assert done.status_code == 204, done.text

    threads = []
    for i in range(8):
        url = url_a if i % 2 else url_b
        threads.append(threading.Thread(target=work, args=(url, _register(url))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    duplicates = [task for task, n in Counter(claims).items() if n > 1]
    assert duplicates == []
    assert len(claims) == 300
    final = requests.get(url_b + f"/api/v3/jobs/{job['id']}", timeout=10).json()
    assert final["status"] == "completed" and final["steps_completed"] == 300
