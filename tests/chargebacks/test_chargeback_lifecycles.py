"""Each dispute life cycle ends in the right chargeback signal on the FreshPortal order.

Real simulators on both sides: the Checkout.com sandbox plays the dispute one event type at a
time and delivers its webhooks; the use case applies them (as delivered, then reversed and
duplicated, one delivery per run) and the push writes the order in the FreshPortal sandbox.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from cb_fixtures import (
    Played,
    World,
    apply_each,
    checkout_of,
    fresh_warehouse,
    outbox,
    push_and_read,
    sandbox_world,
    signals,
)

from checkout_freshportal.sync.chargebacks.signal import RETRIEVAL_STATUS
from checkout_freshportal.warehouse import schema

from events_fixtures import rows

AMOUNT = 10_000
SUBMITTED = ["dispute_evidence_submitted", "dispute_evidence_acknowledged_by_scheme"]
TO_ARBITRATION = [
    *SUBMITTED,
    "dispute_lost",
    "dispute_arbitration_sent_to_scheme",
    "dispute_arbitration_evidence_submitted",
    # dispute_arbitration_evidence_acknowledged_by_scheme: the sandbox does not send it (yet)
]
#: name -> (events after dispute_received + dispute_evidence_required, final status, FreshPortal status)
LIFECYCLES: dict[str, tuple[list[str], str, str]] = {
    "won": ([*SUBMITTED, "dispute_won"], "won", "paid"),
    "lost": ([*SUBMITTED, "dispute_lost"], "lost", "chargeback"),
    "accepted": (["dispute_accepted"], "accepted", "chargeback"),
    "expired": (["dispute_expired"], "expired", "chargeback"),
    "canceled": (["dispute_canceled"], "canceled", "paid"),
    "resolved": (["dispute_evidence_submitted", "dispute_resolved"], "resolved", "paid"),
    "arbitration_won": ([*TO_ARBITRATION, "dispute_arbitration_won"], "arbitration_won", "paid"),
    "arbitration_lost": ([*TO_ARBITRATION, "dispute_arbitration_lost"], "arbitration_lost", "chargeback"),
}
ORDER_IDS = {
    name: str(960001 + i) for i, name in enumerate([*LIFECYCLES, "retrieval", "steps", "retrieval_only"])
}
_PLAYED: dict[str, Played] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with sandbox_world(tmp_path_factory.mktemp("cb"), list(ORDER_IDS.values()), AMOUNT, seed=4) as w:
        yield w


def _play(world: World, name: str) -> Played:
    """The sandbox's deliveries for one life cycle (played once per module, reused per warehouse)."""
    if name not in _PLAYED:
        order_id = ORDER_IDS[name]
        pid = world.captured_payment(order_id, AMOUNT)
        did = world.open_dispute(pid, category="fraudulent", reason_code="10.4")
        world.dispute_events(did, LIFECYCLES[name][0])
        _PLAYED[name] = world.played(order_id, pid, (did,))
    return _PLAYED[name]


def _reset(world: World, order_id: str) -> None:
    with world.fp.state._lock:
        world.fp.state.orders[int(order_id)].payment = None


@pytest.mark.parametrize("name", list(LIFECYCLES))
def test_lifecycle_ends_in_the_right_signal_in_any_order(migrated_warehouse_url, world, name) -> None:
    played = _play(world, name)
    events, final, fp_status = LIFECYCLES[name]
    # delivered concurrently, so possibly in another order than sent
    assert sorted(t for t in played.types() if t.startswith("dispute_")) == sorted(
        ["dispute_received", "dispute_evidence_required", *events]
    )
    _reset(world, played.order_id)
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        apply_each(engine, list(played.bodies))
        in_order = outbox(engine, played.order_id)
        # reversed and each twice: nothing the order shows changes, so no version is added
        apply_each(engine, [b for b in reversed(played.bodies) for _ in range(2)])
        assert outbox(engine, played.order_id) == in_order
        (staged,) = rows(engine, schema.stg_disputes, "dispute_id")
        assert staged["status"] == final  # the late, less advanced webhooks moved nothing back
        stored = push_and_read(engine, world, played.order_id)
    finally:
        engine.dispose()
    assert stored["status"] == fp_status
    cb = stored["chargeback"]
    assert (cb["dispute_id"], cb["status"]) == (played.dispute_ids[0], final)
    assert (cb["category"], cb["reason_code"], cb["amount_minor"], cb["currency"]) == (
        "fraudulent",
        "10.4",
        AMOUNT,
        "EUR",
    )
    assert cb["evidence_required_by"] is not None


