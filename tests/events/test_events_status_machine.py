"""The pure status state machine: order and duplicates never matter, and it agrees with the API.

Histories come from the sandbox's own transition code (``events_world.play``), so the events,
their balances and the final ``GET /payments/{id}`` status are what the real simulator gives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout_freshportal.checkout.models import Balances
from checkout_freshportal.checkout.statuses import BALANCE_FIELDS, MODELED_STATUSES, canonical_status
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.status.declines import decline_from_event
from checkout_freshportal.sync.status.derivation import Derivation, PaymentState, fold
from checkout_freshportal.sync.status.facts import Fact, fact_from_payment
from checkout_freshportal.sync.status.mapping import PaymentSummary, freshportal_status, governing_payment

from events_world import OPS, START_KINDS, History, play

MAPPING = load_mapping(environ={})
T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# ------------------------------------------------------------------ strategies

# Weighted towards lives with money moving (captures, refunds, disputes), where order matters most.
_OPS_WEIGHTED = [
    *OPS,
    *["capture", "capture_full", "capture_final"] * 2,
    *["refund", "refund_full"] * 2,
    *["dispute", "dispute_step", "dispute_step"] * 2,
]
steps = st.lists(
    st.tuples(
        st.sampled_from(_OPS_WEIGHTED),
        st.integers(min_value=1, max_value=100),
        st.sampled_from([0, 0, 1, 5, 60, 3600, 86_400]),  # ties on purpose
    ),
    min_size=1,
    max_size=14,
)
histories = st.builds(
    lambda start, ops, amount: play(start, ops, amount),
    st.sampled_from([*START_KINDS, *["approve"] * 10, *["pending_approve"] * 2]),
    steps,
    st.integers(min_value=1, max_value=2_000_000),
)


@st.composite
def arrivals(draw, facts: list[Fact]) -> list[Fact]:
    """Any order, every fact at least once, some several times (at-least-once delivery)."""
    order = draw(st.permutations(facts))
    extra = draw(st.lists(st.sampled_from(facts), max_size=len(facts))) if facts else []
    mixed = list(order) + extra
    return draw(st.permutations(mixed))


@st.composite
def batches(draw, items: list[Fact]) -> list[list[Fact]]:
    """Split an arrival sequence into consecutive batches (DAG runs)."""
    cuts = sorted(draw(st.sets(st.integers(min_value=0, max_value=len(items)), max_size=4)))
    out, prev = [], 0
    for c in [*cuts, len(items)]:
        out.append(items[prev:c])
        prev = c
    return out


def fold_in_order(h: History) -> PaymentState:
    state = PaymentState(h.payment_id)
    for f in h.facts():
        state = state.add(f)
    return state


def fold_batches(payment_id: str, parts: list[list[Fact]]) -> PaymentState:
    """One batch per run, the state stored as JSON in between (what the use case does)."""
    stored = None
    for part in parts:
        state = PaymentState.from_json(stored, payment_id).add(*part)
        stored = json.loads(json.dumps(state.to_json()))
    return PaymentState.from_json(stored, payment_id)


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ properties


@PROPS
@given(h=histories, data=st.data())
def test_any_permutation_with_duplicates_ends_in_the_in_order_state(h: History, data) -> None:
    in_order = fold_in_order(h)
    arrived = data.draw(arrivals(h.facts()))
    parts = data.draw(batches(arrived))
    shuffled = fold_batches(h.payment_id, parts)
    assert shuffled.facts == in_order.facts
    assert shuffled.derive() == in_order.derive()
    # ... and the state is a join: merging two halves in either order gives the same
    half = len(arrived) // 2
    a = fold(h.payment_id, arrived[:half])
    b = fold(h.payment_id, arrived[half:])
    assert a.join(b) == b.join(a) == in_order
    assert in_order.join(in_order) == in_order


@PROPS
@given(h=histories)
def test_in_order_result_is_what_get_payment_says(h: History) -> None:
    d = fold_in_order(h).derive()
    if not h.facts():
        return
    if any(e.event_type.startswith("payment_") or e.event_type.startswith("card_") for e in h.events):
        assert d.status == h.final_status, [e.event_type for e in h.events]
        assert d.balances is not None
        for name in ("total_authorized", "total_captured", "total_refunded", "total_voided"):
            assert getattr(d.balances, name) == h.final_balances[name]
    assert d.problems == ()
    if h.disputes:
        assert d.dispute_id in h.disputes
        assert d.dispute_status == h.disputes[d.dispute_id]
    else:
        assert d.dispute_state is None
    assert freshportal_status(d, MAPPING) in MAPPING.freshportal_payment_statuses


@PROPS
@given(h=histories, data=st.data())
def test_a_snapshot_taken_at_any_point_of_any_arrival_order_gives_the_api_answer(h: History, data) -> None:
    facts = [(e, e.fact()) for e in h.events]
    facts = [(e, f) for e, f in facts if f is not None]
    if not facts:
        return
    order = data.draw(st.permutations(facts))
    m = data.draw(st.integers(min_value=1, max_value=len(order)))
    known = order[:m]
    as_of = max(f.at for _, f in known)
    # GET /payments/{id} is answered after everything that happened up to as_of (ties included)
    floor = max(e.index for e, f in facts if f.at <= as_of)
    j = data.draw(st.integers(min_value=floor, max_value=len(h.events) - 1))
    truth = fact_from_payment(h.events[j].snapshot, as_of)
    state = fold(h.payment_id, [f for _, f in known]).add(truth)
    state = state.add(*[f for _, f in order[m:]], *[f for _, f in known])  # late ones and resends
    d = state.derive()
    assert d.status == h.final_status
    assert d.problems == () or all("dispute events only" not in p for p in d.problems)
    b = d.balances
    assert b is not None
    assert (b.total_captured, b.total_refunded) == (
        h.final_balances["total_captured"],
        h.final_balances["total_refunded"],
    )


@PROPS
@given(h=histories)
def test_state_survives_json(h: History) -> None:
    state = fold_in_order(h)
    assert PaymentState.from_json(json.loads(json.dumps(state.to_json())), h.payment_id) == state


# ------------------------------------------------------------------ tricky cases, by hand


def bal(auth=10_000, captured=0, refunded=0, voided=0, to_capture=None, to_void=None) -> Balances:
    if to_capture is None:
        to_capture = 0 if voided else auth - captured
    if to_void is None:
        to_void = auth if captured == 0 and not voided else 0
    return Balances(auth, voided, to_void, captured, to_capture, refunded, captured - refunded)


def ev(kind: str, minutes: int, balances: Balances | None = None, **kw) -> Fact:
    return Fact(
        fact_id=f"evt_{kind}_{minutes}_{kw.get('action_id', '')}",
        kind=kind,
        payment_id="pay_1",
        at=T + timedelta(minutes=minutes),
        balances=balances,
        currency="EUR",
        **kw,
    )


APPROVED = ev("payment_approved", 0, bal(), reference="FP-1", amount=10_000, action_id="act_a")
CAPTURED = ev("payment_captured", 5, bal(captured=10_000), amount=10_000, action_id="act_c")


def derive(*facts: Fact) -> Derivation:
    return fold("pay_1", facts).derive()


def test_late_payment_approved_never_overwrites_captured() -> None:
    assert derive(CAPTURED, APPROVED).status == "Captured"
    assert derive(APPROVED, CAPTURED).status == "Captured"
    assert derive(CAPTURED, APPROVED, APPROVED, CAPTURED).status == "Captured"


def test_refund_before_capture_in_arrival_order() -> None:
    refunded = ev(
        "payment_refunded", 9, bal(captured=10_000, refunded=4_000), amount=4_000, action_id="act_r"
    )
    d = derive(refunded, APPROVED, CAPTURED)
    assert d.status == "Partially Refunded"
    assert d.balances == bal(captured=10_000, refunded=4_000)
    full = ev("payment_refunded", 12, bal(captured=10_000, refunded=10_000), amount=6_000, action_id="act_r2")
    assert derive(full, refunded, CAPTURED, APPROVED).status == "Refunded"


def test_declined_capture_void_refund_are_logged_but_change_no_balance() -> None:
    before = derive(APPROVED, CAPTURED)
    for kind in ("payment_capture_declined", "payment_void_declined", "payment_refund_declined"):
        declined = ev(kind, 20, bal(captured=10_000), amount=500, action_id=f"act_{kind}")
        d = derive(APPROVED, CAPTURED, declined)
        assert (d.status, d.balances) == (before.status, before.balances)
        rec = decline_from_event(
            "evt_x", kind, T, {"id": "pay_1", "action_id": "act_9", "response_code": "20005", "amount": 500}
        )
        assert rec is not None
        assert rec.kind == kind.removeprefix("payment_")
        assert rec.decline_id == "act_9"
    # a void that was declined does not make the payment Voided
    assert derive(APPROVED, ev("payment_void_declined", 3, bal(), action_id="act_v")).status == "Authorized"


def test_terminal_flags_by_precedence() -> None:
    voided = ev("payment_voided", 3, bal(voided=10_000), amount=10_000, action_id="act_v")
    expired = ev("payment_expired", 60, bal(to_capture=0, to_void=0), reference="FP-1")
    declined = ev("payment_declined", 0, bal(auth=0), reference="FP-1")
    assert derive(voided, APPROVED).status == "Voided"
    assert derive(expired, APPROVED).status == "Expired"
    assert derive(declined).status == "Declined"
    pending = ev("payment_pending", 0, bal(auth=0), reference="FP-1")
    assert derive(pending).status == "Pending"
    assert derive(APPROVED, pending).status == "Authorized"  # the 3DS challenge was passed
    canceled = ev("payment_canceled", 1, bal(auth=0), reference="FP-1")
    assert derive(canceled, pending).status == "Canceled"


def test_final_capture_of_less_than_authorized_is_captured() -> None:
    part = ev("payment_captured", 5, bal(captured=3_000), amount=3_000, action_id="act_c1")
    assert derive(APPROVED, part).status == "Partially Captured"
    final = ev("payment_captured", 6, bal(captured=5_000, to_capture=0), amount=2_000, action_id="act_c2")
    assert derive(final, APPROVED, part).status == "Captured"


def test_disputes_by_precedence_not_arrival() -> None:
    def dsp(kind: str, minutes: int, status: str, dispute_id: str = "dsp_1") -> Fact:
        return ev(kind, minutes, dispute_id=dispute_id, dispute_status=status, reference="FP-1")

    opened = dsp("dispute_evidence_required", 30, "evidence_required")
    won = dsp("dispute_won", 40, "won")
    d = derive(won, opened, APPROVED, CAPTURED)
    assert (d.status, d.dispute_state, d.dispute_status) == ("Captured", "Dispute Won", "won")
    assert freshportal_status(d, MAPPING) == "paid"
    d = derive(APPROVED, CAPTURED, opened)
    assert freshportal_status(d, MAPPING) == "disputed"
    lost = dsp("dispute_lost", 40, "lost")
    arb = dsp("dispute_arbitration_sent_to_scheme", 50, "arbitration_under_review")
    assert derive(arb, lost, opened, CAPTURED).dispute_status == "arbitration_under_review"
    assert freshportal_status(derive(lost, opened, CAPTURED), MAPPING) == "chargeback"
    # a lost dispute on one of two disputes decides, whatever the other did
    other_won = dsp("dispute_won", 45, "won", "dsp_2")
    assert derive(other_won, lost, CAPTURED).dispute_state == "Chargeback"
    # same instant (or times taken from arrival): the further status wins, not the later arrival
    late_open = dsp("dispute_evidence_required", 40, "evidence_required")
    assert derive(won, late_open).dispute_status == "won"
    assert derive(late_open, won).dispute_status == "won"
    # resolved because it was refunded already: the refund speaks
    refunded = ev(
        "payment_refunded", 20, bal(captured=10_000, refunded=10_000), amount=10_000, action_id="act_r"
    )
    resolved = dsp("dispute_resolved", 60, "resolved")
    assert freshportal_status(derive(resolved, refunded, CAPTURED), MAPPING) == "refunded"


def test_needs_truth_when_events_are_missing_or_contradict() -> None:
    # an action without balances
    bare = ev("payment_captured", 5, None, amount=10_000, action_id="act_c")
    assert derive(APPROVED, bare).needs_truth
    # a refund whose amount is not in its own balances
    wrong = ev("payment_refunded", 9, bal(captured=10_000, refunded=0), amount=4_000, action_id="act_r")
    assert derive(APPROVED, CAPTURED, wrong).needs_truth
    # balances that are not one history (more captured but less refunded)
    a = ev("payment_refunded", 9, bal(captured=5_000, refunded=5_000), amount=5_000, action_id="act_r1")
    b = ev("payment_captured", 10, bal(captured=10_000, refunded=0), amount=5_000, action_id="act_c2")
    assert derive(a, b).needs_truth
    # captures adding up to more than the balances
    c1 = ev("payment_captured", 5, bal(captured=3_000), amount=3_000, action_id="act_c1")
    c2 = ev("payment_captured", 6, bal(captured=3_000), amount=3_000, action_id="act_c2")
    assert derive(APPROVED, c1, c2).needs_truth
    # only a dispute: nothing about the payment itself
    only = ev(
        "dispute_received", 30, dispute_id="dsp_1", dispute_status="evidence_required", reference="FP-1"
    )
    assert derive(only).needs_truth
    # a voided payment with captures
    voided = ev("payment_voided", 6, bal(voided=10_000), amount=10_000, action_id="act_v")
    assert derive(APPROVED, CAPTURED, voided).needs_truth
    # an expiry of a captured payment: balances win, and the API is asked
    expired = ev("payment_expired", 60, bal(to_capture=0, to_void=0), reference="FP-1")
    d = derive(APPROVED, CAPTURED, expired)
    assert (d.status, d.needs_truth) == ("Captured", True)
    # the in-order history needs nothing
    assert not derive(APPROVED, CAPTURED).needs_truth


def test_a_snapshot_settles_a_contradiction_and_later_events_still_count() -> None:
    bare = ev("payment_captured", 5, None, amount=4_000, action_id="act_c")
    state = fold("pay_1", [APPROVED, bare])
    assert state.derive().needs_truth
    api = {
        "id": "pay_1",
        "status": "Partially Captured",
        "amount": 10_000,
        "currency": "EUR",
        "reference": "FP-1",
        "balances": dict(zip(BALANCE_FIELDS, bal(captured=4_000).as_list(), strict=True)),
    }
    state = state.add(fact_from_payment(api, state.as_of()))
    d = state.derive()
    assert (d.status, d.problems) == ("Partially Captured", ())
    later = ev("payment_refunded", 30, bal(captured=4_000, refunded=1_000), amount=1_000, action_id="act_r")
    assert state.add(later).derive().status == "Partially Refunded"
    # an event from before the snapshot is covered by it (and dropped)
    assert state.add(APPROVED, bare) == state


def test_snapshot_status_is_used_verbatim_for_states_the_machine_does_not_model() -> None:
    api = {
        "id": "pay_1",
        "status": "retry_scheduled",
        "currency": "EUR",
        "balances": None,
        "reference": "FP-1",
    }
    pending = ev("payment_pending", 0, bal(auth=0), reference="FP-1")
    state = fold("pay_1", [pending]).add(fact_from_payment(api, T))
    assert state.derive().status == "Retry Scheduled"


def test_balances_refuse_floats_and_bools() -> None:
    good = dict(zip(BALANCE_FIELDS, bal().as_list(), strict=True))
    assert Balances.parse(good) == bal()
    assert Balances.parse({**good, "total_captured": 1.0}) is None
    assert Balances.parse({**good, "total_captured": True}) is None
    assert Balances.parse({k: v for k, v in good.items() if k != "available_to_refund"}) == bal()


def test_governing_payment_of_an_order() -> None:
    def p(pid: str, status: str | None, money: bool, minute: int) -> PaymentSummary:
        return PaymentSummary(pid, status, money, T + timedelta(minutes=minute))

    declined_then_paid = [p("pay_a", "Declined", False, 0), p("pay_b", "Captured", True, 5)]
    assert governing_payment(declined_then_paid).payment_id == "pay_b"
    paid_then_declined = [p("pay_a", "Captured", True, 0), p("pay_b", "Declined", False, 9)]
    assert governing_payment(paid_then_declined).payment_id == "pay_a"
    retried = [p("pay_a", "Declined", False, 0), p("pay_b", "Declined", False, 9)]
    assert governing_payment(retried).payment_id == "pay_b"
    assert governing_payment([]) is None


@pytest.mark.parametrize("value", ["captured", "CAPTURED", "Partially_Captured", "partially-refunded"])
def test_status_spelling_is_normalised(value: str) -> None:
    assert canonical_status(value) in MODELED_STATUSES


def test_a_capture_stamped_before_the_snapshot_but_showing_more_still_counts() -> None:
    """Checkout.com prints instants with 0-7 fractional digits: a Final capture printed ``…:01``
    can look older than the partial capture before it (``…:01.000056``). A snapshot read between
    the two (as of the partial one) must not hide the Final capture: its balances show more."""
    partial = ev("payment_captured", 5, bal(captured=4_000), amount=4_000, action_id="act_c1")
    final = Fact(
        fact_id="evt_final",
        kind="payment_captured",
        payment_id="pay_1",
        at=partial.at - timedelta(microseconds=56),  # same second, fewer digits
        balances=bal(captured=9_000, to_capture=0),
        amount=5_000,
        action_id="act_c2",
    )
    state = fold("pay_1", [APPROVED, partial])
    api = {
        "id": "pay_1",
        "status": "Partially Captured",
        "amount": 10_000,
        "currency": "EUR",
        "reference": "FP-1",
        "balances": dict(zip(BALANCE_FIELDS, bal(captured=4_000).as_list(), strict=True)),
    }
    state = state.add(fact_from_payment(api, state.as_of()))
    d = state.add(final).derive()
    assert d.balances is not None
    assert d.balances.total_captured == 9_000
    assert d.status == "Captured"  # Final: nothing left to capture
    # an older fact that shows no more than the snapshot is still covered by it
    assert state.add(partial) == state
