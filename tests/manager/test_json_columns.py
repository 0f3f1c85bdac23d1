"""JSON columns hold no infinity or NaN: none can be stored, and one that a database written
by an older manager still holds reads as null instead of breaking every answer about it."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from manager.db.models import Worker
from tests.conftest import Manager
from tests.protocols.test_rest2015 import register


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_number_json_cannot_carry_is_never_stored(manager: Manager, number: float) -> None:
    register(manager)
    with pytest.raises(StatementError, match="not JSON compliant"):
        with manager.farm.db.write() as session:
            worker = session.scalars(select(Worker)).one()
            worker.extra = {**worker.extra, "reading": number}
    with manager.farm.db.read() as session:
        assert "reading" not in session.scalars(select(Worker)).one().extra


def test_a_stored_infinity_reads_as_no_reading_and_every_answer_stays_whole(
    manager: Manager,
) -> None:
    worker = register(manager)
    old = '{"update_frequent": {"load_average": {"1min": Infinity, "5min": NaN, "15min": 1.5}}}'
    with manager.farm.db.write() as session:  # as an older manager let a 2015 worker store
        session.execute(text("UPDATE workers SET extra = :extra"), {"extra": old})
    fetched = manager.get(f"/workers/{worker['id']}")
    assert fetched.status_code == 200, fetched.text
    load = fetched.json()["update_frequent"]["load_average"]
    assert load == {"1min": None, "5min": None, "15min": 1.5}
    assert manager.get("/workers").status_code == 200
    listed = manager.get("/api/farmhand/workers")
    assert listed.status_code == 200
    assert ["Load average", "1.50"] in listed.json()["workers"][0]["metrics"]
