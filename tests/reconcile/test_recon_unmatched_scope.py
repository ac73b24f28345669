"""An incremental run takes a payment the last run left unmatched into its scope only when an
order arriving or changing may match it now, by any of the four rules; the others stay out.

Until then every payment with an open ``orphan_payment`` or ``payment_failed`` was recomputed in
every incremental run (20,000 declined attempts at a million orders): these cases pin that the
narrower scope still finds what a full run finds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from recon_builders import T, World, exceptions, matches, reconcile

DAY = timedelta(days=1)
#: columns of an exception a rerun must leave exactly as a full run computes them
_COMPARED = (
    "kind",
    "status",
    "order_id",
    "order_number",
    "payment_id",
    "expected_minor",
    "actual_minor",
    "detail",
)


def _state(world: World) -> tuple[dict[str, tuple[Any, ...]], set[Any]]:
    rows = exceptions(world.engine)
    return {k: tuple(r[c] for c in _COMPARED) for k, r in rows.items()}, matches(world.engine)


def _by_metadata(w: World) -> None:
    w.payment("p1", 1000, reference="transfer 7781", metadata={"order_id": "late"})


def _by_invoice_token(w: World) -> None:
    w.payment("p1", 1000, reference="INV-L1, INV-L2")


def _by_customer(w: World) -> None:
    w.payment("p1", 1000, reference="card", email="buyer@example.com", requested_on=T - 9 * DAY)


def _declined_by_metadata(w: World) -> None:
    w.payment("p1", 1000, reference="retry", status="Declined", captured=0, metadata={"order_id": "late"})


CASES: dict[str, tuple[Callable[[World], None], dict[str, Any], str, set[str]]] = {
    # case: (the unmatched payment, the late order's fields, its rule, open keys after the order)
    "R2 metadata": (_by_metadata, {}, "metadata_order_id", set()),
    "R3 invoice token": (_by_invoice_token, {"invoices": ["INV-L1"]}, "invoice_reference", set()),
    "R4 same customer": (
        _by_customer,
        {"email": "buyer@example.com", "confirmed_at": T - 9 * DAY + timedelta(hours=1)},
        "suggested_customer_amount",
        {"missing_payment:order:late", "orphan_payment:payment:p1"},
    ),
    "declined, R2": (
        _declined_by_metadata,
        {},
        "metadata_order_id",
        {"missing_payment:order:late", "payment_failed:payment:p1"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_order_arriving_for_an_unmatched_payment_brings_it_into_the_incremental_scope(
    world: World, case: str
) -> None:
    plant, order_fields, rule, open_after = CASES[case]
    plant(world)
    # an unrelated orphan the late order does not match: it stays out of the rerun's scope
    world.payment("p_other", 555, reference="nobody", metadata={"order_id": "someone-else"})
    first = reconcile(world.engine, "r1")
    assert first.mode == "full"
    before = {k for k, r in exceptions(world.engine).items() if r["status"] == "open"}
    assert "orphan_payment:payment:p_other" in before
    assert before & {"orphan_payment:payment:p1", "payment_failed:payment:p1"}

    world.stamp = T + DAY / 2
    world.order("late", 1000, **order_fields)
    inc = reconcile(world.engine, "r2", T + DAY)
    assert inc.mode == "incremental"
    assert inc.scope["payments"] == 1  # p1 only: p_other was not recomputed
    state = _state(world)
    opened = {k for k, row in state[0].items() if row[1] == "open"}
    assert opened == open_after | {"orphan_payment:payment:p_other"}
    assert ("late", "p1", rule) in {(o, p, r) for o, p, r, _, _ in state[1]}
    full = reconcile(world.engine, "r3", T + DAY, full=True)
    assert (full.opened, full.resolved, full.reopened) == (0, 0, 0)
    assert _state(world) == state