@pytest.mark.parametrize("name", ["won", "arbitration_lost"])
def test_out_of_order_from_the_start_gives_the_same_order(migrated_warehouse_url, world, name) -> None:
    """Every permutation family we can afford: reversed, dispute events first, interleaved twice."""
    played = _play(world, name)
    bodies = list(played.bodies)
    dispute_first = sorted(bodies, key=lambda b: b'"type":"dispute_' not in b)
    interleaved = [b for pair in itertools.zip_longest(bodies[::2], bodies[1::2]) for b in pair if b]
    finals = []
    for order in (list(reversed(bodies)), dispute_first, interleaved * 2):
        engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
        try:
            apply_each(engine, order)
            last = outbox(engine, played.order_id)[-1]["payload"]
        finally:
            engine.dispose()
            _drop(migrated_warehouse_url)
        finals.append((last["status"], last["chargeback"]["status"], last["chargeback"]["dispute_id"]))
    assert finals == [(LIFECYCLES[name][2], LIFECYCLES[name][1], played.dispute_ids[0])] * 3


def _drop(url: str) -> None:
    """Empty the warehouse between permutations (same schema, no rows)."""
    import sqlalchemy as sa

    from checkout_freshportal.warehouse import schema

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for t in (
            schema.sync_status_outbox,
            schema.stg_payment_status,
            schema.stg_disputes,
            schema.ops_payment_declines,
            schema.raw_webhook_events,
            schema.stg_orders,
        ):
            conn.execute(t.delete())
    engine.dispose()


def test_outbox_queues_one_version_per_change_not_per_run(migrated_warehouse_url, world) -> None:
    if "steps" not in _PLAYED:
        order_id = ORDER_IDS["steps"]
        pid = world.captured_payment(order_id, AMOUNT)
        did = world.open_dispute(pid)
        world.dispute_steps(did, LIFECYCLES["won"][0])
        _PLAYED["steps"] = world.played(order_id, pid, (did,))
    played = _PLAYED["steps"]
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        apply_each(engine, list(played.bodies))
        box = signals(engine, played.order_id)
        # the acknowledged-by-scheme event and the received/evidence-required pair change nothing shown
        assert [s for s in box if s is not None] == ["evidence_required", "evidence_under_review", "won"]
        count = len(box)
        for _ in range(3):  # runs with nothing new
            apply_each(engine, [])
        from cb_fixtures import MAPPING

        from checkout_freshportal.sync.events import service as ev

        assert ev.apply_events(engine, None, MAPPING).outbox_rows == 0
        assert len(signals(engine, played.order_id)) == count
    finally:
        engine.dispose()


def test_retrieval_request_then_chargeback(migrated_warehouse_url, world) -> None:
    order_id = ORDER_IDS["retrieval"]
    pid = world.captured_payment(order_id, AMOUNT)
    rid = world.retrieval(pid)
    before_dispute = world.played(order_id, pid, (rid,))
    did = world.open_dispute(pid, category="general", reason_code="13.1")
    world.dispute_events(did, ["dispute_lost"])
    played = world.played(order_id, pid, (rid, did))
    _reset(world, order_id)
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        apply_each(engine, list(before_dispute.bodies))
        shown = push_and_read(engine, world, order_id)
        # a retrieval request is not a chargeback: the payment stays paid, the signal says so
        assert shown["status"] == "paid"
        assert (shown["chargeback"]["dispute_id"], shown["chargeback"]["status"]) == (rid, RETRIEVAL_STATUS)
        # a later payment event keeps the retrieval on the order (no version for nothing)
        versions = len(outbox(engine, order_id))
        apply_each(engine, list(before_dispute.bodies))
        assert len(outbox(engine, order_id)) == versions
        apply_each(engine, [b for b in played.bodies if b not in before_dispute.bodies])
        shown = push_and_read(engine, world, order_id)
    finally:
        engine.dispose()
    assert shown["status"] == "chargeback"
    assert (shown["chargeback"]["dispute_id"], shown["chargeback"]["status"]) == (did, "lost")
    assert (shown["chargeback"]["category"], shown["chargeback"]["reason_code"]) == ("general", "13.1")


def test_retrieval_request_on_a_payment_the_warehouse_never_saw(migrated_warehouse_url, world) -> None:
    """The payment was captured before go-live (no event of it ever arrived): the retrieval
    request alone makes the use case read it once, resolve its order, and show the signal."""
    order_id = ORDER_IDS["retrieval_only"]
    pid = world.captured_payment(order_id, AMOUNT)
    rid = world.retrieval(pid)
    played = world.played(order_id, pid, (rid,))
    retrieval_only = [b for b in played.bodies if b"request_for_information_received" in b]
    assert len(retrieval_only) == 1
    _reset(world, order_id)
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    cko = checkout_of(world)
    try:
        results = apply_each(engine, retrieval_only, checkout=cko)
        assert results[0].truth_fetched == 1, results[0].as_dict()
        shown = push_and_read(engine, world, order_id)
    finally:
        cko.close()
        engine.dispose()
    assert shown["status"] == "paid", shown
    assert (shown["chargeback"]["dispute_id"], shown["chargeback"]["status"]) == (rid, RETRIEVAL_STATUS)
