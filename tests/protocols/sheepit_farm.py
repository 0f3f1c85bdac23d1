"""A manager made ready for SheepIt clients, shared by the tests that play one."""

from __future__ import annotations

from tests.conftest import Manager

PASSWORD = "correct horse battery"


def ready_for_sheepit(manager: Manager) -> Manager:
    """Add a SheepIt user, a Linux renderer and a blend file in the manager's storage."""
    response = manager.post(
        "/api/farmhand/sheepit/users", json={"login": "alice", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    renderers = manager.settings.data_dir / "sheepit" / "renderers"
    renderers.mkdir(parents=True)
    (renderers / "linux-64bit.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    blend = manager.settings.storage_dir / "projects" / "shot.blend"
    blend.parent.mkdir(parents=True)
    blend.write_bytes(b"BLENDER-v500 not really")
    return manager
