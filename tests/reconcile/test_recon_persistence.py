"""Exceptions across runs: a rerun changes nothing, a resolved condition closes its exception with
a time, a recurring one keeps its first seen, an explained one stays explained; every status
change is one audit row; an incremental run ends where a full run would. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from recon_builders import T, World, exceptions, matches, reconcile

from checkout_freshportal.reconcile.service import run_reconciliation
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.schema.recon import recon_paid_out_actions

DAY = timedelta(days=1)


def _events(engine: sa.Engine) -> dict[str, list[tuple[str, str | None, str]]]:
    e, ev = schema.recon_exceptions, schema.recon_exception_events
    sel = (
        sa.select(e.c.exception_key, ev.c.action, ev.c.from_status, ev.c.to_status)
        .select_from(ev.join(e, e.c.exception_id == ev.c.exception_id))
        .order_by(ev.c.event_id)
    )
    out: dict[str, list[tuple[str, str | None, str]]] = {}
    with engine.connect() as conn:
        for key, action, from_status, to_status in conn.execute(sel):
            out.setdefault(key, []).append((action, from_status, to_status))
    return out


def _explain(engine: sa.Engine, key: str, who: str, note: str) -> None:
    """What C2's ``cfp exceptions explain`` does, written directly (it is not under test here)."""
    e = schema.recon_exceptions
    with engine.begin() as conn:
        conn.execute(
            e.update()
            .where(e.c.exception_key == key)
            .values(
                status="explained",
                explained_at=T,
                explained_by=who,
                explanation=note,
                state_version=e.c.state_version + 1,
            )
        )


def _state(engine: sa.Engine) -> dict[str, Any]:
    """What a run decides (not when it ran): exceptions' figures and statuses, matches, totals."""
    skip = {"last_seen_at", "updated_at", "run_id"}
    rows = {k: {c: v for c, v in r.items() if c not in skip} for k, r in exceptions(engine).items()}
    t = schema.recon_run_totals
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(t.c.run_id))).scalar()
        totals = {r.currency: tuple(r)[3:] for r in conn.execute(sa.select(t).where(t.c.run_id == last))}
    return {"exceptions": rows, "matches": matches(engine), "totals": totals}


def test_rerun_changes_nothing_and_the_lifecycle_is_audited(world: World) -> None:
    eng = world.engine
    world.order("o1")  # missing payment
    world.paid_order("o2")
    world.dispute("dsp_2", "pay_o2", "evidence_required")
    world.payment("pay_9", reference="nowhere")  # orphan
    first = reconcile(eng, "r1", full=True)
    before = _state(eng)
    again = reconcile(eng, "r2", full=True)
    assert _state(eng) == before
    assert (again.opened, again.resolved, again.reopened) == (0, 0, 0)
    assert first.opened == 3
    _explain(eng, "orphan_payment:payment:pay_9", "ann", "test payment")
    # the order gets paid; the chargeback is won
    world.stamp = T + DAY / 2
    world.payment("pay_o1", reference="ORD-o1")
    world.update(schema.stg_disputes, schema.stg_disputes.c.dispute_id == "dsp_2", status="won")
    third = reconcile(eng, "r3", T + DAY)
    rows = exceptions(eng)
    assert third.resolved == 2
    assert rows["missing_payment:order:o1"]["status"] == "resolved"
    assert rows["missing_payment:order:o1"]["resolved_at"] == T + DAY
    assert rows["missing_payment:order:o1"]["state_version"] == 2
    explained = rows["orphan_payment:payment:pay_9"]
    assert (explained["status"], explained["explained_by"], explained["state_version"]) == (
        "explained",
        "ann",
        2,
    )
    # the incremental run did not look at it (neither its payment nor an order it could match
    # changed): last seen is the last run that looked and found it
    assert (third.mode, explained["last_seen_at"]) == ("incremental", T)
    # the dispute is reopened (arbitration): the same exception comes back, first seen kept
    world.stamp = T + DAY * 1.5
    world.update(
        schema.stg_disputes, schema.stg_disputes.c.dispute_id == "dsp_2", status="arbitration_under_review"
    )
    fourth = reconcile(eng, "r4", T + 2 * DAY)
    back = exceptions(eng)["chargeback_open:dispute:dsp_2"]
    assert fourth.reopened == 1
    assert (back["status"], back["first_seen_at"], back["resolved_at"], back["state_version"]) == (
        "open",
        T,
        None,
        3,
    )
    assert _events(eng) == {
        "missing_payment:order:o1": [("opened", None, "open"), ("resolved", "open", "resolved")],
        "orphan_payment:payment:pay_9": [("opened", None, "open")],  # explained by C2, not by a run
        "chargeback_open:dispute:dsp_2": [
            ("opened", None, "open"),
            ("resolved", "open", "resolved"),
            ("reopened", "resolved", "open"),
        ],
    }
    with eng.connect() as conn:
        runs = conn.execute(sa.select(schema.recon_runs.c.status, schema.recon_runs.c.mode)).all()
    assert {status for status, _ in runs} == {"succeeded"}
    assert len(runs) == 4


