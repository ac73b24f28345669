"""Outbox and delivery to FreshPortal (its sandbox), on SQLite and PostgreSQL.

Versions per order only go up and a row is added only when what the order shows changes; the
newest version is written with FreshPortal's ``sequence``, so a stale write gets 409 and changes
nothing; FreshPortal being down leaves the row waiting and the next run delivers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.checkout.errors import ServerError
from checkout_freshportal.checkout.statuses import BALANCE_FIELDS
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings, PaymentStatusUpdate
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.status_push import service as push
from checkout_freshportal.warehouse import schema

from events_fixtures import add_order, migrated, rows, store_bodies
from events_world import History, play

MAPPING = load_mapping(environ={})
ORDERS = [
    {
        "order_id": 900001,
        "order_number": "FP-900001",
        "currency": "EUR",
        "amount_minor": 10_000,
        "status": "confirmed",
    },
    {
        "order_id": 900002,
        "order_number": "FP-900002",
        "currency": "EUR",
        "amount_minor": 20_000,
        "status": "confirmed",
    },
    {
        "order_id": 900003,
        "order_number": "FP-900003",
        "currency": "EUR",
        "amount_minor": 30_000,
        "status": "confirmed",
    },
]


@pytest.fixture(scope="module")
def fp() -> Iterator[FreshPortalSandboxServer]:
    with FreshPortalSandboxServer(FreshPortalSandboxConfig(seed=3, orders=ORDERS, order_count=0)) as server:
        yield server


def fp_client(server: FreshPortalSandboxServer) -> FreshPortalClient:
    settings = FreshPortalSettings(
        base_url=server.base_url, api_key=server.api_key, max_retries=1, backoff_base=0.01, backoff_cap=0.02
    )
    return FreshPortalClient(settings, mapping=MAPPING)


def fp_payment(server: FreshPortalSandboxServer, order_id: int) -> dict:
    """The order's payment sub-resource as the simulator stores it (our names, minor units)."""
    with server.state._lock:
        return dict(server.state.orders[order_id].payment or {})


def reset_payment(server: FreshPortalSandboxServer, order_id: int) -> None:
    with server.state._lock:
        order = server.state.orders[order_id]
        order.payment = None


def apply_one_by_one(engine, h: History, start: datetime) -> list[ev.ApplyResult]:
    out = []
    for i, e in enumerate(h.events):
        store_bodies(engine, [e.body()], start + timedelta(seconds=i))
        out.append(ev.apply_events(engine, None, MAPPING))
    return out


def outbox(engine) -> list[dict]:
    return rows(engine, schema.sync_status_outbox, "order_id", "version")


T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_versions_count_up_only_on_change_and_only_the_newest_is_written(migrated_warehouse_url, fp) -> None:
    reset_payment(fp, 900001)
    engine = migrated(migrated_warehouse_url)
    add_order(engine, "900001", "FP-900001", 10_000)
    h = play(
        "approve",
        [("capture", 50, 60), ("capture_declined", 10, 60), ("capture_full", 1, 60), ("refund", 30, 60)],
        reference="FP-900001",
        order_id="900001",
    )
    apply_one_by_one(engine, h, T0)
    box = outbox(engine)
    assert [(r["version"], r["freshportal_status"]) for r in box] == [
        (1, "authorized"),
        (2, "partially_paid"),
        (3, "paid"),
        (4, "partially_refunded"),
    ]  # the declined capture changed nothing, so it added no row
    # a resend of every event, in reverse: nothing new to push
    store_bodies(engine, [e.body() for e in reversed(h.events)], T0 + timedelta(hours=1))
    with engine.begin() as conn:
        conn.execute(schema.raw_webhook_events.update().values(processed_at=None))
    assert ev.apply_events(engine, None, MAPPING).outbox_rows == 0

    result = push.push_statuses(engine, fp_client(fp), run_id="t")
    assert (result.delivered, result.superseded_older, result.sent) == (1, 3, 1)
    stored = fp_payment(fp, 900001)
    assert stored["status"] == "partially_refunded"
    assert stored["sequence"] == 4
    assert stored["amount_refunded_minor"] == h.final_balances["total_refunded"]
    assert stored["payment_id"] == h.payment_id
    box = outbox(engine)
    assert [r["outcome"] for r in box] == ["superseded", "superseded", "superseded", "delivered"]
    assert push.push_statuses(engine, fp_client(fp)).sent == 0  # nothing left to send
    engine.dispose()


