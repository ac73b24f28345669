"""Defects a review of the engine found, each pinned by the case that showed it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from recon_builders import T, World, exceptions, open_keys, reconcile

from checkout_freshportal.warehouse import schema


def test_a_status_drift_counts_under_its_orders_currency(world: World) -> None:
    """It had no currency and was counted under a made-up "XXX" row of the run totals."""
    world.paid_order("o1", 5000, "JPY", payment_status="pending")
    world.payment_status("pay_o1", "o1", "paid", at=T - timedelta(hours=3))
    reconcile(world.engine, "r1")
    assert exceptions(world.engine)["status_drift:order:o1"]["currency"] == "JPY"
    with world.engine.connect() as conn:
        t = schema.recon_run_totals
        rows = conn.execute(sa.select(t.c.currency, t.c.open_exceptions)).all()
    assert rows == [("JPY", 1)]


def test_a_large_payout_ties_out_exactly_on_both_engines(world: World) -> None:
    """Σ e8 = 90,071,994.50000001 JPY rounds half-even to 90,071,995. On SQLite the sum went
    through a float (a Numeric scratch column) and came back as ...994.5, then 90,071,994."""
    top_up = {"kind": "Top Up", "breakdown": "Top Up"}
    world.line("act_1", None, 9_007_199_450_000_000, "JPY", payout="po1", **top_up)
    world.line("act_2", None, 1, "JPY", payout="po1", **top_up)
    world.payout("po1", 90_071_995, "JPY")
    reconcile(world.engine, "r1")
    assert "payout_mismatch:payout:po1" not in open_keys(world.engine)
    world.payout("po2", 90_071_994, "JPY")  # near miss: one yen short is found
    world.line("act_3", None, 9_007_199_450_000_001, "JPY", payout="po2", **top_up)
    reconcile(world.engine, "r2", T + timedelta(minutes=1), full=True)
    assert open_keys(world.engine) == {"payout_mismatch:payout:po2"}


def test_one_payment_for_invoices_in_two_currencies_adds_no_gbp_to_eur(world: World) -> None:
    """A EUR payment listing an EUR and a GBP invoice: the GBP order's 500 was added to the EUR
    one's 1000, so 1500 EUR captured looked exactly right."""
    world.order("oa", 1000, "EUR", invoices=["INV-A"])
    world.order("ob", 500, "GBP", invoices=["INV-B"])
    world.payment("p1", 1500, "EUR", reference="INV-A INV-B")
    reconcile(world.engine, "r1")
    found = open_keys(world.engine)
    assert "currency_mismatch:order:ob:payment:p1" in found
    assert "amount_mismatch:order:oa" in found
    mismatch = exceptions(world.engine)["amount_mismatch:order:oa"]
    assert (mismatch["currency"], mismatch["expected_minor"], mismatch["actual_minor"]) == ("EUR", 1000, 1500)
    with world.engine.connect() as conn:
        t = schema.recon_run_totals
        eur = conn.execute(sa.select(t).where(t.c.currency == "EUR")).mappings().one()
    assert (eur["ordered_minor"], eur["orders_matched"]) == (1000, 0)


def test_a_chargeback_in_another_currency_is_not_counted_as_the_orders(world: World) -> None:
    world.order("o1", 1000, "EUR")
    world.payment("p1", 900, "GBP", reference="ORD-o1")
    world.dispute("dsp_1", "p1", "lost", 900, "GBP")
    reconcile(world.engine, "r1")
    with world.engine.connect() as conn:
        t = schema.recon_run_totals
        eur = conn.execute(sa.select(t).where(t.c.currency == "EUR")).mappings().one()
    assert eur["chargeback_minor"] == 0


def test_an_invoice_order_arriving_after_its_listing_payment_joins_it_incrementally(world: World) -> None:
    """Payment "INV-A INV-B" matched to A; B arrives later. The incremental run did not pull the
    payment into its scope (it compared the whole reference with B's invoice), opened a false
    missing_payment for B (and a FreshPortal note), and a full run resolved it again."""
    day = timedelta(days=1)
    world.order("oa", 600, invoices=["INV-A"], confirmed_at=T - 10 * day)
    world.payment("p1", 1000, reference="INV-A, INV-B")
    reconcile(world.engine, "r1", T)
    assert open_keys(world.engine) == {"amount_mismatch:order:oa"}
    world.stamp = T + day / 2
    world.order("ob", 400, invoices=["INV-B"], confirmed_at=T - 10 * day)
    inc = reconcile(world.engine, "r2", T + day)
    assert inc.mode == "incremental"
    assert open_keys(world.engine) == set()
    full = reconcile(world.engine, "r3", T + day, full=True)
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