def _plant_mixed(w: World) -> None:
    """Every kind of subject, some clean, some not."""
    for i in range(6):
        w.paid_order(f"c{i}", 1000 + i)
        w.action(f"act_c{i}", f"pay_c{i}", "Capture", 1000 + i, processed_on=T - 9 * DAY)
        w.line(f"act_c{i}", f"pay_c{i}", (1000 + i) * 10**6, payout="po_1")
    w.payout("po_1", sum(1000 + i for i in range(6)))
    w.order("m1", confirmed_at=T - 2 * DAY)  # becomes due between the runs
    w.order("inv1", 600, invoices=["INV-1"])
    w.order("inv2", 400, invoices=["INV-2"])
    w.payment("pay_inv", 1000, reference="INV-1 INV-2")
    w.payment("pay_orphan", 700, reference="ORD-late")  # its order arrives later
    w.refund_request("rr1", "c1", requested_at=T - DAY / 2)  # becomes due between the runs
    w.dispute("dsp_1", "pay_c2", "evidence_required")
    w.payment_status("pay_c3", "c3", "paid", at=T - DAY)


def _change(w: World) -> None:
    """About what 1 % of a day's changes look like: a few rows, each touching other subjects."""
    w.stamp = T + DAY / 2
    w.order("late", 700, number="ORD-late")  # the orphan's order arrives
    w.update(schema.stg_payments, schema.stg_payments.c.payment_id == "pay_inv", total_captured_minor=900)
    w.update(schema.stg_disputes, schema.stg_disputes.c.dispute_id == "dsp_1", status="lost")
    w.update(schema.stg_orders, schema.stg_orders.c.order_id == "c3", payment_status="pending")
    w.line("act_extra", None, 5 * 10**6, kind="Adjustment", breakdown="Minimum Billing Fee", payout="po_1")
    w.payment("pay_c4b", 1004, reference="ORD-c4")  # a duplicate


@pytest.mark.parametrize("confirm_with_full", [True])
def test_incremental_equals_full(world: World, confirm_with_full: bool) -> None:
    eng = world.engine
    _plant_mixed(world)
    reconcile(eng, "r1")
    _change(world)
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    assert 0 < inc.scope["orders"] < 10  # not everything: 7 of the 10 orders are touched
    after_incremental = _state(eng)
    full = reconcile(eng, "r3", T + DAY, full=confirm_with_full)
    assert full.mode == "full"
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
    assert _state(eng) == after_incremental
    keys = {k for k, r in after_incremental["exceptions"].items() if r["status"] == "open"}
    assert keys == {
        "missing_payment:order:m1",
        "amount_mismatch:order:inv1",
        "amount_mismatch:order:inv2",
        "chargeback_lost:dispute:dsp_1",
        "refund_not_executed:refund_request:rr1",
        "status_drift:order:c3",
        "payout_mismatch:payout:po_1",
        "duplicate_payment:order:c4",
    }


