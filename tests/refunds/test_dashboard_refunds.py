"""A refund made in the Checkout.com dashboard, not in FreshPortal, still reaches the order.

Its webhook goes the way of every webhook (stored, applied by the status machine, pushed through
the versioned outbox), the refunded amount is staged on the payment's status row, and no refund
intent exists for it: that absence is what reconciliation reports as ``refund_not_requested``.
"""

from __future__ import annotations

import sqlalchemy as sa
from refunds_fixtures import RefundWorld

from checkout_freshportal.sync.events.service import apply_events
from checkout_freshportal.sync.orders import sync_orders
from checkout_freshportal.sync.status_push.service import push_statuses
from checkout_freshportal.warehouse import schema

from events_fixtures import session


def test_a_dashboard_refund_reaches_the_order_and_is_staged_without_an_intent(
    refund_world: RefundWorld,
) -> None:
    w = refund_world
    pid = w.pay("FP-400003", 5000)
    w.settle()
    r = session().post(f"{w.cko_sb.base_url}/payments/{pid}/refunds", json={"amount": 2000})
    assert r.status_code == 202, r.text
    w.wait_event("payment_refunded")
    sync_orders(w.fp, w.engine)
    apply_events(w.engine, w.cko, w.fp.mapping)
    push_statuses(w.engine, w.fp)
    payment = next(o for o in w.fp_requests_state()["orders"] if o["order_number"] == "FP-400003")["payment"]
    assert payment["payment_status"] == "partially_refunded", payment
    assert payment["psp_payment_id"] == pid
    with w.engine.connect() as conn:
        row = conn.execute(
            sa.select(schema.stg_payment_status).where(schema.stg_payment_status.c.payment_id == pid)
        ).one()
        assert row.total_refunded_minor == 2000
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.sync_money_intents)).scalar() == 0
    # The refund sync itself leaves it alone: nothing to pull, nothing sent.
    w.run()
    assert len(w.actions(pid, "Refund")) == 1
