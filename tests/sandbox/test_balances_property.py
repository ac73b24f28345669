"""Property: any sequence of captures, refunds, voids and expiry keeps the balances consistent."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfp_dev.sandbox.checkout import SandboxConfig, build_world
from cfp_dev.sandbox.checkout.cards import card_from_number
from cfp_dev.sandbox.checkout.model import Payment
from cfp_dev.sandbox.checkout.world import World, WorldError

from .conftest import FIXED_NOW

ops = st.lists(
    st.one_of(
        st.tuples(st.just("capture"), st.integers(min_value=1, max_value=12_000), st.booleans()),
        st.tuples(st.just("capture_rest"), st.just(0), st.booleans()),
        st.tuples(st.just("refund"), st.integers(min_value=1, max_value=12_000), st.just(False)),
        st.tuples(st.just("refund_rest"), st.just(0), st.just(False)),
        st.tuples(st.just("void"), st.just(0), st.just(False)),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=3), st.just(False)),
        st.tuples(st.just("expire"), st.just(0), st.just(False)),
    ),
    max_size=25,
)


def check(p: Payment) -> None:
    b = p.balances()
    assert all(v >= 0 for v in b.values()), b
    assert b["total_captured"] <= b["total_authorized"]
    assert b["total_refunded"] <= b["total_captured"]
    assert b["available_to_refund"] == b["total_captured"] - b["total_refunded"]
    assert b["total_captured"] + b["total_voided"] + b["available_to_capture"] <= b["total_authorized"]
    assert p.pending_capture <= p.available_to_capture
    assert p.pending_refund <= b["available_to_refund"]
    if b["total_captured"]:
        assert b["available_to_void"] == 0


def new_payment(world: World, amount: int) -> Payment:
    card = card_from_number("4242424242424242", 12, 2030, world.ids.new("src"))
    p = world.new_payment(
        payment_id=world.ids.new("pay"),
        at=world.now,
        amount=amount,
        currency="EUR",
        reference="FP-P",
        card=card,
        customer=None,
        metadata={},
    )
    world.authorize(p, world.now, world.ids.new("act"), None)
    return p


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amount=st.integers(min_value=1, max_value=10_000), steps=ops)
def test_balances_stay_consistent(amount: int, steps: list[tuple[str, int, bool]]) -> None:
    world = build_world(SandboxConfig(now=FIXED_NOW, days=0, action_delay_seconds=1))
    p = new_payment(world, amount)
    for kind, value, final in steps:
        try:
            if kind == "capture":
                world.request_capture(p, value, final=final, reference=None, metadata=None)
            elif kind == "capture_rest":
                world.request_capture(p, None, final=final, reference=None, metadata=None)
            elif kind == "refund":
                world.request_refund(p, value, reference=None, metadata=None)
            elif kind == "refund_rest":
                world.request_refund(p, None, reference=None, metadata=None)
            elif kind == "void":
                world.request_void(p, reference=None, metadata=None)
            elif kind == "expire":
                world.run_until(p.expires_on + timedelta(seconds=5))
            else:
                world.run_until(world.now + timedelta(seconds=value))
        except WorldError as exc:
            refused = exc.kind
        else:
            refused = None
        assert refused in (None, "not_allowed", "invalid")
        check(p)
    world.run_until(world.now + timedelta(days=40))
    check(p)
    assert p.pending_capture == p.pending_refund == 0
    assert not p.pending_void
    assert sum(a.amount for a in p.actions if a.type == "Capture" and a.approved) == p.total_captured
    assert sum(a.amount for a in p.actions if a.type == "Refund" and a.approved) == p.total_refunded