def test_a_stale_write_gets_409_and_does_not_overwrite(migrated_warehouse_url, fp) -> None:
    reset_payment(fp, 900002)
    engine = migrated(migrated_warehouse_url)
    add_order(engine, "900002", "FP-900002", 20_000)
    client = fp_client(fp)
    # FreshPortal already holds a newer status (e.g. written by a rebuilt warehouse's first push)
    client.write_payment_status("900002", PaymentStatusUpdate("paid", sequence=7))
    h = play("approve", [], amount=20_000, reference="FP-900002", order_id="900002")
    apply_one_by_one(engine, h, T0)
    (row,) = outbox(engine)
    assert (row["version"], row["freshportal_status"]) == (1, "authorized")
    result = push.push_statuses(engine, client)
    assert (result.superseded_409, result.delivered, result.failed) == (1, 0, 0)
    assert fp_payment(fp, 900002)["status"] == "paid"  # not overwritten
    (row,) = outbox(engine)
    assert row["outcome"] == "superseded"
    assert "409" in row["last_error"]
    assert row["attempts"] == 1
    assert push.push_statuses(engine, client).sent == 0  # a 409 is never retried
    engine.dispose()


def test_freshportal_down_the_row_waits_and_the_next_run_delivers(migrated_warehouse_url, fp) -> None:
    reset_payment(fp, 900003)
    engine = migrated(migrated_warehouse_url)
    add_order(engine, "900003", "FP-900003", 30_000)
    h = play("approve", [("capture_full", 1, 60)], amount=30_000, reference="FP-900003", order_id="900003")
    apply_one_by_one(engine, h, T0)
    assert len(outbox(engine)) == 2
    requests.post(
        f"{fp.base_url}/_sandbox/faults/next",
        json={"fault": "500", "method": "PUT", "path": "/payment", "count": 5},
        timeout=10,
    ).raise_for_status()
    now = datetime.now(UTC)
    down = push.push_statuses(engine, fp_client(fp), now=lambda: now)
    assert (down.failed, down.delivered, down.stopped_early) == (1, 0, True)
    waiting = [r for r in outbox(engine) if r["outcome"] is None]
    assert len(waiting) == 1
    assert waiting[0]["attempts"] == 1
    assert "ServerError" in waiting[0]["last_error"]
    assert waiting[0]["next_attempt_at"] > now
    requests.delete(f"{fp.base_url}/_sandbox/faults/next", timeout=10)
    soon = push.push_statuses(engine, fp_client(fp), now=lambda: now + timedelta(seconds=1))
    assert (soon.backing_off, soon.sent) == (1, 0)  # backoff respected
    later = push.push_statuses(engine, fp_client(fp), now=lambda: now + timedelta(minutes=10))
    assert later.delivered == 1
    assert fp_payment(fp, 900003)["status"] == "paid"
    engine.dispose()


def test_a_refused_write_is_recorded_and_fails_loudly_after_the_others(migrated_sqlite_url, fp) -> None:
    engine = migrated(migrated_sqlite_url)
    add_order(engine, "999999", "FP-999999", 1_000)  # staged, but unknown to FreshPortal: 404
    reset_payment(fp, 900001)
    add_order(engine, "900001", "FP-900001", 10_000)
    for ref, oid in (("FP-999999", "999999"), ("FP-900001", "900001")):
        apply_one_by_one(engine, play("approve", [], reference=ref, order_id=oid), T0)
    with pytest.raises(push.StatusPushError, match="refused 1"):
        push.push_statuses(engine, fp_client(fp))
    outcomes = {r["order_id"]: r["outcome"] for r in outbox(engine)}
    assert outcomes == {"999999": "rejected", "900001": "delivered"}
    assert push.push_statuses(engine, fp_client(fp)).sent == 0  # a rejected row is not retried
    engine.dispose()


def test_unresolved_order_waits_then_is_released_when_the_order_is_staged(migrated_warehouse_url) -> None:
    engine = migrated(migrated_warehouse_url)
    h = play("approve", [("capture_full", 1, 60)], reference="FP-123456", order_id=None)
    # no order id in the metadata either: only the reference can resolve it
    bodies = []
    for e in h.events:
        env = e.envelope()
        env["data"].get("metadata", {}).pop("freshportal_order_id", None)
        bodies.append(json.dumps(env).encode())
    store_bodies(engine, bodies, T0)
    first = ev.apply_events(engine, None, MAPPING)
    assert (first.unresolved_payments, first.outbox_rows) == (1, 0)
    assert first.unresolved_sample == [h.payment_id]
    add_order(engine, "777", "FP-123456", 10_000)
    second = ev.apply_events(engine, None, MAPPING)  # no new events: the order is found anyway
    assert (second.orders_resolved_late, second.outbox_rows, second.unresolved_total) == (1, 1, 0)
    (row,) = outbox(engine)
    assert (row["order_id"], row["freshportal_status"]) == ("777", "paid")
    engine.dispose()