def test_a_payment_pointed_at_another_order_leaves_the_first_incrementally(world: World) -> None:
    """A changed payment brings the orders of its stored matches into the scope, not only those
    it matches now: its old order, whose money it no longer is, must be compared again (the
    closure's first round looks up from the seeds; later rounds from what the round before
    added)."""
    eng, w = world.engine, world
    w.paid_order("a1")
    w.order("a2")
    w.payment("pay_x", reference="ORD-a2")  # a2 paid by another payment, so a1 is the one left
    reconcile(eng, "r1")
    assert {k for k, r in exceptions(eng).items() if r["status"] == "open"} == set()

    w.stamp = T + DAY / 2
    w.update(schema.stg_payments, schema.stg_payments.c.payment_id == "pay_a1", reference="ORD-a2")
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    opened = {k: r for k, r in exceptions(eng).items() if r["status"] == "open"}
    assert set(opened) == {"missing_payment:order:a1", "duplicate_payment:order:a2"}
    after_incremental = _state(eng)
    full = reconcile(eng, "r3", T + DAY, full=True)
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
    assert _state(eng) == after_incremental


def test_settings_change_forces_a_full_run_and_a_failed_run_is_recorded(world: World) -> None:
    eng = world.engine
    world.order("o1", confirmed_at=T - 2 * DAY)
    assert reconcile(eng, "r1").mode == "full"
    assert reconcile(eng, "r2", T + DAY / 4).mode == "incremental"
    longer = ReconcileSettings(payment_due=timedelta(days=1), full_every=timedelta(days=7))
    changed = reconcile(eng, "r3", T + DAY / 2, settings=longer)
    assert changed.mode == "full"
    assert "missing_payment:order:o1" in {k for k, r in exceptions(eng).items() if r["status"] == "open"}
    # a run that fails inside (here: a helper table is gone) is recorded as failed, loudly
    with eng.begin() as conn:
        conn.execute(sa.text("DROP TABLE recon_order_facts"))
    with pytest.raises(sa.exc.SQLAlchemyError):
        run_reconciliation(eng, longer, run_id="r4", as_of=T + DAY, confirmed_statuses=("confirmed",))
    runs = schema.recon_runs
    with eng.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.run_id == "r4")).one()
    assert row.status == "failed"
    assert row.finished_at is not None
    assert "recon_order_facts" in row.error


def _paid_out(engine: sa.Engine) -> set[str]:
    t = recon_paid_out_actions
    with engine.connect() as conn:
        return set(conn.execute(sa.select(t.c.action_id)).scalars())


def test_an_incremental_run_sees_payouts_named_since_and_keeps_those_named_before(world: World) -> None:
    """The settlement check reads ``recon_paid_out_actions``, which an incremental run only adds
    to: a payout id named between the runs settles its capture, and a capture paid out before
    whose payment changes (so it is in scope again) stays settled without any lookup of its lines."""
    eng, w = world.engine, world
    w.paid_order("o1")
    w.action("act_c1", "pay_o1", "Capture", processed_on=T - 9 * DAY)
    first = w.line("act_c1", "pay_o1", 1000 * 10**6)  # no payout yet
    w.paid_order("o2")
    w.action("act_c2", "pay_o2", "Capture", processed_on=T - 9 * DAY)
    w.line("act_c2", "pay_o2", 1000 * 10**6, payout="po_2")
    w.payout("po_2", 1000)
    reconcile(eng, "r1")
    opened = {k for k, r in exceptions(eng).items() if r["status"] == "open"}
    assert "unsettled_capture:action:act_c1" in opened
    assert _paid_out(eng) == {"act_c2"}

    w.stamp = T + DAY / 2
    w._ins(
        schema.stg_financial_action_payouts,
        processed_on=first["processed_on"],
        line_key=first["line_key"],
        payout_id="po_1",
        source_file_id="file_by_payout",
        **w._book(),
    )
    w.payout("po_1", 1000)
    w.update(schema.stg_payments, schema.stg_payments.c.payment_id == "pay_o2", total_refunded_minor=0)
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    assert _paid_out(eng) == {"act_c1", "act_c2"}
    unsettled = {k for k, r in exceptions(eng).items() if k.startswith("unsettled_capture")}
    assert {k for k in unsettled if exceptions(eng)[k]["status"] == "open"} == set()
    after_incremental = _state(eng)
    assert reconcile(eng, "r3", T + DAY, full=True).mode == "full"
    assert _state(eng) == after_incremental
    assert _paid_out(eng) == {"act_c1", "act_c2"}


