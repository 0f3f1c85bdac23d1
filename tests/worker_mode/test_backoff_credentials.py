from __future__ import annotations

import os

import pytest

from worker_mode.backoff import Backoff
from worker_mode.credentials import Credentials, CredentialStore


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(1.0, 8.0, factor=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_jitter_stays_within_its_spread():
    lowest = Backoff(10.0, 10.0, jitter=0.2, rand=lambda: 0.0)
    highest = Backoff(10.0, 10.0, jitter=0.2, rand=lambda: 1.0)
    assert lowest.next_delay() == pytest.approx(8.0)
    assert highest.next_delay() == pytest.approx(12.0)


def test_credentials_are_kept_per_manager_readable_by_the_user_only(tmp_path):
    store = CredentialStore(tmp_path / "data")
    store.save("http://a:8080/", Credentials("id-a", "secret-a"))
    store.save("http://b:8080", Credentials("id-b", "secret-b"))
    assert store.load("http://a:8080") == Credentials("id-a", "secret-a")
    assert store.load("http://b:8080/") == Credentials("id-b", "secret-b")
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    store.save("http://a:8080", None)
    assert store.load("http://a:8080") is None


def test_unreadable_credentials_mean_registering_again(tmp_path):
    store = CredentialStore(tmp_path)
    store.path.write_text("not json")
    assert store.load("http://a:8080") is None
