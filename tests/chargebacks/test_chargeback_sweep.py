"""A dispute whose webhooks were lost reaches the order through the disputes sweep.

Real simulators: the Checkout.com sandbox plays the dispute, its dispute webhooks are dropped,
``ingest_disputes`` lands ``GET /disputes`` in ``stg_disputes``, and the next events run (no new
event) folds the swept dispute into the payment's status and the order's signal; a second run
changes nothing, and a late webhook behind the swept status moves nothing back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cb_fixtures import (
    MAPPING,
    World,
    apply_each,
    checkout_of,
    fresh_warehouse,
    outbox,
    push_and_read,
    sandbox_world,
)

from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.ingest.disputes import ingest_disputes
from checkout_freshportal.sync.ingest.windows import Window

AMOUNT = 4_000
ORDER_ID = "980001"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with sandbox_world(tmp_path_factory.mktemp("cbs"), [ORDER_ID], AMOUNT, seed=8) as w:
        yield w


def _type(body: bytes) -> str:
    return str(json.loads(body)["type"])


def test_swept_dispute_reaches_the_order_once(migrated_warehouse_url, world) -> None:
    pid = world.captured_payment(ORDER_ID, AMOUNT)
    did = world.open_dispute(pid, category="credit_not_processed", reason_code="13.6")
    world.dispute_steps(did, ["dispute_evidence_submitted", "dispute_lost"])
    played = world.played(ORDER_ID, pid, (did,))
    payment_events = [b for b in played.bodies if not _type(b).startswith("dispute_")]
    lost_event = next(b for b in played.bodies if _type(b) == "dispute_lost")
    with world.fp.state._lock:
        world.fp.state.orders[int(ORDER_ID)].payment = None
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        apply_each(engine, payment_events)
        assert push_and_read(engine, world, ORDER_ID)["status"] == "paid"
        window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
        swept = ingest_disputes(checkout_of(world), engine, window=window)
        assert swept.fetched >= 1
        before = len(outbox(engine, ORDER_ID))
        ev.apply_events(engine, None, MAPPING)
        assert len(outbox(engine, ORDER_ID)) == before + 1
        shown = push_and_read(engine, world, ORDER_ID)
        ev.apply_events(engine, None, MAPPING)  # nothing new: no version
        apply_each(engine, [lost_event])  # the late webhook agrees: no version either
        assert len(outbox(engine, ORDER_ID)) == before + 1
    finally:
        engine.dispose()
    assert shown["status"] == "chargeback"
    cb = shown["chargeback"]
    assert (cb["dispute_id"], cb["status"], cb["category"], cb["amount_minor"]) == (
        did,
        "lost",
        "credit_not_processed",
        AMOUNT,
    )
