"""A request corrected in FreshPortal while a run is between validating it and claiming it.

A pull beside the run (a CLI run, a second DAG run) amends the pending intent to the new amount;
the run's claim must then lose (its POST was built from the old snapshot), so nothing is sent in
that run and the next run refunds the corrected amount, once. Found by a hostile review: the
claim compared only state and attempts, and Checkout.com refunded the old amount.
"""

from __future__ import annotations

from typing import Any

import requests
from refunds_fixtures import RefundWorld, fast_settings

from checkout_freshportal.sync.intents import store
from checkout_freshportal.sync.refunds import service

from events_fixtures import wait_until


class PullDuringValidation:
    """The real client; right after the run reads the payment to validate the request, the
    requester corrects the amount in FreshPortal and another run pulls the feed."""

    def __init__(self, w: RefundWorld, request_id: str, new_amount: int) -> None:
        self.w, self.request_id, self.new_amount, self.fired = w, request_id, new_amount, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.w.cko, name)

    def get_payment(self, payment_id: str) -> Any:
        answer = self.w.cko.get_payment(payment_id)
        if not self.fired:
            self.fired = True
            r = requests.patch(
                f"{self.w.fp_sb.base_url}/_sandbox/refund-requests/{self.request_id}",
                json={"amount_minor": self.new_amount},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            service.run_step(
                "pull", fp=self.w.fp, cko=self.w.cko, engine=self.w.engine, settings=fast_settings()
            )
        return answer


def test_a_request_corrected_during_validation_refunds_the_corrected_amount(
    refund_world: RefundWorld,
) -> None:
    w = refund_world
    pid = w.pay("FP-400001", 10_000)
    w.settle()
    rid = w.request_refund("FP-400001", 10_000)
    service.run_step("pull", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    racing = PullDuringValidation(w, rid, 1_000)
    service.run_step(
        "execute", fp=w.fp, cko=racing, engine=w.engine, settings=fast_settings(), raise_on_failures=False
    )
    assert racing.fired
    assert w.actions(pid, "Refund") == []  # the claim on the old amount lost: nothing sent
    intent = w.intents()[rid]
    assert (intent["state"], intent["amount_minor"], intent["attempts"]) == (store.PENDING, 1_000, 0)

    service.run_step("execute", fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings())
    wait_until(lambda: bool(w.actions(pid, "Refund")), what="the refund action")
    assert [int(a["amount"]) for a in w.actions(pid, "Refund")] == [1_000]