def test_a_line_restamped_in_place_leaves_its_payout_out_of_an_incremental_run(world: World) -> None:
    """A line's amount and currency are part of its key, so a line stamped again for another
    column cannot change its payout's sum: the payout stays out of the scope (its tie-out is
    neither recomputed nor touched). A new line in the same payout brings it back in."""
    eng, w = world.engine, world
    line = w.line("act_1", "pay_x", 1000 * 10**6, payout="po_1")
    w.payout("po_1", 1001)  # the lines sum to 10.00 EUR: a mismatch
    reconcile(eng, "r1")
    before = exceptions(eng)["payout_mismatch:payout:po_1"]
    assert before["status"] == "open"

    w.update(
        schema.stg_financial_actions,
        schema.stg_financial_actions.c.line_key == line["line_key"],
        fee_detail="restated",
        updated_at=T + DAY / 2,
    )
    inc = reconcile(eng, "r2", T + DAY)
    assert (inc.mode, inc.scope["payouts"]) == ("incremental", 0)
    assert exceptions(eng)["payout_mismatch:payout:po_1"] == before  # not even last_seen moved

    w.stamp = T + DAY + DAY / 2
    w.line("act_2", "pay_x", 10**6, payout="po_1")  # 0.01 EUR more: now it ties out
    inc = reconcile(eng, "r3", T + 2 * DAY)
    assert (inc.mode, inc.scope["payouts"]) == ("incremental", 1)
    assert exceptions(eng)["payout_mismatch:payout:po_1"]["status"] == "resolved"
    after_incremental = _state(eng)
    assert reconcile(eng, "r4", T + 2 * DAY, full=True).mode == "full"
    assert _state(eng) == after_incremental


def test_a_captured_payment_listing_invoices_joins_its_orders_arriving_later(world: World) -> None:
    """The scope finds a listing payment through the tokens of last run's R3 payments, which a
    payment that matched nothing yet is not among: its open orphan_payment brings it in, so the
    orders arriving after it are matched incrementally (docs: only a payment without money
    captured and without a decline waits for the next full run)."""
    eng, w = world.engine, world
    w.payment("pay_1", 1000, reference="INV-A; INV-B")
    reconcile(eng, "r1")
    opened = {k for k, r in exceptions(eng).items() if r["status"] == "open"}
    assert opened == {"orphan_payment:payment:pay_1"}

    w.stamp = T + DAY / 2
    w.order("oa", 600, invoices=["INV-A"])
    w.order("ob", 400, invoices=["INV-B"])
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    assert matches(eng) == {
        ("oa", "pay_1", "invoice_reference", True, "payment:pay_1"),
        ("ob", "pay_1", "invoice_reference", True, "payment:pay_1"),
    }
    assert {k for k, r in exceptions(eng).items() if r["status"] == "open"} == set()
    after_incremental = _state(eng)
    full = reconcile(eng, "r3", T + DAY, full=True)
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
    assert _state(eng) == after_incremental


