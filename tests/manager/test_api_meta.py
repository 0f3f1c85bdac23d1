"""The v3 meta API: version, configuration, variables, shared storage, farm status."""

from __future__ import annotations

from pathlib import Path

from manager.config import Variable, VariableValue
from tests.conftest import Manager, register_worker, submit


def test_version_names_the_manager(manager: Manager) -> None:
    body = manager.get("/api/v3/version").json()
    assert body["name"] == "Farmhand" and body["version"] == body["shortversion"]


def test_configuration_reports_the_storage(manager: Manager) -> None:
    body = manager.get("/api/v3/configuration").json()
    assert body["storageLocation"].endswith("storage")
    assert body["isFirstRun"] is False


def test_variables_pick_the_platform_value(manager: Manager) -> None:
    manager.settings.variables["render"] = Variable(
        is_twoway=True,
        values=[
            VariableValue(platform="linux", value="/mnt/render"),
            VariableValue(platform="windows", value="R:\\"),
        ],
    )
    linux = manager.get("/api/v3/configuration/variables/workers/linux").json()
    assert linux["render"] == {"name": "render", "value": "/mnt/render", "is_twoway": True}
    assert linux["blender"]["value"] == "blender"
    windows = manager.get("/api/v3/configuration/variables/users/windows").json()
    assert windows["render"]["value"] == "R:\\"


def test_shared_storage_is_mapped_per_platform(manager: Manager) -> None:
    import platform

    here = platform.system().lower()
    manager.settings.shared_storage = "/mnt/render/farm"
    manager.settings.variables["render"] = Variable(
        is_twoway=True,
        values=[
            VariableValue(platform=here, value="/mnt/render"),
            VariableValue(platform="windows", value="R:\\"),
        ],
    )
    body = manager.get("/api/v3/configuration/shared-storage/users/windows").json()
    assert body["location"] == "R:\\farm" and body["shamanEnabled"] is False


def test_shared_storage_check(manager: Manager, tmp_path: Path) -> None:
    ok = manager.post(
        "/api/v3/configuration/check/shared-storage", json={"path": str(tmp_path)}
    ).json()
    assert ok["is_usable"] is True
    missing = manager.post(
        "/api/v3/configuration/check/shared-storage", json={"path": str(tmp_path / "nope")}
    ).json()
    assert missing["is_usable"] is False and "exist" in missing["cause"]
    relative = manager.post("/api/v3/configuration/check/shared-storage", json={"path": "x"}).json()
    assert relative["is_usable"] is False


def test_farm_status_follows_workers_and_jobs(manager: Manager) -> None:
    assert manager.get("/api/v3/status").json() == {"status": "inoperative"}
    worker = register_worker(manager)
    worker.wake()
    assert manager.get("/api/v3/status").json() == {"status": "idle"}
    submit(manager)
    worker.next_task()
    assert manager.get("/api/v3/status").json() == {"status": "active"}


def test_openapi_document_names_every_operation_once(manager: Manager) -> None:
    document = manager.get("/openapi.json").json()
    ids = [
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
