"""The one ``GET /disputes/{id}`` rule, and the evidence-deadline note (once, however many runs).

Real simulators: dispute webhooks from the Checkout.com sandbox, reduced to what a real
delivery carries (no ``category``, ``evidence_required_by``; docs/checkout-com.md#webhooks), and
the FreshPortal sandbox's notes. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cb_fixtures import World, apply_each, checkout_of, fresh_warehouse, push_and_read, sandbox_world

from checkout_freshportal.sync.chargebacks import service as chargebacks
from checkout_freshportal.sync.chargebacks.settings import ChargebackSettings
from checkout_freshportal.warehouse import schema

from events_fixtures import rows

AMOUNT = 7_500
ORDERS = ("970001", "970002")
_PLAYED: dict[str, object] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with sandbox_world(tmp_path_factory.mktemp("cbn"), ORDERS, AMOUNT, seed=6) as w:
        yield w


def _played(world: World, order_id: str, events: list[str]):
    if order_id not in _PLAYED:
        pid = world.captured_payment(order_id, AMOUNT)
        did = world.open_dispute(pid, category="product_service_not_received", reason_code="13.1")
        if events:
            world.dispute_events(did, events)
        _PLAYED[order_id] = world.played(order_id, pid, (did,))
    return _PLAYED[order_id]


def _real_shape(body: bytes) -> bytes:
    """A dispute delivery without the fields real webhooks leave out."""
    env = json.loads(body)
    if env["type"].startswith("dispute_"):
        for key in ("category", "reason_code", "evidence_required_by"):
            env["data"].pop(key, None)
    return json.dumps(env).encode()


def test_one_get_fills_what_real_webhooks_lack(migrated_warehouse_url, world) -> None:
    played = _played(world, ORDERS[0], ["dispute_evidence_submitted", "dispute_lost"])
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    checkout = checkout_of(world)
    try:
        results = apply_each(engine, [_real_shape(b) for b in played.bodies], checkout)
        # again, reversed: the row is complete, nothing is read again
        results += apply_each(engine, [_real_shape(b) for b in reversed(played.bodies)], checkout)
        (dispute,) = rows(engine, schema.stg_disputes, "dispute_id")
        shown = push_and_read(engine, world, played.order_id)
    finally:
        engine.dispose()
    assert sum(r.dispute_details_fetched for r in results) == 1
    assert checkout.stats.snapshot()["calls"].get("GET disputes.get") == 1
    assert (dispute["status"], dispute["category"], dispute["reason_code"]) == (
        "lost",
        "product_service_not_received",
        "13.1",
    )
    assert dispute["evidence_required_by"] is not None
    cb = shown["chargeback"]
    assert (cb["status"], cb["category"], cb["reason_code"]) == (
        "lost",
        "product_service_not_received",
        "13.1",
    )
    assert shown["status"] == "chargeback"


def test_deadline_note_is_created_once_however_often_the_task_runs(
    migrated_warehouse_url, world, caplog
) -> None:
    played = _played(world, ORDERS[1], [])
    with world.fp.state._lock:  # the module's FreshPortal served the other warehouse kind too
        for note_id in [k for k, n in world.fp.state.notes.items() if str(n.order_id) == played.order_id]:
            del world.fp.state.notes[note_id]
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        apply_each(engine, list(played.bodies))
        (dispute,) = rows(engine, schema.stg_disputes, "dispute_id")
        due = dispute["evidence_required_by"]
        settings = ChargebackSettings(evidence_deadline_warning_days=3)
        fp = world.fp_client()
        early = chargebacks.raise_deadline_notes(fp, engine, settings, due - timedelta(days=4))
        assert (early.due, early.created) == (0, 0)
        with caplog.at_level(logging.WARNING, logger="checkout_freshportal.sync.chargebacks.service"):
            first = chargebacks.raise_deadline_notes(fp, engine, settings, due - timedelta(days=2))
            second = chargebacks.raise_deadline_notes(fp, engine, settings, due - timedelta(days=1))
        late = chargebacks.raise_deadline_notes(fp, engine, settings, due + timedelta(minutes=1))
    finally:
        engine.dispose()
    assert (first.due, first.created, first.already_noted) == (1, 1, 0)
    assert (second.due, second.created, second.already_noted) == (1, 0, 1)
    assert late.due == 0  # past the deadline the dispute expires; no note is due any more
    with world.fp.state._lock:
        notes = [n for n in world.fp.state.notes.values() if str(n.order_id) == played.order_id]
    assert len(notes) == 1
    assert notes[0].external_ref == chargebacks.external_ref(played.dispute_ids[0], due)
    assert "75.00 EUR" in notes[0].text
    assert played.dispute_ids[0] in notes[0].text
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and played.dispute_ids[0] in r.getMessage()
    ]
    assert len(warnings) == 1