def test_money_kept_for_a_cancelled_order_opens_and_closes_incrementally(world: World) -> None:
    """A paid order cancelled later keeps the customer's money: ``unconfirmed_order_paid``,
    expected 0. Incremental runs close it when the refund is requested (the request's own
    exception watches it from then on) or the order is confirmed again, and the partial
    capture explained while the order was confirmed does not hide the later cancellation (a
    finding of its own kind, not a refreshed ``amount_mismatch``)."""
    eng, p, o = world.engine, schema.stg_payments, schema.stg_orders
    world.order("k1", 1000, status="cancelled")
    world.payment("pay_k1", 1000, reference="ORD-k1")
    world.order("k2", 1000, status="cancelled")
    world.payment("pay_k2", 1000, reference="ORD-k2", refunded=300)
    world.order("k3", 1000)
    world.payment("pay_k3", 1000, reference="ORD-k3", captured=900)
    assert reconcile(eng, "r1").mode == "full"
    found = exceptions(eng, status="open")
    assert set(found) == {
        "unconfirmed_order_paid:order:k1",
        "unconfirmed_order_paid:order:k2",
        "amount_mismatch:order:k3",
    }
    k2 = found["unconfirmed_order_paid:order:k2"]
    assert (k2["expected_minor"], k2["actual_minor"]) == (0, 700)
    assert "cancelled, not confirmed" in k2["detail"]
    _explain(eng, "amount_mismatch:order:k3", "ann", "discount agreed")
    world.stamp = T + timedelta(hours=1)
    world.refund_request("rr_k1", "k1", 1000, requested_at=T + timedelta(hours=1))
    world.update(o, o.c.order_id == "k2", status="confirmed")
    world.update(o, o.c.order_id == "k3", status="cancelled")
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    assert set(exceptions(eng, status="open")) == {"unconfirmed_order_paid:order:k3"}
    assert set(exceptions(eng, status="resolved")) == {
        "unconfirmed_order_paid:order:k1",
        "unconfirmed_order_paid:order:k2",
        "amount_mismatch:order:k3",
    }
    assert set(exceptions(eng, status="explained")) == set()
    world.stamp = T + DAY + timedelta(hours=1)
    world.update(p, p.c.payment_id == "pay_k3", total_refunded_minor=900)
    assert reconcile(eng, "r3", T + 2 * DAY).mode == "incremental"
    # k3 refunded: closed; k1's request is past its due time with no refund: its own kind
    assert set(exceptions(eng, status="open")) == {"refund_not_executed:refund_request:rr_k1"}
    full = reconcile(eng, "r4", T + 2 * DAY, full=True)  # the incremental runs ended where it does
    assert (full.mode, full.opened, full.resolved, full.reopened) == ("full", 0, 0, 0)


def test_an_invoice_cancelled_inside_a_paid_transfer_opens_and_closes_incrementally(world: World) -> None:
    """One transfer paid two invoices; one is cancelled later. The incremental run judges the
    whole group again (the cancelled order brings its payment and the other order into the
    scope) and opens ``unconfirmed_order_paid`` for the cancelled invoice's amount; the refund
    of that amount closes it, and a full run afterwards finds what the incremental runs left."""
    eng, p, o = world.engine, schema.stg_payments, schema.stg_orders
    world.order("g1", 600, invoices=["INV-G1"])
    world.order("g2", 400, invoices=["INV-G2"])
    world.payment("pay_g", 1000, reference="INV-G1 INV-G2")
    world.paid_order("h1")
    assert reconcile(eng, "r1").mode == "full"
    assert set(exceptions(eng, status="open")) == set()
    world.stamp = T + timedelta(hours=1)
    world.update(o, o.c.order_id == "g2", status="cancelled")
    inc = reconcile(eng, "r2", T + DAY)
    assert inc.mode == "incremental"
    found = exceptions(eng, status="open")
    assert set(found) == {"unconfirmed_order_paid:order:g2"}
    assert (found["unconfirmed_order_paid:order:g2"]["actual_minor"]) == 400
    (eur,) = inc.totals
    assert (eur["orders"], eur["ordered_minor"], eur["captured_minor"]) == (2, 1600, 2000)
    world.stamp = T + DAY + timedelta(hours=1)
    world.update(p, p.c.payment_id == "pay_g", total_refunded_minor=400)
    assert reconcile(eng, "r3", T + 2 * DAY).mode == "incremental"
    assert set(exceptions(eng, status="open")) == set()
    assert set(exceptions(eng, status="resolved")) == {"unconfirmed_order_paid:order:g2"}
    after_incremental = _state(eng)
    full = reconcile(eng, "r4", T + 2 * DAY, full=True)
    assert (full.mode, full.opened, full.resolved, full.reopened) == ("full", 0, 0, 0)
    assert _state(eng) == after_incremental
