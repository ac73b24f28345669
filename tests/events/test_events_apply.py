"""The events use case on SQLite and PostgreSQL, fed by the Checkout.com sandbox's own deliveries.

Webhooks go from the sandbox to a local receiver that stores them as the sidecar does, with
duplicates and hold-backs switched on (``webhook_duplicate_share``, ``webhook_reorder_share``);
``apply_events`` runs while deliveries are still arriving and again at the end. Every payment
then has the status ``GET /payments/{id}`` reports, declines are logged with their codes, and
applying everything again changes nothing.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import sqlalchemy as sa

from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.warehouse import schema

from events_fixtures import (
    DECLINE_CARD,
    StoringReceiver,
    add_order,
    api_status,
    checkout_client,
    checkout_sandbox,
    migrated,
    pay,
    post,
    register_workflow,
    rows,
    status_snapshot,
    store_bodies,
    wait_for_deliveries,
    wait_until,
)
from events_world import play

MAPPING = load_mapping(environ={})
DECLINE = {"metadata": {"sandbox_decline": True}}


def _captured(sb, pid: str, amount: int) -> bool:
    return api_status(sb, pid)["balances"]["total_captured"] >= amount


def drive(sb) -> dict[str, str]:
    """A realistic mix of payment lives through the sandbox API; returns label -> payment id."""
    p: dict[str, str] = {}
    p["auto"] = pay(sb, 12_000, "FP-700001")["id"]
    p["partial"] = pay(sb, 10_000, "FP-700002", capture=False)["id"]
    post(sb, f"/payments/{p['partial']}/captures", {"amount": 5_000})
    p["void"] = pay(sb, 8_000, "FP-700003", capture=False)["id"]
    post(sb, f"/payments/{p['void']}/voids")
    p["void_declined"] = pay(sb, 7_000, "FP-700004", capture=False)["id"]
    post(sb, f"/payments/{p['void_declined']}/voids", DECLINE)
    p["capture_declined"] = pay(sb, 6_000, "FP-700005", capture=False)["id"]
    post(sb, f"/payments/{p['capture_declined']}/captures", DECLINE)
    p["refund_full"] = pay(sb, 5_000, "FP-700006")["id"]
    p["refund_declined"] = pay(sb, 4_000, "FP-700007")["id"]
    p["declined"] = pay(sb, 3_000, "FP-700008", source=dict(DECLINE_CARD))["id"]
    p["cancel_3ds"] = pay(sb, 2_000, "FP-700009", **{"3ds": {"enabled": True}})["id"]
    post(sb, f"/_sandbox/payments/{p['cancel_3ds']}/3ds", {"outcome": "cancel"}, expect=200)
    p["ok_3ds"] = pay(
        sb, 2_500, "FP-700010", metadata={"freshportal_order_id": "810010"}, **{"3ds": {"enabled": True}}
    )["id"]
    post(sb, f"/_sandbox/payments/{p['ok_3ds']}/3ds", {"outcome": "approve"}, expect=200)
    p["dispute"] = pay(sb, 9_000, "FP-700011")["id"]
    p["expire"] = pay(sb, 1_500, "FP-700012", capture=False)["id"]
    p["partial_expire"] = pay(sb, 9_500, "FP-700013", capture=False)["id"]
    post(sb, f"/payments/{p['partial_expire']}/captures", {"amount": 4_000})

    wait_until(lambda: _captured(sb, p["partial"], 5_000), what="partial capture")
    post(sb, f"/payments/{p['partial']}/refunds", {"amount": 2_000})
    post(sb, f"/payments/{p['partial']}/captures", {"amount": 3_000, "capture_type": "Final"})
    wait_until(lambda: _captured(sb, p["capture_declined"], 0) is not None, what="declined capture")
    wait_until(
        lambda: any(a["type"] == "Capture" for a in api_status(sb, p["capture_declined"]).get("actions", [])),
        what="declined capture landed",
    )
    post(sb, f"/payments/{p['capture_declined']}/captures", {})
    wait_until(lambda: _captured(sb, p["refund_full"], 5_000), what="auto capture")
    post(sb, f"/payments/{p['refund_full']}/refunds", {})
    wait_until(lambda: _captured(sb, p["refund_declined"], 4_000), what="auto capture 2")
    post(sb, f"/payments/{p['refund_declined']}/refunds", {"amount": 100, **DECLINE})
    wait_until(lambda: _captured(sb, p["dispute"], 9_000), what="capture before dispute")
    dsp = post(sb, f"/_sandbox/payments/{p['dispute']}/dispute", {"amount": 9_000}, expect=201)["id"]
    post(sb, f"/_sandbox/disputes/{dsp}/status", {"status": "lost"}, expect=200)
    return p


@pytest.mark.slow
def test_sandbox_deliveries_end_in_the_api_status(migrated_warehouse_url: str) -> None:
    engine = migrated(migrated_warehouse_url)
    add_order(engine, "810001", "FP-700001", 12_000)
    add_order(engine, "810002", "FP-700002", 10_000)
    add_order(engine, "810011", "FP-700011", 9_000)
    receiver = StoringReceiver(engine)
    try:
        with checkout_sandbox(webhook_duplicate_share=0.4, webhook_reorder_share=0.5) as sb:
            register_workflow(sb, receiver.url)
            client = checkout_client(sb)
            settings = ev.EventsSettings(batch_size=4)
            payments = drive(sb)
            mid = ev.apply_events(
                engine, client, MAPPING, settings, run_id="mid"
            )  # deliveries still arriving
            post(sb, "/_sandbox/advance", {"hours": 200, "payments_per_hour": 0}, expect=200)  # expiries
            wait_for_deliveries(sb, receiver)
            result = ev.apply_events(engine, client, MAPPING, settings, run_id="end")
            assert mid.events_applied + result.events_applied == receiver_rows(engine)
            assert result.poison_count == 0
            assert result.unmapped == []

            status = {r["payment_id"]: r for r in rows(engine, schema.stg_payment_status, "payment_id")}
            assert set(payments.values()) <= set(status)
            for label, pid in payments.items():
                api = api_status(sb, pid)
                assert status[pid]["status"] == api["status"], label
                for name in ("total_authorized", "total_captured", "total_refunded", "total_voided"):
                    assert status[pid][f"{name}_minor"] == api["balances"][name], (label, name)
            expected = {
                "auto": "Captured",
                "partial": "Partially Refunded",
                "void": "Voided",
                "void_declined": "Expired",
                "capture_declined": "Captured",
                "refund_full": "Refunded",
                "refund_declined": "Captured",
                "declined": "Declined",
                "cancel_3ds": "Canceled",
                "ok_3ds": "Captured",
                "dispute": "Captured",
                "expire": "Expired",
                "partial_expire": "Partially Captured",
            }
            assert {k: status[v]["status"] for k, v in payments.items()} == expected
            assert status[payments["dispute"]]["dispute_state"] == "Chargeback"
            assert status[payments["dispute"]]["freshportal_status"] == "chargeback"
            assert status[payments["ok_3ds"]]["order_id"] == "810010"  # from the link metadata
            with engine.connect() as conn:
                t = schema.raw_webhook_events
                left = conn.execute(sa.select(sa.func.count()).where(t.c.processed_at.is_(None))).scalar()
            assert left == 0

            # the declines log, with codes and summaries
            declines = rows(engine, schema.ops_payment_declines, "decline_id")
            kinds = Counter((d["payment_id"], d["kind"]) for d in declines)
            assert kinds[(payments["declined"], "payment_declined")] == 1
            assert kinds[(payments["capture_declined"], "capture_declined")] == 1
            assert kinds[(payments["void_declined"], "void_declined")] == 1
            assert kinds[(payments["refund_declined"], "refund_declined")] == 1
            assert kinds[(payments["cancel_3ds"], "canceled")] == 1
            assert kinds[(payments["expire"], "expired")] == 1
            assert kinds[(payments["void_declined"], "expired")] == 1
            declined = next(d for d in declines if d["payment_id"] == payments["declined"])
            assert (declined["response_code"], declined["response_summary"]) == (
                "20051",
                "Insufficient Funds",
            )
            assert declined["amount_minor"] == 3_000
            assert declined["currency"] == "EUR"

            # the outbox: one row per change of what the order shows, versions counting up
            outbox = rows(engine, schema.sync_status_outbox, "order_id", "version")
            by_order: dict[str, list[dict]] = {}
            for r in outbox:
                by_order.setdefault(r["order_id"], []).append(r)
            assert set(by_order) == {"810001", "810002", "810010", "810011"}
            for order_rows in by_order.values():
                versions = [r["version"] for r in order_rows]
                assert versions == list(range(1, len(versions) + 1))
                payloads = [
                    {k: v for k, v in r["payload"].items() if k != "status_changed_at"} for r in order_rows
                ]
                assert all(a != b for a, b in itertools.pairwise(payloads))
            assert by_order["810001"][-1]["freshportal_status"] == "paid"
            assert by_order["810011"][-1]["freshportal_status"] == "chargeback"
            assert "pii" not in str(outbox).lower()
            assert "@" not in str([r["payload"] for r in outbox])

            # everything again (as after a crash that lost the processed marks): nothing changes
            before = status_snapshot(engine)
            with engine.begin() as conn:
                conn.execute(schema.raw_webhook_events.update().values(processed_at=None))
            again = ev.apply_events(engine, client, MAPPING, settings, run_id="again")
            assert again.events_applied == receiver_rows(engine)
            assert again.outbox_rows == 0
            assert again.payments_changed == 0
            assert status_snapshot(engine) == before
    finally:
        receiver.close()
        engine.dispose()


def receiver_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(schema.raw_webhook_events)).scalar() or 0
        )


def test_a_run_stops_at_its_time_budget_and_the_next_one_continues(migrated_sqlite_url: str) -> None:
    engine = migrated(migrated_sqlite_url)
    h = play("approve", [("capture", 40, 60), ("refund", 50, 60), ("capture_full", 1, 60)])
    store_bodies(engine, [e.body() for e in h.events])
    ticks = iter([0.0, 0.0, 1000.0, 1000.0])
    first = ev.apply_events(
        engine,
        None,
        MAPPING,
        ev.EventsSettings(batch_size=2, time_budget_seconds=10),
        monotonic=lambda: next(ticks),
    )
    assert first.budget_exhausted
    assert first.events_applied == 2
    second = ev.apply_events(engine, None, MAPPING, ev.EventsSettings(batch_size=2))
    assert second.events_applied == len(h.events) - 2
    assert not second.budget_exhausted
    (row,) = rows(engine, schema.stg_payment_status, "payment_id")
    assert row["status"] == h.final_status
    engine.dispose()
