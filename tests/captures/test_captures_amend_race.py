"""A release corrected in FreshPortal while a run is between validating it and claiming it.

The correction (10,000 "complete" to 4,000 "more to come") is pulled by another run, which amends
the pending intent; the run's claim must then lose, since its POST was built from the old
snapshot: a Final capture of 10,000 would also give up the rest of the authorisation. The next
run captures 4,000, not final. Found by a hostile review.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from cap_fixtures import World, settings

from checkout_freshportal.freshportal.releases import FulfilmentRelease
from checkout_freshportal.sync.captures import pull, service
from checkout_freshportal.sync.intents import store
from checkout_freshportal.warehouse import schema


class AmendDuringValidation:
    """The real client; right after the run reads the payment, another run lands the corrected
    release."""

    def __init__(self, w: World) -> None:
        self.w, self.fired = w, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.w.cko, name)

    def get_payment(self, payment_id: str) -> Any:
        answer = self.w.cko.get_payment(payment_id)
        if not self.fired:
            self.fired = True
            t = schema.sync_money_intents
            with self.w.engine.begin() as conn:
                i = store.MoneyIntent.from_row(conn.execute(sa.select(t).where(t.c.kind == "capture")).one())
                corrected = FulfilmentRelease(
                    release_id=pull.release_id_of(i),
                    order_id=i.order_id,
                    order_number=i.order_number,
                    amount_minor=4_000,
                    currency=i.currency,
                    complete=False,
                    version=(i.fp_version or 0) + 1,
                    released_at=i.requested_at,
                )
                assert (
                    pull.land_releases(conn, [corrected], now=self.w.now(), run_id="other-run")["amended"]
                    == 1
                )
        return answer


def test_a_release_corrected_during_validation_is_captured_as_corrected(world: World) -> None:
    pay = world.authorise("FP-400001", 10_000)
    world.release("FP-400001", 10_000, complete=True)
    service.run_step(
        "pull", fp=world.fp, cko=world.cko, engine=world.engine, settings=settings(), clock=world.now
    )
    racing = AmendDuringValidation(world)
    service.run_step(
        "execute",
        fp=world.fp,
        cko=racing,
        engine=world.engine,
        settings=settings(),
        clock=world.now,
        raise_on_failures=False,
    )
    assert racing.fired
    assert world.captures(pay) == []  # the claim on the old release lost: nothing sent
    (intent,) = world.intents().values()
    assert (intent["state"], intent["amount_minor"], intent["final"]) == (store.PENDING, 4_000, False)

    service.run_step(
        "execute", fp=world.fp, cko=world.cko, engine=world.engine, settings=settings(), clock=world.now
    )
    assert [int(c["amount"]) for c in world.captures(pay)] == [4_000]
    assert world.payment(pay)["status"] != "Captured"  # not final: the rest stays authorised
