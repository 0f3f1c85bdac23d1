"""The spec's shaman operations: requirements, upload with verification, checkout creation."""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import time

import pytest

from manager.storage import file_store
from tests.conftest import Manager


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(manager: Manager, data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    return manager.post(f"/api/v3/shaman/files/{sha(data)}/{len(data)}", data=data, **kwargs)


def store_is_clean(manager: Manager) -> bool:
    root = manager.settings.data_dir / "file-store"
    leftovers = list((root / "uploading").glob("*")) if (root / "uploading").exists() else []
    stored = list(file_store(manager.settings).iter_stored())
    return not leftovers and not stored


def test_upload_then_requirements_list_only_missing_files(manager: Manager) -> None:
    a, b = b"texture bytes", b"blend bytes"
    response = manager.post(
        "/api/v3/shaman/checkout/requirements",
        json={
            "files": [
                {"sha": sha(a), "size": len(a), "path": "a.png"},
                {"sha": sha(b), "size": len(b), "path": "b.blend"},
            ]
        },
    )
    assert response.status_code == 200
    assert [f["path"] for f in response.json()["files"]] == ["a.png", "b.blend"]
    assert all(f["status"] == "unknown" for f in response.json()["files"])

    assert upload(manager, a).status_code == 204
    assert upload(manager, a).status_code == 208  # known already: nothing stored twice
    check = manager.get(f"/api/v3/shaman/files/{sha(a)}/{len(a)}")
    assert check.status_code == 200 and check.json() == {"status": "stored"}

    response = manager.post(
        "/api/v3/shaman/checkout/requirements",
        json={
            "files": [
                {"sha": sha(a), "size": len(a), "path": "a.png"},
                {"sha": sha(b), "size": len(b), "path": "b.blend"},
            ]
        },
    )
    assert [f["path"] for f in response.json()["files"]] == ["b.blend"]


def test_wrong_checksum_or_size_is_417_and_stores_nothing(manager: Manager) -> None:
    data = b"x" * 5000
    wrong_sha = manager.post(f"/api/v3/shaman/files/{'0' * 64}/{len(data)}", data=data)
    assert wrong_sha.status_code == 417 and "SHA-256" in wrong_sha.json()["message"]
    wrong_size = manager.post(f"/api/v3/shaman/files/{sha(data)}/{len(data) + 1}", data=data)
    assert wrong_size.status_code == 417
    # The same body chunked (no Content-Length), shorter than announced. (The spec checker
    # cannot read a streamed request body back, so it sits these two out.)
    manager.checker.enabled = False
    try:
        short = manager.post(
            f"/api/v3/shaman/files/{sha(data)}/{len(data) + 10}",
            data=iter([data[:2000], data[2000:]]),
        )
        assert short.status_code == 417 and "incomplete" in short.json()["message"]
        longer = manager.post(
            f"/api/v3/shaman/files/{sha(data)}/100", data=iter([data[:2000], data[2000:]])
        )
        assert longer.status_code == 417
    finally:
        manager.checker.enabled = True
    assert store_is_clean(manager)


def test_upload_cut_off_by_the_client_leaves_nothing(manager: Manager) -> None:
    data = os.urandom(200_000)
    host, port = manager.settings.host, manager.settings.port
    head = (
        f"POST /api/v3/shaman/files/{sha(data)}/{len(data)} HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port)) as conn:
        conn.sendall(head + data[:50_000])
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while not store_is_clean(manager) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store_is_clean(manager)
    assert manager.get(f"/api/v3/shaman/files/{sha(data)}/{len(data)}").json() == {
        "status": "unknown"
    }


def test_files_beyond_the_configured_limit_are_413(manager: Manager) -> None:
    manager.settings.max_upload_bytes = 4096
    data = b"y" * 5000
    response = upload(manager, data)
    assert response.status_code == 413 and "4096" in response.json()["message"]
    assert store_is_clean(manager)


@pytest.mark.parametrize(
    ("checksum", "size"),
    [("abc", 3), ("G" * 64, 3), ("A" * 64, 3), ("a" * 64, -1), ("a" * 64, "lots")],
)
def test_bad_checksums_and_sizes_are_400(manager: Manager, checksum: str, size: object) -> None:
    response = manager.post(f"/api/v3/shaman/files/{checksum}/{size}", data=b"abc")
    assert response.status_code == 400
    assert manager.get(f"/api/v3/shaman/files/{checksum}/{size}").status_code == 400


def test_deferred_upload_while_another_client_uploads_is_425(manager: Manager) -> None:
    data = b"shared texture"
    store = file_store(manager.settings)
    store.uploading_dir.mkdir(parents=True)
    (store.uploading_dir / f"{sha(data)}-{len(data)}-someoneelse").write_bytes(b"shar")
    check = manager.get(f"/api/v3/shaman/files/{sha(data)}/{len(data)}")
    assert check.json() == {"status": "uploading"}
    deferred = upload(manager, data, headers={"X-Shaman-Can-Defer-Upload": "true"})
    assert deferred.status_code == 425
    assert upload(manager, data).status_code == 204  # a client that cannot wait just sends it


def checkout_body(path: str, files: list[tuple[bytes, str]]) -> dict[str, object]:
    return {
        "checkoutPath": path,
        "files": [{"sha": sha(d), "size": len(d), "path": p} for d, p in files],
    }


def test_checkout_create_needs_every_file_then_gets_a_unique_path(manager: Manager) -> None:
    blend, tex = b"blend", b"tex"
    upload(manager, blend)
    body = checkout_body("project/shot", [(blend, "shot.blend"), (tex, "textures/t.png")])
    missing = manager.post("/api/v3/shaman/checkout/create", json=body)
    assert missing.status_code == 424 and "textures/t.png" in missing.json()["message"]
    upload(manager, tex)
    first = manager.post("/api/v3/shaman/checkout/create", json=body)
    assert first.status_code == 200 and first.json() == {"checkoutPath": "project/shot"}
    second = manager.post("/api/v3/shaman/checkout/create", json=body)
    assert second.status_code == 200
    assert second.json()["checkoutPath"].startswith("project/shot-")

    manifest = manager.get("/api/farmhand/checkouts/project/shot").json()
    assert manifest["checkoutPath"] == "project/shot"
    assert {f["path"] for f in manifest["files"]} == {"shot.blend", "textures/t.png"}
    content = manager.get(f"/api/farmhand/files/{sha(tex)}/{len(tex)}")
    assert content.status_code == 200 and content.content == tex


BAD_PATHS = [
    "../escape.blend",
    "a/../../escape.blend",
    "/etc/passwd",
    "C:/Windows/win.ini",
    "c:relative.blend",
    "..\\..\\escape.blend",
    "textures\\t.png",
    "a//b.png",
    "./a.png",
    "",
    "nul.txt",
    "a/b\x00.png",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_checkout_paths_that_could_escape_are_refused(manager: Manager, bad: str) -> None:
    data = b"content"
    upload(manager, data)
    as_file = manager.post(
        "/api/v3/shaman/checkout/create", json=checkout_body("ok", [(data, bad)])
    )
    assert as_file.status_code == 400, as_file.text
    assert "files[0].path" in as_file.json()["message"]
    as_checkout = manager.post(
        "/api/v3/shaman/checkout/create", json=checkout_body(bad, [(data, "ok.blend")])
    )
    assert as_checkout.status_code == 400 and "checkoutPath" in as_checkout.json()["message"]
    assert manager.get("/api/farmhand/checkouts/ok").status_code == 404


def test_duplicate_and_clashing_checkout_paths_are_refused(manager: Manager) -> None:
    data = b"content"
    upload(manager, data)
    twice = checkout_body("c", [(data, "a.png"), (data, "a.png")])
    assert manager.post("/api/v3/shaman/checkout/create", json=twice).status_code == 400
    clash = checkout_body("c", [(data, "a"), (data, "a/b.png")])
    response = manager.post("/api/v3/shaman/checkout/create", json=clash)
    assert response.status_code == 400 and "folder" in response.json()["message"]


def test_shaman_operations_need_the_access_token(manager: Manager) -> None:
    """Who reads stored files is tested in tests/manager/test_worker_access.py."""
    manager.settings.access_token = "studio"
    assert (
        manager.post("/api/v3/shaman/checkout/requirements", json={"files": []}).status_code == 401
    )


GARBAGE: list[object] = [None, "not json", [], {}, {"files": 3}, {"files": [{"sha": 1}]}, 12]


def test_no_shaman_operation_answers_500_to_garbage(manager: Manager) -> None:
    paths = [
        ("POST", "/api/v3/shaman/checkout/requirements"),
        ("POST", "/api/v3/shaman/checkout/create"),
        ("GET", f"/api/v3/shaman/files/{'a' * 64}/12"),
        ("POST", f"/api/v3/shaman/files/{'a' * 64}/12"),
        ("POST", "/api/v3/shaman/files/x/y"),
    ]
    manager.checker.enabled = False
    try:
        for (method, path), body in itertools.product(paths, GARBAGE):
            kwargs: dict[str, object] = {}
            if body == "not json":
                kwargs = {"data": b"{nope", "headers": {"Content-Type": "application/json"}}
            elif body is not None:
                kwargs = {"json": body}
            response = manager.api(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"code", "message"}
    finally:
        manager.checker.enabled = True
    assert store_is_clean(manager)
