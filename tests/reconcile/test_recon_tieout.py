"""Money ties out per currency to the minor unit: JPY (0 decimals), EUR (2), KWD (3); payouts
are compared in exact integers after rounding half-even at the currency's exponent."""

from __future__ import annotations

from recon_builders import World, open_keys, reconcile

E8 = 10**8


def test_totals_and_payouts_per_currency_to_the_minor_unit(world: World) -> None:
    # JPY: 0 decimals. 1500 yen ordered and captured; a payout of lines 1500 - 12.5 fee = 1487.5
    # -> half-even 1488 (8 is even); a payout claiming 1487 would be half-up's neighbour: mismatch.
    world.paid_order("j1", 1500, "JPY")
    world.line("act_j1", "pay_j1", 1500 * E8, "JPY", payout="po_jpy")
    world.line("act_j1", "pay_j1", -125 * E8 // 10, "JPY", breakdown="Gateway Fee", payout="po_jpy")
    world.payout("po_jpy", 1488, "JPY")
    world.line("act_j2", "pay_j1", 1025 * E8 // 10, "JPY", payout="po_jpy2")  # 102.5 -> 102 (even)
    world.payout("po_jpy2", 103, "JPY")  # half-up would say 103: a mismatch
    # EUR: 2 decimals. 9.985 -> 9.98 (half-even), payout 998 ties out.
    world.paid_order("e1", 998, "EUR")
    world.line("act_e1", "pay_e1", 9985 * E8 // 1000, "EUR", payout="po_eur")
    world.payout("po_eur", 998, "EUR")
    # Checkout.com's payout fee is deducted with no line of its own (Payouts report, negative)
    world.line("act_e2", "pay_e1", 10 * E8, "EUR", payout="po_eur_fee")
    world.payout("po_eur_fee", 900, "EUR", fee_e8=-1 * E8)
    # KWD: 3 decimals. 1.2345 -> 1.234; 0.0015 -> 0.002; a minimum billing fee (no payment) too.
    world.paid_order("k1", 1234, "KWD")
    world.line("act_k1", "pay_k1", 12345 * E8 // 10000, "KWD", payout="po_kwd")
    world.payout("po_kwd", 1234, "KWD")
    world.line(
        "act_k2",
        None,
        15 * E8 // 10000,
        "KWD",
        kind="Adjustment",
        breakdown="Minimum Billing Fee",
        payout="po_kwd2",
    )
    world.payout("po_kwd2", 2, "KWD")
    world.paid_order("k2", 1001, "KWD")
    world.order("k3", 2000, "KWD")  # unpaid, past due
    result = reconcile(world.engine, "r1")
    assert open_keys(world.engine) == {"payout_mismatch:payout:po_jpy2", "missing_payment:order:k3"}
    totals = {t["currency"]: t for t in result.totals}
    assert set(totals) == {"EUR", "JPY", "KWD"}
    assert (
        totals["JPY"]["ordered_minor"],
        totals["JPY"]["captured_minor"],
        totals["JPY"]["matched_minor"],
    ) == (
        1500,
        1500,
        1500,
    )
    assert (totals["EUR"]["ordered_minor"], totals["EUR"]["captured_minor"]) == (998, 998)
    kwd = totals["KWD"]
    assert (kwd["orders"], kwd["orders_matched"], kwd["ordered_minor"], kwd["matched_minor"]) == (
        3,
        2,
        4235,
        2235,
    )
    assert (kwd["captured_minor"], kwd["open_exceptions"]) == (2235, 1)
    assert totals["JPY"]["open_exceptions"] == 1