def test_several_payments_of_one_order_the_one_with_money_speaks(migrated_sqlite_url) -> None:
    engine = migrated(migrated_sqlite_url)
    add_order(engine, "555", "FP-555555", 10_000)
    declined = play("decline", [], reference="FP-555555", order_id="555")
    paid = play("approve", [("capture_full", 1, 60)], reference="FP-555555", order_id="555")
    store_bodies(engine, [e.body() for e in paid.events], T0)
    ev.apply_events(engine, None, MAPPING)
    store_bodies(engine, [e.body() for e in declined.events], T0 + timedelta(minutes=1))  # a late decline
    ev.apply_events(engine, None, MAPPING)
    box = outbox(engine)
    assert box[-1]["freshportal_status"] == "paid"
    assert box[-1]["payment_id"] == paid.payment_id
    assert len(box) == 1  # the late declined attempt changed nothing the order shows
    engine.dispose()


class FlakyReader:
    """GET /payments/{id} that fails ``failures`` times, then answers from a snapshot."""

    def __init__(self, snapshot: dict, failures: int) -> None:
        self.snapshot, self.failures, self.calls = snapshot, failures, 0

    def get_payment(self, payment_id: str) -> dict:
        self.calls += 1
        if self.calls <= self.failures:
            raise ServerError("upstream down", status=503, method="GET", path="/payments/x")
        return self.snapshot


def test_events_that_need_the_api_wait_while_it_fails_then_apply(migrated_warehouse_url) -> None:
    engine = migrated(migrated_warehouse_url)
    h = play("approve", [("capture", 50, 60), ("refund", 20, 60)])
    # only the refund arrives: no payment-level event, so the machine asks the API
    store_bodies(engine, [h.events[-1].body()], T0)
    reader = FlakyReader(h.final_snapshot, failures=1)
    first = ev.apply_events(engine, reader, MAPPING)
    assert (first.events_deferred, first.events_applied, first.truth_failed) == (1, 0, 1)
    (raw,) = rows(engine, schema.raw_webhook_events, "event_id")
    assert raw["processed_at"] is None
    assert raw["process_attempts"] == 1
    assert "deferred" in raw["last_error"]
    second = ev.apply_events(engine, reader, MAPPING)
    assert (second.events_applied, second.truth_fetched) == (1, 1)
    (row,) = rows(engine, schema.stg_payment_status, "payment_id")
    assert row["status"] == h.final_status == "Partially Refunded"
    assert row["reference"] == h.final_snapshot["reference"]
    assert row["problems"] is None
    assert [row[f"{b}_minor"] for b in BALANCE_FIELDS] == [h.final_balances[b] for b in BALANCE_FIELDS]
    engine.dispose()


def test_deferral_is_bounded(migrated_sqlite_url) -> None:
    engine = migrated(migrated_sqlite_url)
    h = play("approve", [("capture", 50, 60)])
    store_bodies(engine, [h.events[-1].body()], T0)
    reader = FlakyReader(h.final_snapshot, failures=100)
    settings = ev.EventsSettings(max_deferrals=2)
    assert ev.apply_events(engine, reader, MAPPING, settings).events_deferred == 1
    last = ev.apply_events(engine, reader, MAPPING, settings)
    assert (last.events_deferred, last.events_applied) == (0, 1)
    (row,) = rows(engine, schema.stg_payment_status, "payment_id")
    assert row["status"] == "Partially Captured"
    assert "reference" in row["problems"]
    engine.dispose()


def test_poison_is_surfaced_never_applied(migrated_sqlite_url) -> None:
    engine = migrated(migrated_sqlite_url)
    h = play("approve", [])
    store_bodies(engine, [b'{"id": "evt_broken", "data": {}}', h.events[0].body()], T0)
    result = ev.apply_events(engine, None, MAPPING)
    assert (result.events_applied, result.poison_count) == (1, 1)
    assert result.poison[0]["event_id"] == "evt_broken"
    assert result.poison[0]["reason"]
    raw = {r["event_id"]: r for r in rows(engine, schema.raw_webhook_events, "event_id")}
    assert raw["evt_broken"]["processed_at"] is None
    assert raw["evt_broken"]["is_poison"]
    engine.dispose()
