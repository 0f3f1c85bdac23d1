"""SheepIt public keys: a login answers a ``publickey`` that the client sends in place of its
password from then on, as the Python client does after every login. A key opens SheepIt
sessions of its own login only, and a password change or the user's removal revokes it."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import requests

from manager.db.protocol_models import SheepitKey
from manager.db.queries import sheepit as sheepit_queries
from manager.protocols import sheepit_store
from manager.web.deps import request_time
from tests.conftest import Manager, database_backends
from tests.protocols.conftest import app_of, submit_frames
from tests.protocols.sheepit_farm import PASSWORD, ready_for_sheepit
from tests.protocols.test_sheepit_clients import PythonClient

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

NEW_PASSWORD = "a new password, longer"


@pytest.fixture
def farm(manager: Manager) -> Manager:
    return ready_for_sheepit(manager)


def config_status(manager: Manager, login: str, password: str) -> ElementTree.Element:
    """A fresh client's login (no cookie) with this password."""
    params = {
        "login": login,
        "password": password,
        "version": "6.2.0",
        "os": "linux",
        "bits": "64bit",
        "cpu_family": "6",
        "cpu_model": "158",
        "cpu_model_name": "Intel(R) Core(TM) i7",
        "cpu_cores": "8",
        "ram": "16000000",
        "hostname": "desk-9",
    }
    answer = requests.get(manager.url + "/sheepit/server/config.php", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return ElementTree.fromstring(answer.content)


def logged_in_key(manager: Manager, login: str = "alice", password: str = PASSWORD) -> str:
    config = config_status(manager, login, password)
    assert config.get("status") == "0", config.get("message")
    key = config.get("publickey")
    assert key
    return key


def stored_keys(manager: Manager, login: str = "alice") -> list[SheepitKey]:
    with manager.farm.db.read() as session:
        keys = sheepit_queries.keys_of_login(session, login)
        session.expunge_all()
        return keys


def test_python_client_logs_in_again_with_its_key_after_its_session_died(
    farm: Manager,
) -> None:
    client = PythonClient(farm)
    client.login()
    key = client.password
    assert key and key != PASSWORD
    assert client.http.get(client.ops["logout"], timeout=30).status_code == 200
    submit_frames(farm, "1")
    # The dead session is answered 202; the client logs in again with the key it kept.
    given = client.get_job()
    assert given is not None and given["frame"] == "0001"
    assert client.password == key
    assert client.upload(given) == "0"


def test_a_login_with_a_key_keeps_the_session_rules_of_a_password_login(farm: Manager) -> None:
    key = logged_in_key(farm)
    farm.api("PATCH", "/api/farmhand/sheepit/users/alice", json={"can_render": False})
    client = PythonClient(farm)
    client.password = key
    client.login()
    submit_frames(farm, "1")
    answer = client.http.get(client.ops["request-job"], timeout=30)
    assert ElementTree.fromstring(answer.content).get("status") == "201"
    farm.api(
        "PATCH", "/api/farmhand/sheepit/users/alice", json={"expires_at": "2020-01-01T00:00:00Z"}
    )
    assert config_status(farm, "alice", key).get("status") == "103"


def test_each_password_login_gets_its_own_key_and_a_key_login_the_same_again(
    farm: Manager,
) -> None:
    first, second = logged_in_key(farm), logged_in_key(farm)
    assert first != second
    assert logged_in_key(farm, password=first) == first
    assert len(stored_keys(farm)) == 2


def test_a_wrong_key_is_a_wrong_password(farm: Manager) -> None:
    key = logged_in_key(farm)
    for wrong in (key[:-1], key + "x", key.upper(), hashlib.sha256(key.encode()).hexdigest()):
        config = config_status(farm, "alice", wrong)
        assert config.get("status") == "102", wrong
        assert config.get("publickey") is None


def test_a_key_opens_no_other_login(farm: Manager) -> None:
    created = farm.post("/api/farmhand/sheepit/users", json={"login": "bob", "password": PASSWORD})
    assert created.status_code == 201
    alice_key = logged_in_key(farm)
    assert config_status(farm, "bob", alice_key).get("status") == "102"
    assert logged_in_key(farm, "bob") != alice_key


def test_a_key_is_no_worker_secret_on_the_flamenco_door(farm: Manager) -> None:
    key = logged_in_key(farm)
    (worker,) = farm.get("/api/v3/worker-mgt/workers").json()["workers"]
    answer = farm.get("/api/v3/worker/state", auth=(worker["id"], key))
    assert answer.status_code in (401, 403)


def test_only_the_keys_sha256_is_stored(farm: Manager) -> None:
    key = logged_in_key(farm)
    (row,) = stored_keys(farm)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {row.key_hash, row.login, str(row.created), str(row.last_used)}


def test_a_key_login_marks_the_key_used(farm: Manager) -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    overrides = app_of(farm).dependency_overrides
    overrides[request_time] = lambda: start
    key = logged_in_key(farm)
    overrides[request_time] = lambda: start + timedelta(minutes=5)
    logged_in_key(farm, password=key)
    (row,) = stored_keys(farm)
    assert (row.created, row.last_used) == (start, start + timedelta(minutes=5))


def test_keys_past_the_limit_lose_the_least_recently_used(
    monkeypatch: pytest.MonkeyPatch, farm: Manager
) -> None:
    monkeypatch.setattr(sheepit_store, "MAX_KEYS_PER_LOGIN", 3)
    oldest, older, newer = (logged_in_key(farm) for _ in range(3))
    logged_in_key(farm, password=oldest)  # used again: now the most recent
    logged_in_key(farm)
    assert len(stored_keys(farm)) == 3
    assert config_status(farm, "alice", older).get("status") == "102"
    assert logged_in_key(farm, password=oldest) == oldest
    assert logged_in_key(farm, password=newer) == newer


def test_a_password_change_revokes_the_keys(farm: Manager) -> None:
    key = logged_in_key(farm)
    changed = farm.api(
        "PATCH", "/api/farmhand/sheepit/users/alice", json={"password": NEW_PASSWORD}
    )
    assert changed.status_code == 200 and changed.json()["keys"] == 0
    assert config_status(farm, "alice", key).get("status") == "102"
    assert config_status(farm, "alice", PASSWORD).get("status") == "102"
    assert logged_in_key(farm, password=NEW_PASSWORD)
    (listed,) = farm.get("/api/farmhand/sheepit/users").json()["users"]
    assert listed["keys"] == 1


def test_a_password_change_on_the_command_line_revokes_the_keys(
    monkeypatch: pytest.MonkeyPatch, farm: Manager
) -> None:
    from manager.protocols.sheepit_admin import main

    key = logged_in_key(farm)
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    args = ["--data-dir", str(farm.settings.data_dir), "--database", farm.settings.database]
    assert main([*args, "password", "alice", "--password-stdin"]) == 0
    assert config_status(farm, "alice", key).get("status") == "102"
    assert logged_in_key(farm, password=NEW_PASSWORD)


def test_other_changes_keep_the_keys(farm: Manager) -> None:
    key = logged_in_key(farm)
    farm.api("PATCH", "/api/farmhand/sheepit/users/alice", json={"can_render": False})
    assert logged_in_key(farm, password=key) == key


def test_a_removed_user_added_again_has_no_keys(farm: Manager) -> None:
    key = logged_in_key(farm)
    assert farm.api("DELETE", "/api/farmhand/sheepit/users/alice").status_code == 204
    created = farm.post(
        "/api/farmhand/sheepit/users", json={"login": "alice", "password": PASSWORD}
    )
    assert created.status_code == 201 and created.json()["keys"] == 0
    assert stored_keys(farm) == []
    assert config_status(farm, "alice", key).get("status") == "102"
