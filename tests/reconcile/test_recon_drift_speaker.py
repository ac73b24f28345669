"""Which payment speaks for an order in ``status_drift`` (docs/reconciliation.md, status drift).

The detector only looks at the orders that can drift (a derived-status row disagreeing with
FreshPortal, or a status-outbox row); these cases pin that the narrowing changes nothing: the
newest derived row speaks when there is no outbox row, the newest outbox row's payment speaks
when there is one, even when that payment's derived row belongs to another order.
"""

from __future__ import annotations

from datetime import timedelta

from recon_builders import T, World, exceptions, open_keys, reconcile


def test_the_newest_derived_row_speaks_when_there_is_no_outbox_row(world: World) -> None:
    world.paid_order("o1", payment_status="pending")  # older row differs, newest agrees
    world.payment_status("pay_o1a", "o1", "paid", at=T - timedelta(hours=5))
    world.payment_status("pay_o1b", "o1", "pending", at=T - timedelta(hours=3))
    world.paid_order("o2", payment_status="pending")  # older row agrees, newest differs
    world.payment_status("pay_o2a", "o2", "pending", at=T - timedelta(hours=5))
    world.payment_status("pay_o2b", "o2", "paid", at=T - timedelta(hours=3))
    reconcile(world.engine, "r1")
    assert {k for k in open_keys(world.engine) if k.startswith("status_drift")} == {"status_drift:order:o2"}
    assert exceptions(world.engine)["status_drift:order:o2"]["payment_id"] == "pay_o2b"


def test_the_newest_outbox_rows_payment_speaks_even_for_another_orders_row(world: World) -> None:
    # o3's own derived row agrees with FreshPortal; its newest outbox row names pay_x, whose
    # derived row (of order o4, where it agrees) says "refunded": o3 drifts, through pay_x.
    world.paid_order("o3", payment_status="paid")
    world.payment_status("pay_o3", "o3", "paid", at=T - timedelta(hours=5))
    world.paid_order("o4", payment_status="refunded")
    world.payment_status("pay_x", "o4", "refunded", at=T - timedelta(hours=5))
    world.status_outbox("o3", "pay_o3", 1, "paid")
    world.status_outbox("o3", "pay_x", 2, "refunded")
    # o5: its newest outbox row names its own agreeing payment, an older one a differing one
    world.paid_order("o5", payment_status="paid")
    world.payment_status("pay_o5", "o5", "paid", at=T - timedelta(hours=5))
    world.status_outbox("o5", "pay_x", 1, "refunded")
    world.status_outbox("o5", "pay_o5", 2, "paid")
    reconcile(world.engine, "r1")
    drift = {k for k in open_keys(world.engine) if k.startswith("status_drift")}
    assert drift == {"status_drift:order:o3"}
    assert exceptions(world.engine)["status_drift:order:o3"]["payment_id"] == "pay_x"
