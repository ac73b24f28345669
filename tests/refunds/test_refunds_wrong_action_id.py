"""A 202 naming an action id that the payment never lists (a provider fault): the refund exists
under the reference we sent, but the intent waited for its named action for ever, FreshPortal
showed "processing" for good and every run stayed green. Now the outcome is found by our
reference and recorded with the real id, so FreshPortal gets the refund Checkout.com made; and a
request accepted a day ago with no outcome fails the run loudly. Found by a hostile review."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from refunds_fixtures import RefundWorld, fast_settings

from checkout_freshportal.sync.intents import store
from checkout_freshportal.sync.intents.errors import OutboundDeferred
from checkout_freshportal.sync.refunds import service
from checkout_freshportal.warehouse import schema

WRONG = "act_" + "z" * 26


class WrongActionId:
    """The real client, except that the refund's 202 names an action that does not exist."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def refund_payment(self, payment_id: str, body: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return {**self.real.refund_payment(payment_id, body, **kw), "action_id": WRONG}


def test_an_outcome_is_found_by_our_reference_when_the_202_named_another_action(
    refund_world: RefundWorld,
) -> None:
    w = refund_world
    pid = w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 10000)
    service.run_all(fp=w.fp, cko=WrongActionId(w.cko), engine=w.engine, settings=fast_settings())
    for _ in range(3):
        w.settle()
        w.run()
        if w.intents()[rid]["state"] == store.SUCCEEDED:
            break
    intent = w.intents()[rid]
    (real,) = w.actions(pid, "Refund")
    assert (intent["state"], intent["action_id"]) == (store.SUCCEEDED, real["id"])
    assert w.fp_requests()[rid]["outcome"]["psp_refund_id"] == real["id"]


def test_a_request_accepted_a_day_ago_without_outcome_fails_the_run(refund_world: RefundWorld) -> None:
    w = refund_world
    w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 10000)
    service.run_step("pull", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    with w.engine.begin() as conn:  # accepted a day ago under an action nobody lists
        t = schema.sync_money_intents
        conn.execute(
            sa.update(t)
            .where(t.c.request_key == f"refund_request:{rid}")
            .values(
                state=store.ACCEPTED,
                kind=store.REFUND,
                payment_id=w.payments["FP-400001"],
                action_id=WRONG,
                attempts=1,
                accepted_at=datetime.now(UTC) - timedelta(days=1, minutes=1),
            )
        )
    patient = fast_settings(outcome_overdue="3d")  # a payment method that settles over days
    service.run_step("resolve", fp=w.fp, cko=w.cko, engine=w.engine, settings=patient)
    with pytest.raises(OutboundDeferred) as raised:
        service.run_step("resolve", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    assert any("no outcome yet" in line for line in raised.value.failures), raised.value.failures
