"""``cfp replay webhooks`` on SQLite and PostgreSQL: stored events through the events service again.

Histories come from the sandbox's own ``World`` (tests/events/events_world.py), stored as the
sidecar stores them and applied by the ``checkout_events`` use case first. The replay must be
idempotent (twice: nothing changes, no outbox row), retry poison events (one an earlier version
set aside by mistake is applied now, a broken body is reported again), and bring a state an
earlier, wrong derivation left back to what the code derives, without queueing a second write
of what FreshPortal already has.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from rebuild_helpers import cfp, table_rows

from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.timeutil import format_ts
from checkout_freshportal.warehouse import schema

from events_fixtures import add_order, migrated, rows, store_bodies
from events_world import T0, play

MAPPING = load_mapping(environ={})
RANGE = ("--from", format_ts(T0), "--to", format_ts(T0 + timedelta(days=1)))
BROKEN = b'{"id": "evt_broken", "data": {}}'


def _world(url: str) -> tuple[sa.Engine, Any, Any]:
    engine = migrated(url)
    add_order(engine, "800001", "FP-800001", 10_000)
    add_order(engine, "800002", "FP-800002", 20_000)
    a = play(
        "approve",
        [("capture", 50, 60), ("capture_full", 1, 60), ("refund", 30, 60)],
        reference="FP-800001",
        order_id="800001",
    )
    b = play(
        "approve",
        [("capture_full", 1, 60), ("dispute", 100, 60)],
        amount=20_000,
        reference="FP-800002",
        order_id="800002",
    )
    store_bodies(engine, [e.body() for e in a.events], T0 + timedelta(hours=1))
    store_bodies(engine, [e.body() for e in b.events], T0 + timedelta(hours=2))
    store_bodies(engine, [BROKEN], T0 + timedelta(hours=3))
    refund = next(e for e in a.events if e.event_type == "payment_refunded")
    t = schema.raw_webhook_events
    with engine.begin() as conn:  # an earlier version set this good event aside by mistake
        conn.execute(
            t.update()
            .where(t.c.event_id == refund.event_id)
            .values(is_poison=True, poison_reason="apply: old bug")
        )
    ev.apply_events(engine, None, MAPPING)
    return engine, a, refund


def _state(engine: sa.Engine) -> dict[str, Any]:
    """What a replay may change: status rows, disputes, declines, outbox (bookkeeping aside)."""
    names = ("stg_payment_status", "stg_disputes", "ops_payment_declines", "sync_status_outbox")
    return {name: table_rows(engine, name, frozenset({"first_seen_at", "updated_at"})) for name in names}


def _event(engine: sa.Engine, event_id: str) -> dict[str, Any]:
    t = schema.raw_webhook_events
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t).where(t.c.event_id == event_id)).mappings().one())


def test_replay_retries_poison_and_a_second_replay_changes_nothing(migrated_warehouse_url, capsys) -> None:
    engine, _a, refund = _world(migrated_warehouse_url)
    url = ("--url", migrated_warehouse_url)
    box = rows(engine, schema.sync_status_outbox, "order_id", "version")
    assert [r["freshportal_status"] for r in box if r["order_id"] == "800001"][-1] == "paid"  # refund unseen

    status, dry = cfp(capsys, "replay", "webhooks", *RANGE, *url, "--no-api", "--dry-run", "--json")
    assert status == 0
    assert dry["poison_retried"] == 2
    assert _event(engine, refund.event_id)["is_poison"] is True  # a dry run writes nothing

    status, first = cfp(capsys, "replay", "webhooks", *RANGE, *url, "--no-api", "--json")
    assert status == 1  # the broken body still fails, and says so
    assert first["selected"] == len(rows(engine, schema.raw_webhook_events))
    assert first["failed"] == 1
    assert first["failed_events"][0]["event_id"] == "evt_broken"
    assert first["applied"] >= 1
    assert first["applied"] + first["unchanged"] + first["failed"] == first["selected"]
    assert first["outbox_rows"] == 1  # the refund FreshPortal has not seen, queued once
    fixed = _event(engine, refund.event_id)
    assert fixed["processed_at"] is not None
    assert fixed["is_poison"] is False
    broken = _event(engine, "evt_broken")
    assert broken["is_poison"] is True
    assert broken["processed_at"] is None
    box = rows(engine, schema.sync_status_outbox, "order_id", "version")
    assert [r["freshportal_status"] for r in box if r["order_id"] == "800001"][-1] == "partially_refunded"

    before = _state(engine)
    status, second = cfp(capsys, "replay", "webhooks", *RANGE, *url, "--no-api", "--json")
    assert status == 1
    assert (second["applied"], second["outbox_rows"], second["payments_changed"]) == (0, 0, 0)
    assert second["unchanged"] == second["selected"] - 1
    assert _state(engine) == before


def test_replay_after_a_fix_rederives_the_state_without_a_second_write(
    migrated_warehouse_url, capsys
) -> None:
    engine, a, refund = _world(migrated_warehouse_url)
    url = ("--url", migrated_warehouse_url)
    cfp(capsys, "replay", "webhooks", *RANGE, *url, "--no-api", "--json")
    good = _state(engine)
    ps = schema.stg_payment_status
    # What a wrong derivation would have stored for payment a.
    with engine.begin() as conn:
        row = conn.execute(sa.select(ps).where(ps.c.payment_id == a.payment_id)).mappings().one()
        state = row["state"] if isinstance(row["state"], dict) else json.loads(row["state"])
        # the refund read with a wrong amount: the same fact id, other content
        facts = [{**f, "amt": f["amt"] + 1} if f["id"] == refund.event_id else f for f in state["facts"]]
        assert facts != state["facts"]
        conn.execute(
            ps.update()
            .where(ps.c.payment_id == a.payment_id)
            .values(
                state={**state, "facts": facts},
                status="Captured",
                freshportal_status="paid",
                total_refunded_minor=0,
                version=row["version"] + 1,
            )
        )

    status, out = cfp(
        capsys, "replay", "webhooks", *RANGE, *url, "--no-api", "--event-type", "payment_refunded", "--json"
    )
    assert status == 0
    assert out["selected"] == 1
    assert out["payments_changed"] == 1
    assert out["applied"] == 1
    assert out["outbox_rows"] == 0  # FreshPortal already holds "partially_refunded": nothing is queued again
    after = _state(engine)
    assert after["sync_status_outbox"] == good["sync_status_outbox"]
    fixed = {r[0]: r for r in table_rows(engine, "stg_payment_status")}
    cols = [c.name for c in ps.c if c.name not in {"first_seen_at", "updated_at"}]
    got = dict(zip(cols, fixed[a.payment_id], strict=True))
    want = dict(zip(cols, next(r for r in good["stg_payment_status"] if r[0] == a.payment_id), strict=True))
    assert got["version"] == want["version"] + 2  # the wrong row moved it once, the fix once more
    assert {k: v for k, v in got.items() if k != "version"} == {
        k: v for k, v in want.items() if k != "version"
    }


def test_a_replay_in_small_batches_neither_loses_facts_nor_queues_a_regressed_status(
    migrated_warehouse_url,
) -> None:
    """A payment's events spread over several batches: each batch re-derives only its own events'
    facts, so no batch sees the payment without the facts of events a later batch holds (a
    regressed status in the outbox) and no batch drops the facts an earlier one put back."""
    from checkout_freshportal.sync.events.settings import EventsSettings
    from checkout_freshportal.sync.rebuild.ranges import parse_range
    from checkout_freshportal.sync.rebuild.webhooks import replay_webhooks

    engine, _a, _refund = _world(migrated_warehouse_url)
    rng = parse_range(RANGE[1], RANGE[3])
    replay_webhooks(engine, None, MAPPING, rng)  # the mistaken poison applied: a settled state
    before = _state(engine)
    out = replay_webhooks(engine, None, MAPPING, rng, settings=EventsSettings(batch_size=2))
    assert out.outbox_rows == 0
    assert out.payments_changed == 0
    assert _state(engine) == before


def test_the_replay_reads_the_events_settings_the_dag_reads(migrated_sqlite_url, monkeypatch) -> None:
    """CFP_EVENTS_* (docs/settings.md) shape the checkout_events run; the replay goes the same
    path, so it reads them too (a wrong one is refused before anything runs)."""
    from checkout_freshportal.cli import main

    monkeypatch.setenv("CFP_EVENTS_BATCH_SIZE", "0")
    with pytest.raises(SystemExit) as exc:
        main(["replay", "webhooks", *RANGE, "--url", migrated_sqlite_url, "--no-api"])
    assert "CFP_EVENTS_BATCH_SIZE" in str(exc.value.code)


def test_a_replay_reads_the_range_one_batch_at_a_time(migrated_warehouse_url) -> None:
    """A replay of months must not hold every body of the range in memory: each read of stored
    bodies is limited to a batch, and the result is the one of a single pass."""
    from checkout_freshportal.sync.events.settings import EventsSettings
    from checkout_freshportal.sync.rebuild.ranges import parse_range
    from checkout_freshportal.sync.rebuild.webhooks import replay_webhooks

    engine, _a, _refund = _world(migrated_warehouse_url)
    rng = parse_range(RANGE[1], RANGE[3])
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "raw_webhook_events.body" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    out = replay_webhooks(engine, None, MAPPING, rng, settings=EventsSettings(batch_size=3))
    sa.event.remove(engine, "before_cursor_execute", seen)
    total = len(rows(engine, schema.raw_webhook_events))
    assert out.selected == total
    assert len(reads) == total // 3 + 1  # full pages, then the short (or empty) last one
    assert all("LIMIT" in s.upper() for s in reads)
    assert out.applied + out.unchanged + out.failed == out.selected
    assert [e["event_id"] for e in out.failed_events] == ["evt_broken"]
