"""``python -m manager`` as a user starts it: flags, environment, config file, bad settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import REPO, free_port


def run_manager(
    *args: str, env: dict[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "manager", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bad_port_stops_start_up_with_one_line() -> None:
    result = run_manager("--port", "70000")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_said_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_manager(
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data")
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"farmhand manager: cannot listen on 127.0.0.1:{port}: the port is in use "
        "(another manager?); pick another with --port"
    )
    assert result.stdout == "" and not (tmp_path / "data").exists()


def test_bad_environment_value_is_named() -> None:
    result = run_manager(env={"FARMHAND_WORKER_TIMEOUT": "soon"})
    assert result.returncode == 2 and "worker_timeout" in result.stderr


def test_bad_database_url_is_refused(tmp_path: Path) -> None:
    result = run_manager("--database", "mysql://x/y", "--data-dir", str(tmp_path))
    assert (
        result.returncode == 2 and "database" in result.stderr and "Traceback" not in result.stderr
    )


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "farmhand.yaml"
    config.write_text("port: 9000\nworker_timeot: 5\n")
    result = run_manager("--config", str(config))
    assert result.returncode == 2 and "worker_timeot" in result.stderr


def test_manager_starts_and_prints_its_urls(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "farmhand.yaml"
    config.write_text(f"manager_name: Studio farm\nport: {port + 1}\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "manager",
            "--config",
            str(config),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        version = None
        while time.monotonic() < deadline:
            try:
                version = requests.get(f"http://127.0.0.1:{port}/api/v3/version", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert (
            version is not None and version["name"] == "Studio farm"
        )  # flag beats file, file beats default
        assert (tmp_path / "data" / "farmhand.sqlite").is_file()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/api/v3" in output and "/docs" in output
