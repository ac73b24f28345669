"""One hand-built fixture per exception kind: the planted case fires, its near miss does not.

Each case plants rows, reconciles at ``T`` and compares the *exact* set of open exception keys,
so a detector that fires too often (on the near miss, or on the clean orders around it) fails
as surely as one that never fires. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from recon_builders import T, World, exceptions, open_keys, reconcile

from checkout_freshportal.reconcile.sqlbits import exception_id
from checkout_freshportal.warehouse.schema.recon import recon_order_facts

Plant = Callable[[World], set[str]]


def missing_payment(w: World) -> set[str]:
    w.order("o1", confirmed_at=T - timedelta(days=4))  # past the 3-day due time, nothing paid
    w.order("o2", confirmed_at=T - timedelta(days=2))  # near miss: not due yet
    w.order("o3", status="draft", confirmed_at=T - timedelta(days=9))  # near miss: not confirmed
    w.order("o4")
    w.payment(
        "pay_o4", reference="ORD-o4", status="Authorized", captured=0, available=1000
    )  # authorised only
    return {"missing_payment:order:o1", "missing_payment:order:o4"}


def amount_mismatch(w: World) -> set[str]:
    w.order("o1", 1000)
    w.payment("pay_1", 1000, reference="ORD-o1", captured=900)
    w.order("o2", 1000)  # near miss: 900 captured, 100 still available to capture
    w.payment("pay_2", 1000, reference="ORD-o2", captured=900, available=100)
    w.paid_order("o3")
    w.order("o4", 1000, status="cancelled")  # near miss: not confirmed, its own kind
    w.payment("pay_4", 1000, reference="ORD-o4", captured=900)
    return {"amount_mismatch:order:o1", "unconfirmed_order_paid:order:o4"}


def unconfirmed_order_paid(w: World) -> set[str]:
    """Money kept for an order that is not confirmed: nothing is due on it (expected 0)."""
    w.order("o1", 1000, status="cancelled")
    w.payment("pay_1", 1000, reference="ORD-o1", refunded=400)
    w.order("o2", 1000, status="draft")
    w.payment("pay_2", 1000, metadata={"order_id": "o2"})  # R2
    w.order("o3", 1000, status="cancelled")  # near miss: refunded in full
    w.payment("pay_3", 1000, reference="ORD-o3", refunded=1000)
    w.order("o4", 1000, status="cancelled")  # near miss: authorised only, nothing captured
    w.payment("pay_4", 1000, reference="ORD-o4", status="Authorized", captured=0, available=1000)
    w.order("o5", 1000, status="credited")  # near miss: a credit settled against other invoices
    w.payment("pay_5", 1000, reference="ORD-o5")
    w.order("o6", 1000, status="cancelled")  # near miss: the refund is requested, not yet made
    w.payment("pay_6", 1000, reference="ORD-o6")
    w.refund_request("rr_6", "o6", 1000, state="requested", requested_at=T - timedelta(hours=1))
    w.order("o7", 1000, status="cancelled")  # near miss: the cardholder won it back (lost dispute)
    w.payment("pay_7", 1000, reference="ORD-o7")
    w.dispute("dsp_7", "pay_7", "lost")
    w.order("o8", 1000, status="cancelled")  # a request waits for 100 of it: 900 nobody asked back
    w.payment("pay_8", 1000, reference="ORD-o8")
    w.refund_request("rr_8", "o8", 100, state="requested", requested_at=T - timedelta(hours=1))
    # One transfer for several invoices (R3), judged as one group: what is kept beyond the
    # invoices that are due (confirmed or credited), at most the others' amounts, on the lowest
    # order that is not due.
    w.order("a1", 400, status="cancelled", invoices=["INV-A1"])
    w.order("a2", 600, invoices=["INV-A2"])
    w.payment("pay_a", 1000, reference="INV-A1; INV-A2")  # 400 kept for the cancelled a1
    w.order("b1", 400, status="cancelled", invoices=["INV-B1"])  # near miss: its refund is requested
    w.order("b2", 600, invoices=["INV-B2"])
    w.payment("pay_b", 1000, reference="INV-B1 INV-B2")
    w.refund_request("rr_b1", "b1", 400, state="requested", requested_at=T - timedelta(hours=1))
    w.order("c1", 500, status="cancelled", invoices=["INV-C1"])  # none of the invoices is due
    w.order("c2", 500, status="draft", invoices=["INV-C2"])
    w.payment("pay_c", 1000, reference="INV-C1,INV-C2")
    w.order("d1", 400, status="credited", invoices=["INV-D1"])  # near miss: a credit stays
    w.order("d2", 600, invoices=["INV-D2"])
    w.payment("pay_d", 1000, reference="INV-D1 INV-D2")
    w.order("e1", 600, invoices=["INV-E1"])  # 200 beyond both invoices: the group's own kind
    w.order("e2", 400, status="cancelled", invoices=["INV-E2"])
    w.payment("pay_e", 1200, reference="INV-E1 INV-E2")
    w.order("f1", 400, status="cancelled", invoices=["INV-F1"])  # near miss: refunded already
    w.order("f2", 600, invoices=["INV-F2"])
    w.payment("pay_f", 1000, reference="INV-F1 INV-F2", refunded=400)
    return {
        "unconfirmed_order_paid:order:o1",
        "unconfirmed_order_paid:order:o2",
        "unconfirmed_order_paid:order:o8",
        "chargeback_lost:dispute:dsp_7",
        "unconfirmed_order_paid:order:a1",
        "unconfirmed_order_paid:order:c1",
        "unconfirmed_order_paid:order:e2",
        "amount_mismatch:order:e1",
    }


def currency_mismatch(w: World) -> set[str]:
    w.order("o1", 1000, "EUR")
    w.payment("pay_1", 1100, "USD", reference="ORD-o1")
    w.order("o2", 1000, "EUR")  # near miss: the other-currency attempt was declined
    w.payment("pay_2a", 1100, "USD", reference="ORD-o2", status="Declined", captured=0)
    w.payment("pay_2b", 1000, "EUR", reference="ORD-o2")
    return {"currency_mismatch:order:o1:payment:pay_1"}


def orphan_payment(w: World) -> set[str]:
    w.payment("pay_1", reference="nothing-like-an-order")
    w.payment("pay_2", reference="nothing", captured=0, status="Authorized", available=1000)  # near miss
    w.paid_order("o3")
    return {"orphan_payment:payment:pay_1"}


def duplicate_payment(w: World) -> set[str]:
    w.order("o1", 1000)
    w.payment("pay_1a", 1000, reference="ORD-o1")
    w.payment("pay_1b", 1000, reference="ORD-o1")
    w.order("o2", 1000)  # near miss: the duplicate was refunded
    w.payment("pay_2a", 1000, reference="ORD-o2")
    w.payment("pay_2b", 1000, reference="ORD-o2", refunded=1000)
    w.order("o3", 1000)  # near miss: a split payment (2 x 500)
    w.payment("pay_3a", 500, reference="ORD-o3")
    w.payment("pay_3b", 500, reference="ORD-o3")
    return {"duplicate_payment:order:o1"}


def over_refund(w: World) -> set[str]:
    w.order("o1", 1000)
    w.payment("pay_1a", 1000, reference="ORD-o1", refunded=1000)
    w.payment("pay_1b", 1000, reference="ORD-o1", refunded=1000)  # both refunded: paid nothing
    w.order("o2", 1000)  # near miss: fully refunded once
    w.payment("pay_2", 1000, reference="ORD-o2", refunded=1000)
    return {"over_refund:order:o1"}


def refund_not_executed(w: World) -> set[str]:
    w.paid_order("o1")
    w.refund_request("rr1", "o1", requested_at=T - timedelta(days=2))
    w.refund_request("rr2", "o1", requested_at=T - timedelta(hours=5))  # near miss: not due yet
    w.refund_request("rr3", "o1", requested_at=T - timedelta(days=2), state="processing")
    w.intent("mi3", "refund_request:rr3", "o1", state="succeeded", action_id="act_r3")  # near miss: done
    w.action("act_r3", "pay_o1", "Refund", 500)
    w.refund_request("rr4", "o1", requested_at=T - timedelta(days=2), state="rejected")  # near miss
    return {"refund_not_executed:refund_request:rr1"}


def refund_not_requested(w: World) -> set[str]:
    w.paid_order("o1")
    w.action("act_r1", "pay_o1", "Refund", 300)  # refunded in the dashboard
    w.action("act_r2", "pay_o1", "Refund", 200)  # near miss: our intent made it
    w.intent("mi2", "refund_request:rr2", "o1", state="succeeded", action_id="act_r2")
    w.action("act_r3", "pay_o1", "Refund", 100)  # near miss: FreshPortal's request has it as outcome
    w.refund_request("rr3", "o1", 100, state="succeeded", outcome_refund_id="act_r3")
    w.action("act_r4", "pay_o1", "Refund", 100, approved=False)  # near miss: declined refund
    return {"refund_not_requested:action:act_r1"}


def status_drift(w: World) -> set[str]:
    w.paid_order("o1", payment_status="pending")
    w.payment_status("pay_o1", "o1", "paid", at=T - timedelta(hours=3))
    w.paid_order("o2", payment_status="pending")  # near miss: inside the 2-hour grace
    w.payment_status("pay_o2", "o2", "paid", at=T - timedelta(hours=1))
    w.paid_order("o3", payment_status="paid")  # near miss: the same
    w.payment_status("pay_o3", "o3", "paid", at=T - timedelta(hours=5))
    return {"status_drift:order:o1"}


def unsettled_capture(w: World) -> set[str]:
    w.paid_order("o1")
    w.action("act_c1", "pay_o1", "Capture", processed_on=T - timedelta(days=8))
    w.line("act_c1", "pay_o1", 1000 * 10**6)  # a line, but in no payout
    w.paid_order("o2")  # near miss: paid out
    w.action("act_c2", "pay_o2", "Capture", processed_on=T - timedelta(days=8))
    w.line("act_c2", "pay_o2", 1000 * 10**6, payout="po_2")
    w.payout("po_2", 1000)
    w.paid_order("o3")  # near miss: inside the 7-day window
    w.action("act_c3", "pay_o3", "Capture", processed_on=T - timedelta(days=6))
    return {"unsettled_capture:action:act_c1"}


def payout_mismatch(w: World) -> set[str]:
    w.payout("po_1", 1001)  # lines sum to 10.00 EUR
    w.line("act_1", "pay_x", 1000 * 10**6, payout="po_1")
    w.payout("po_2", 999)  # near miss: 9.985 + 0.0049 = 9.9899 -> 9.99 EUR
    w.line("act_2", "pay_y", 998_500_000, payout="po_2")
    w.line("act_2", "pay_y", 490_000, breakdown="Scheme Fixed Fee", payout="po_2")
    w.payout("po_3", 0)  # no line at all
    w.payout("po_4", 1000)  # a line in another currency
    w.line("act_4", "pay_z", 1000 * 10**6, payout="po_4")
    w.line("act_4b", "pay_z", 5 * 10**8, "USD", payout="po_4")
    return {"payout_mismatch:payout:po_1", "payout_mismatch:payout:po_3", "payout_mismatch:payout:po_4"}


def chargeback_open(w: World) -> set[str]:
    w.paid_order("o1")
    w.dispute("dsp_1", "pay_o1", "evidence_required")
    w.paid_order("o2")
    w.dispute("dsp_2", "pay_o2", "won")  # near miss
    return {"chargeback_open:dispute:dsp_1"}


def chargeback_lost(w: World) -> set[str]:
    w.paid_order("o1")
    w.dispute("dsp_1", "pay_o1", "lost")
    w.paid_order("o2")
    w.dispute("dsp_2", "pay_o2", "canceled")  # near miss
    return {"chargeback_lost:dispute:dsp_1"}


def payment_failed(w: World) -> set[str]:
    w.order("o1")  # declined, then paid: the decline is history, no exception
    w.payment("pay_1a", reference="ORD-o1", status="Declined", captured=0)
    w.payment("pay_1b", reference="ORD-o1")
    w.payment("pay_2", reference="no-order", status="Declined", captured=0)  # declined, unmatched
    w.order("o3", confirmed_at=T - timedelta(days=1))  # declined and nothing else yet
    w.payment("pay_3", reference="ORD-o3", status="Declined", captured=0)
    return {"payment_failed:payment:pay_2", "payment_failed:payment:pay_3"}


CASES: dict[str, Plant] = {
    f.__name__: f
    for f in (
        missing_payment,
        amount_mismatch,
        unconfirmed_order_paid,
        currency_mismatch,
        orphan_payment,
        duplicate_payment,
        over_refund,
        refund_not_executed,
        refund_not_requested,
        status_drift,
        unsettled_capture,
        payout_mismatch,
        chargeback_open,
        chargeback_lost,
        payment_failed,
    )
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_fires_and_its_near_miss_does_not(world: World, kind: str) -> None:
    expected = CASES[kind](world)
    result = reconcile(world.engine, "r1")
    assert open_keys(world.engine) == expected
    assert result.exceptions.get(kind, {}).get("open", 0) >= 1
    for row in exceptions(world.engine).values():
        assert row["exception_id"] == exception_id(row["exception_key"])
        assert (row["first_seen_at"], row["last_seen_at"], row["state_version"]) == (T, T, 1)


def test_money_kept_for_invoices_not_due_in_one_transfer_is_measured_per_group(world: World) -> None:
    """The figures of the R3 cases above: kept = the group's net less what its due invoices
    claim, at most the amounts of those not due when an invoice is due (the rest is the group's
    ``amount_mismatch``), all of it when none is due."""
    unconfirmed_order_paid(world)
    reconcile(world.engine, "r1")
    rows = exceptions(world.engine)
    figures = {
        k.split(":")[-1]: (r["expected_minor"], r["actual_minor"])
        for k, r in rows.items()
        if k.startswith(("unconfirmed_order_paid:order:", "amount_mismatch:order:"))
    }
    assert {k: v for k, v in figures.items() if k[0] in "ace"} == {
        "a1": (0, 400),
        "c1": (0, 1000),
        "e1": (1000, 1200),
        "e2": (0, 400),
    }
    assert rows["unconfirmed_order_paid:order:a1"]["detail"].endswith(
        "; one payment for 2 orders, 1 of them with nothing due"
    )
    assert "draft" not in rows["unconfirmed_order_paid:order:c1"]["detail"]  # named: the lowest, c1
    assert "2 of them with nothing due" in rows["unconfirmed_order_paid:order:c1"]["detail"]


def test_a_transfer_for_due_and_cancelled_invoices_is_judged_between_what_is_due_and_every_invoice(
    world: World,
) -> None:
    """Between the due invoices' amount and every invoice's, the money is kept for those nothing
    is due on, not a short or an excess of the group; a lost chargeback counts beside the money
    it takes back; a due invoice in another currency caps what is kept for the others."""
    w = world
    w.order("p1", 400, status="cancelled", invoices=["INV-P1"])  # 800 for 600 due: 200 kept
    w.order("p2", 600, invoices=["INV-P2"])
    w.payment("pay_p", 800, reference="INV-P1 INV-P2")
    w.order("q1", 400, status="cancelled", invoices=["INV-Q1"])  # exactly what is due: clean
    w.order("q2", 600, invoices=["INV-Q2"])
    w.payment("pay_q", 600, reference="INV-Q1 INV-Q2")
    w.order("r1", 400, status="cancelled", invoices=["INV-R1"])  # short of what is due
    w.order("r2", 600, invoices=["INV-R2"])
    w.payment("pay_r", 500, reference="INV-R1 INV-R2")
    w.order("s1", 400, status="cancelled", invoices=["INV-S1"])  # all of it lost in a chargeback
    w.order("s2", 600, invoices=["INV-S2"])
    w.payment("pay_s", 1000, reference="INV-S1 INV-S2")
    w.dispute("dsp_s", "pay_s", "lost", amount=1000)
    w.order("t0", 600, "GBP", invoices=["INV-T0"])  # a due invoice in another currency
    w.order("t1", 400, status="cancelled", invoices=["INV-T1"])
    w.payment("pay_t", 1000, reference="INV-T0 INV-T1")
    w.order("u0", 600, "GBP", invoices=["INV-U0"])  # its chargeback named on the GBP order
    w.order("u1", 400, status="cancelled", invoices=["INV-U1"])
    w.payment("pay_u", 400, reference="INV-U0 INV-U1")
    w.dispute("dsp_u", "pay_u", "lost", amount=400)
    result = reconcile(w.engine, "r1")
    rows = exceptions(w.engine, status="open")
    assert {k: (r["expected_minor"], r["actual_minor"]) for k, r in rows.items()} == {
        "unconfirmed_order_paid:order:p1": (0, 200),
        "amount_mismatch:order:r2": (600, 500),
        "chargeback_lost:dispute:dsp_s": (0, 1000),
        "unconfirmed_order_paid:order:t1": (0, 400),
        "currency_mismatch:order:t0:payment:pay_t": (600, None),  # the detail names the payment
        "currency_mismatch:order:u0:payment:pay_u": (600, None),
        "chargeback_lost:dispute:dsp_u": (0, 400),
    }
    facts = recon_order_facts
    with w.engine.connect() as conn:
        got = {
            r.order_id: (r.matched, r.captured_minor, r.chargeback_minor)
            for r in conn.execute(sa.select(facts))
        }
    assert got["q2"] == (True, 600, 0)
    assert got["p2"] == (True, 800, 0)
    assert got["s2"] == (True, 1000, 1000)  # the chargeback beside the money it takes back
    eur = next(t for t in result.totals if t["currency"] == "EUR")
    assert eur["chargeback_minor"] == 1000


def test_a_chargeback_on_a_transfer_counts_on_the_order_its_money_counts_on(world: World) -> None:
    """The order naming a payment of several invoices is its group's first order (the lowest
    confirmed one in the group's currency), also when another payment of the group lists it, or
    a confirmed order in another currency is listed too: the chargeback stays in the facts and
    totals beside the money it takes back."""
    w = world
    w.order("a1", 400, status="cancelled", invoices=["INV-A1"])
    w.order("a2", 600, invoices=["INV-A2"])
    w.payment("pay_a1", 400, reference="INV-A1")  # joined with pay_a2 through a1
    w.payment("pay_a2", 600, reference="INV-A1 INV-A2")
    w.dispute("dsp_a", "pay_a1", "lost", amount=400)
    w.order("n1", 400, status="cancelled", invoices=["INV-N1"])
    w.order("n2", 500, "GBP", invoices=["INV-N2"])
    w.order("n3", 600, invoices=["INV-N3"])
    w.payment("pay_n", 1000, reference="INV-N1 INV-N2 INV-N3")
    w.dispute("dsp_n", "pay_n", "lost", amount=1000)
    w.order("y1", 400, status="cancelled", invoices=["INV-Y1"])  # every invoice cancelled
    w.order("y2", 600, status="cancelled", invoices=["INV-Y2"])
    w.payment("pay_y", 1000, reference="INV-Y1 INV-Y2", status="Declined", captured=0)
    result = reconcile(w.engine, "r1")
    rows = exceptions(w.engine, status="open")
    named = {k: rows[f"chargeback_lost:dispute:{k}"]["order_id"] for k in ("dsp_a", "dsp_n")}
    assert named == {"dsp_a": "a2", "dsp_n": "n3"}
    assert "payment_failed:payment:pay_y" in rows  # declined on a group short of its invoices, as for R1
    with w.engine.connect() as conn:
        got = {
            r.order_id: (r.captured_minor, r.chargeback_minor)
            for r in conn.execute(sa.select(recon_order_facts))
        }
    assert (got["a2"], got["n3"]) == ((1000, 400), (1000, 1000))
    eur = next(t for t in result.totals if t["currency"] == "EUR")
    assert (eur["captured_minor"], eur["chargeback_minor"]) == (2000, 1400)
