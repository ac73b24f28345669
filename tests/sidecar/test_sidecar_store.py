"""The writer's driver-level insert writes exactly what the schema's types would write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sidecar_helpers import envelope

from checkout_freshportal.sidecar.store import insert_batch, record_from_body
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events as T


def test_driver_insert_equals_core_insert(migrated_url: str) -> None:
    bodies = [envelope("evt_a"), envelope("evt_b", shape="events"), b"{bad", b'{"id":"evt_c"}']
    received = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))
    eng = make_engine(migrated_url)
    try:
        with eng.begin() as conn:
            new = insert_batch(conn, [record_from_body(b, 1) for b in bodies], received)
            assert len(new) == 4
            # the same rows through SQLAlchemy Core, under other ids, for comparison
            core = []
            for b in bodies:
                row = record_from_body(b, 1).row(received)
                row["event_id"] = "core:" + row["event_id"]
                core.append(row)
            conn.execute(sa.insert(T), core)
            # a second insert of the same ids adds nothing and says so
            assert insert_batch(conn, [record_from_body(b, 0) for b in bodies], received) == set()
        with eng.connect() as conn:
            got = {r.event_id: dict(r._mapping) for r in conn.execute(sa.select(T))}
            # order by received_at works on both engines (text order is time order on SQLite)
            in_range = conn.execute(
                sa.select(sa.func.count()).where(T.c.received_at > datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
            ).scalar_one()
    finally:
        eng.dispose()
    assert len(got) == 8
    assert in_range == 8
    for event_id in new:
        raw, via_core = got[event_id], dict(got["core:" + event_id])
        via_core["event_id"] = event_id
        assert raw == via_core
        assert raw["received_at"] == received
        assert raw["key_index"] == 1
    assert got["evt_a"]["occurred_at"] == datetime(2023, 5, 24, 9, 12, 32, 357000, tzinfo=UTC)
    assert got["evt_c"]["is_poison"]
    assert "'type'" in got["evt_c"]["poison_reason"]
