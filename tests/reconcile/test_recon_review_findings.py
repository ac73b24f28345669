"""Findings of the issue-9 review, each pinned by the case that showed it."""

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
