"""Money kept in another currency than any order it is matched to, when no such order is due:
``unconfirmed_order_paid:order:<id>:currency:<ccy>`` (a USD payment kept for a cancelled EUR
order was in no exception before engine version 6). Judged per set of such payments in one
currency and their orders (connected through shared orders or payments): each payment, lost
chargeback and refund request counted once, raised once, on the set's lowest order.
SQLite and PostgreSQL; exact sets of open keys, so a rule firing too often fails too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from recon_builders import T, World, exceptions, open_keys, reconcile

from checkout_freshportal.warehouse import schema

HOUR = timedelta(hours=1)


def _open(w: World) -> dict[str, tuple[object, object, str]]:
    return {
        k: (r["expected_minor"], r["actual_minor"], r["detail"])
        for k, r in exceptions(w.engine, status="open").items()
    }


def test_money_kept_for_a_cancelled_order_in_another_currency_and_its_near_misses(world: World) -> None:
    w = world
    w.order("o1", 1000, "EUR", status="cancelled")
    w.payment("pay_1", 1100, "USD", reference="ORD-o1", refunded=100)
    w.order("o2", 1000, "EUR", status="draft")  # near miss: refunded in full (R2)
    w.payment("pay_2", 1100, "USD", metadata={"order_id": "o2"}, refunded=1100)
    w.order("o3", 1000, "EUR", status="cancelled")  # near miss: a USD refund request waits for it
    w.payment("pay_3", 1100, "USD", reference="ORD-o3")
    w.refund_request("rr_3", "o3", 1100, "USD", state="requested", requested_at=T - HOUR)
    w.order("o4", 1000, "EUR", status="cancelled")  # a request in EUR does not give USD back
    w.payment("pay_4", 1100, "USD", reference="ORD-o4")
    w.refund_request("rr_4", "o4", 1100, "EUR", state="requested", requested_at=T - HOUR)
    w.order("o5", 1000, "EUR", status="cancelled")  # near miss: the cardholder won it back
    w.payment("pay_5", 1100, "USD", reference="ORD-o5")
    w.dispute("dsp_5", "pay_5", "lost", 1100, "USD")
    w.order("o6", 1000, "EUR", status="credited")  # near miss: a credit, the money rightly stays
    w.payment("pay_6", 1100, "USD", reference="ORD-o6")
    w.order("o7", 1000, "EUR", status="cancelled")  # near miss: a declined attempt kept nothing
    w.payment("pay_7", 1100, "USD", reference="ORD-o7", status="Declined", captured=0)
    reconcile(w.engine, "r1")
    got = _open(w)
    assert set(got) == {
        "unconfirmed_order_paid:order:o1:currency:USD",
        "unconfirmed_order_paid:order:o4:currency:USD",
        "chargeback_lost:dispute:dsp_5",
        "payment_failed:payment:pay_7",
    }
    assert got["unconfirmed_order_paid:order:o1:currency:USD"] == (
        0,
        1000,
        "Order is cancelled, not confirmed, and keeps money paid in USD, another currency than its "
        "own (EUR; captured net of refunds and lost chargebacks)",
    )
    row = exceptions(w.engine)["unconfirmed_order_paid:order:o1:currency:USD"]
    assert (row["currency"], row["payment_id"], row["order_number"]) == ("USD", "pay_1", "ORD-o1")


def test_each_payment_and_each_refund_request_counts_once(world: World) -> None:
    """Two USD payments for one cancelled EUR order and one request for one of them: the other
    is still kept. A transfer for two cancelled EUR invoices is one problem, on the lowest, and a
    request on either invoice counts against it. Two orders sharing a number place no payment by
    it (engine 8): that payment is an orphan, one exception, not money kept by either order."""
    w = world
    w.order("o1", 1000, "EUR", status="cancelled")
    w.payment("pa", 1100, "USD", reference="ORD-o1")
    w.payment("pb", 1100, "USD", reference="ORD-o1")
    w.refund_request("rr_1", "o1", 1100, "USD", state="requested", requested_at=T - HOUR)
    w.order("a", 600, "EUR", status="cancelled", invoices=["INV-A"])
    w.order("b", 500, "EUR", status="cancelled", invoices=["INV-B"])
    w.payment("pt", 1100, "USD", reference="INV-A INV-B")
    w.order("c", 600, "EUR", status="cancelled", invoices=["INV-C"])  # near miss: covered
    w.order("d", 500, "EUR", status="cancelled", invoices=["INV-D"])
    w.payment("pu", 1100, "USD", reference="INV-C INV-D")
    w.refund_request("rr_d", "d", 1100, "USD", state="processing", requested_at=T - HOUR)
    w.order("n1", 1000, "EUR", status="cancelled", number="N-1")
    w.order("n2", 1000, "EUR", status="draft", number="N-1")
    w.payment("pn", 1100, "USD", reference="N-1")
    reconcile(w.engine, "r1")
    got = _open(w)
    assert {k: v[:2] for k, v in got.items()} == {
        "unconfirmed_order_paid:order:o1:currency:USD": (0, 2200),
        "unconfirmed_order_paid:order:a:currency:USD": (0, 1100),
        "orphan_payment:payment:pn": (None, 1100),
    }
    assert got["unconfirmed_order_paid:order:o1:currency:USD"][2].endswith(
        "; 2 payments; refund requests waiting for 1100 of it"
    )
    assert got["unconfirmed_order_paid:order:a:currency:USD"][2].endswith("; one payment for 2 orders")


def test_money_that_counts_on_an_order_is_left_to_that_orders_kinds(world: World) -> None:
    """A payment matched to a confirmed order in another currency is that pair's
    ``currency_mismatch``; one matched to an order in its own currency is judged in that group
    (here: kept for a cancelled USD invoice)."""
    w = world
    w.order("g1", 1000, "GBP", invoices=["INV-G1"])
    w.order("e1", 1000, "EUR", status="cancelled", invoices=["INV-E1"])
    w.payment("pg", 1100, "USD", reference="INV-G1 INV-E1")
    w.order("u1", 500, "USD", status="cancelled", invoices=["INV-U1"])
    w.order("e2", 1000, "EUR", status="cancelled", invoices=["INV-E2"])
    w.payment("pu", 500, "USD", reference="INV-U1 INV-E2")
    reconcile(w.engine, "r1")
    assert open_keys(w.engine) == {
        "currency_mismatch:order:g1:payment:pg",
        "unconfirmed_order_paid:order:u1",
    }


def _refund(w: World) -> None:
    p = schema.stg_payments
    w.update(p, p.c.payment_id == "pa", total_refunded_minor=1100)


def _lose_dispute(w: World) -> None:
    d = schema.stg_disputes
    w.update(d, d.c.dispute_id == "dsp_a", status="lost")


def _request(w: World) -> None:
    w.refund_request("rr_new", "o1", 2200, "USD", state="requested", requested_at=T + HOUR)


def _other_order_cancelled(w: World) -> None:
    o = schema.stg_orders
    w.update(o, o.c.order_id == "e2", status="cancelled")


def _own_currency_invoice_arrives(w: World) -> None:
    w.order("x2", 1100, "USD", invoices=["INV-X2"])


def _order_arrives_for_an_orphan(w: World) -> None:
    w.order("late", 1000, "EUR", status="cancelled", number="ORD-late")


def _confirmed_again(w: World) -> None:
    o = schema.stg_orders
    w.update(o, o.c.order_id == "o1", status="confirmed")


@pytest.mark.parametrize(
    "change",
    [
        _refund,
        _lose_dispute,
        _request,
        _other_order_cancelled,
        _own_currency_invoice_arrives,
        _order_arrives_for_an_orphan,
        _confirmed_again,
    ],
)
def test_an_incremental_run_after_a_change_equals_a_full_run(
    world: World, change: Callable[[World], None]
) -> None:
    w = world
    w.order("o1", 1000, "EUR", status="cancelled")
    w.payment("pa", 1100, "USD", reference="ORD-o1")
    w.payment("pb", 1100, "USD", reference="ORD-o1")
    w.dispute("dsp_a", "pa", "evidence_required", 1100, "USD")
    w.order("e1", 1000, "EUR", status="cancelled", invoices=["INV-E1"])
    w.order("e2", 1000, "EUR", invoices=["INV-E2"])
    w.payment("pe", 1100, "USD", reference="INV-E1 INV-E2")
    w.order("x1", 1000, "EUR", status="cancelled", invoices=["INV-X1"])
    w.payment("px", 1100, "USD", reference="INV-X1 INV-X2")
    w.payment("p_orphan", 1100, "USD", reference="ORD-late")
    w.paid_order("clean")
    reconcile(w.engine, "r1")
    before = {k: (r["status"], r["actual_minor"]) for k, r in exceptions(w.engine).items()}
    w.stamp = T + 2 * HOUR
    change(w)
    later = T + 3 * HOUR
    inc = reconcile(w.engine, "r2", later)
    assert inc.mode == "incremental"
    after_incremental = {k: (r["status"], r["actual_minor"]) for k, r in exceptions(w.engine).items()}
    full = reconcile(w.engine, "r3", later, full=True)
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
    assert {k: (r["status"], r["actual_minor"]) for k, r in exceptions(w.engine).items()} == after_incremental
    assert after_incremental != before  # each change changes an exception


def test_an_explanation_of_the_confirmed_pair_does_not_hide_the_money_after_a_cancel(world: World) -> None:
    """Two problems, two keys: the confirmed pair's ``currency_mismatch`` (explained: an FX
    difference booked) resolves when the order is cancelled, and the money kept opens of its own."""
    w = world
    w.order("o1", 1000, "EUR")
    w.payment("p1", 1100, "USD", reference="ORD-o1")
    reconcile(w.engine, "r1")
    e, mismatch = schema.recon_exceptions, "currency_mismatch:order:o1:payment:p1"
    with w.engine.begin() as conn:
        conn.execute(
            e.update()
            .where(e.c.exception_key == mismatch)
            .values(status="explained", explained_at=T, explained_by="ann", explanation="FX booked")
        )
    w.stamp = T + 2 * HOUR
    o = schema.stg_orders
    w.update(o, o.c.order_id == "o1", status="cancelled")
    inc = reconcile(w.engine, "r2", T + 3 * HOUR)
    assert (inc.mode, inc.opened, inc.resolved) == ("incremental", 1, 1)
    rows = exceptions(w.engine)
    assert rows[mismatch]["status"] == "resolved"
    assert rows["unconfirmed_order_paid:order:o1:currency:USD"]["status"] == "open"


def test_a_chargeback_counts_once_and_the_exception_names_a_payment_that_keeps_money(world: World) -> None:
    """``pb`` (USD) lists only the EUR invoice A, so its lost chargeback is its own set's and not
    the USD group of ``pa``, which keeps 1000 for the cancelled USD invoice B: subtracted there
    too, it hid that money. A declined attempt keeps nothing: it is neither named nor counted."""
    w = world
    w.order("A", 1000, "EUR", status="cancelled", invoices=["INV-A"])
    w.order("B", 1000, "USD", status="cancelled", invoices=["INV-B"])
    w.payment("pa", 1000, "USD", reference="INV-A INV-B")
    w.payment("pb", 1100, "USD", reference="INV-A")
    w.dispute("d_b", "pb", "lost", 1100, "USD")
    w.order("C", 1000, "EUR", status="cancelled")
    w.payment("pc1", 1100, "USD", reference="ORD-C", status="Declined", captured=0)
    w.payment("pc2", 1100, "USD", reference="ORD-C")
    reconcile(w.engine, "r1")
    assert {k: v[:2] for k, v in _open(w).items()} == {
        "unconfirmed_order_paid:order:B": (0, 1000),
        "chargeback_lost:dispute:d_b": (0, 1100),
        "unconfirmed_order_paid:order:C:currency:USD": (0, 1100),
        "payment_failed:payment:pc1": (1100, 0),
    }
    row = exceptions(w.engine)["unconfirmed_order_paid:order:C:currency:USD"]
    assert row["payment_id"] == "pc2"
    assert row["detail"].endswith("lost chargebacks)")  # one payment keeps money, not "2 payments"
