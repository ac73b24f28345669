"""A 201 from POST /payment-links whose ``expires_on`` has no UTC offset (as other Checkout.com
objects write times) or is no text. The link exists at Checkout.com by then, but the answer's
strict reading raised before its id was committed: the id was lost (the intent left in doubt),
the error escaped the per-order handling and the other confirmed orders got no link in that
run. Found by a hostile review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from checkout_freshportal.sync.payment_links import service as pr

from pr_fixtures import CONFIRMED, World, fast_settings


class OddExpiry:
    def __init__(self, real: Any, value: Any) -> None:
        self.real, self.value, self.created = real, value, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def create_payment_link(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> dict:
        answer = dict(self.real.create_payment_link(body, idempotency_key=idempotency_key))
        self.created.append(answer["id"])
        answer["expires_on"] = self.value
        return answer


@pytest.mark.parametrize("value", ["2030-02-19T16:54:41.501", 1893456000])
def test_created_link_with_offsetless_expiry_is_recorded_and_batch_goes_on(world: World, value: Any) -> None:
    cko = OddExpiry(world.cko, value)
    pr.run_all(world.fp, cko, world.engine, fast_settings(), run_id="run-1")
    intents = world.intents()
    recorded = {i["link_id"] for i in intents if i["link_id"]}
    assert set(cko.created) <= recorded, "a link Checkout.com created was not recorded"
    assert len(cko.created) == len(CONFIRMED), "the other confirmed orders were not served"
    expiries = {i["expires_on"] is not None for i in intents if i["link_id"]}
    assert expiries == ({True} if isinstance(value, str) else {False})  # no offset = UTC; a number: unknown
