"""A double click in FreshPortal makes two refund requests; the second must not be paid even
when FreshPortal sends no ``requested_at`` (an optional field of its refund requests).

The duplicate check compared request times only and switched itself off without one, so both
requests were refunded. Now a request without a time is placed by when we first saw it. Found by
a hostile review. The simulator always sends the field, so the test removes it from what was
landed, as a feed without it would have landed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from refunds_fixtures import RefundWorld, executed, fast_settings

from checkout_freshportal.sync.refunds import reasons, service
from checkout_freshportal.warehouse import schema


def test_a_double_submit_without_request_times_is_refunded_once(refund_world: RefundWorld) -> None:
    w = refund_world
    w.pay("FP-400008", 4000)
    w.settle()
    first = w.request_refund("FP-400008", 1000, duplicate=True)
    second = str(int(first) + 1)
    service.run_step("pull", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    with w.engine.begin() as conn:
        conn.execute(sa.update(schema.stg_refund_requests).values(requested_at=None))
        conn.execute(sa.update(schema.sync_money_intents).values(requested_at=None))
    service.run_step("execute", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    intents = w.intents()
    assert intents[second]["state"] == "rejected"
    assert intents[second]["reason_code"] == reasons.DUPLICATE_REQUEST
    assert intents[first]["state"] != "rejected"
    for _ in range(6):  # the refund's outcome arrives by webhook
        w.settle()
        w.run()
        if w.intents()[first]["state"] == "succeeded":
            break
    assert w.intents()[first]["state"] == "succeeded"
    assert executed(w)["FP-400008"] == 1
