"""A payment's state (a set of facts) and the status derived from it, by precedence.

Webhooks arrive in any order and more than once, so the status is not "whatever arrived last"
but a function of the **set** of facts known about a payment (docs/status-machine.md):

* a :class:`PaymentState` is a set of facts; :meth:`PaymentState.join` is set union followed by
  dropping facts that a stronger fact makes irrelevant (:func:`prune`). Union is commutative,
  associative and idempotent, and the pruning is by a transitive dominance relation, so the
  join is a semilattice: any arrival order, any batching and any number of duplicates of the
  same facts give the same state;
* :func:`derive` computes the status from the state by **precedence** rules over the joined
  balances and the terminal flags, never by arrival order.

Where the facts are incomplete or contradict each other the derivation lists ``problems`` and
the caller reads ``GET /payments/{id}`` once and folds the answer in (``facts.fact_from_payment``):
a snapshot covers every payment fact up to the newest fact known when it was taken, and only
later facts are joined on top of it.

No I/O, no clock, no settings: everything here is a function of its arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout.models import Balances
from checkout_freshportal.checkout.statuses import ActionType, EventType, PaymentStatus
from checkout_freshportal.sync.status.disputes import governing_dispute, latest_per_dispute
from checkout_freshportal.sync.status.facts import (
    BALANCED_ACTION_EVENTS,
    PAYMENT_AMOUNT_EVENTS,
    PAYMENT_LEVEL_EVENTS,
    STATUS_FLAGS,
    Fact,
    join_balances,
)

# ============================================================================ state and join


def prune(facts: Iterable[Fact]) -> frozenset[Fact]:
    """Drop the facts a stronger fact in the same set makes irrelevant to :func:`derive`.

    * every snapshot but the newest (by as-of, then content);
    * every payment fact at or before the newest snapshot's as-of that shows no more than it
      (the snapshot reflects it; :func:`may_be_newer`);
    * every dispute fact but the most advanced one per dispute.

    Dominance is transitive, so ``prune(prune(A) | B) == prune(A | B)``: pruning early never
    changes a later join.
    """
    facts = set(facts)
    truths = [f for f in facts if f.is_truth]
    truth = max(truths, key=Fact.sort_key) if truths else None
    kept: set[Fact] = set(latest_per_dispute(f for f in facts if f.is_dispute).values())
    if truth is not None:
        kept.add(truth)
    for f in facts:
        if f.is_truth or f.is_dispute:
            continue
        if truth is None or may_be_newer(f, truth):
            kept.add(f)
    return frozenset(kept)


def may_be_newer(f: Fact, truth: Fact) -> bool:
    """Could ``f`` have happened after the snapshot ``truth`` was taken?

    By time, when it is stamped after the snapshot's as-of. And whatever its stamp, when its
    balances show more than the snapshot's in any total: totals only grow, so such a fact is
    newer than the snapshot. Stamps alone cannot tell: Checkout.com prints an instant with 0 to
    7 fractional digits, so a Final capture printed ``…:01`` comes out "older" than the partial
    capture before it printed ``…:01.000056``, and a snapshot read between the two would hide it.
    """
    if f.at > truth.at:
        return True
    fb, tb = f.balances, truth.balances
    if fb is None or tb is None:
        return False
    return (
        fb.total_authorized > tb.total_authorized
        or fb.total_captured > tb.total_captured
        or fb.total_refunded > tb.total_refunded
        or fb.total_voided > tb.total_voided
    )


@dataclass(frozen=True)
class PaymentState:
    """Everything known about one payment: a pruned set of facts (see the module docstring)."""

    payment_id: str
    facts: frozenset[Fact] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        wrong = [f.fact_id for f in self.facts if f.payment_id != self.payment_id]
        if wrong:
            raise ValueError(f"facts of another payment in the state of {self.payment_id}: {wrong[:3]}")

    def add(self, *facts: Fact) -> PaymentState:
        return PaymentState(self.payment_id, prune((*self.facts, *facts)))

    def join(self, other: PaymentState) -> PaymentState:
        if other.payment_id != self.payment_id:
            raise ValueError("cannot join the states of two payments")
        return PaymentState(self.payment_id, prune(self.facts | other.facts))

    @property
    def truth(self) -> Fact | None:
        truths = [f for f in self.facts if f.is_truth]
        return max(truths, key=Fact.sort_key) if truths else None

    def as_of(self) -> datetime | None:
        """The newest fact's time: what a snapshot taken now is "as of" (``fact_from_payment``)."""
        return max((f.at for f in self.facts), default=None)

    def to_json(self) -> dict[str, Any]:
        facts = sorted(self.facts, key=Fact.sort_key)
        return {"v": 1, "payment_id": self.payment_id, "facts": [f.to_json() for f in facts]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None, payment_id: str) -> PaymentState:
        if not raw:
            return cls(payment_id)
        if raw.get("v") != 1:
            raise ValueError(f"unknown payment state format {raw.get('v')!r} for {payment_id}")
        return cls(payment_id, prune(Fact.from_json(f) for f in raw.get("facts") or []))

    def derive(self) -> Derivation:
        return derive(self)


def fold(payment_id: str, facts: Iterable[Fact], state: PaymentState | None = None) -> PaymentState:
    """Fold facts into a state (any order, any duplicates: same result)."""
    base = state if state is not None else PaymentState(payment_id)
    return base.add(*facts)


# ============================================================================ derivation


@dataclass(frozen=True)
class Derivation:
    """What the facts say about a payment, and whether they are enough to say it."""

    payment_id: str
    status: str | None  # Checkout.com vocabulary; None when nothing tells it yet
    balances: Balances | None
    currency: str | None
    amount: int | None
    reference: str | None
    order_hint: str | None
    dispute_id: str | None
    dispute_status: str | None  # Checkout.com dispute status of the governing dispute
    dispute_state: str | None  # "Disputed" | "Chargeback" | "Dispute Won"
    status_since: datetime | None  # earliest fact that already implied the current status
    last_fact_at: datetime | None
    truth_at: datetime | None
    problems: tuple[str, ...] = ()
    dispute_resolved_reason: str | None = None  # ``resolved_reason`` of the governing dispute

    @property
    def needs_truth(self) -> bool:
        """The facts are missing or contradictory: ask ``GET /payments/{id}``."""
        return bool(self.problems)

    @property
    def money_moved(self) -> bool:
        b = self.balances
        return bool(b and (b.total_captured > 0 or b.total_refunded > 0)) or self.dispute_state is not None


def status_from(balances: Balances | None, flags: set[str]) -> str | None:
    """The precedence rules (first match wins; docs/status-machine.md has the table)."""
    b = balances or Balances()
    if "declined" in flags and b.total_authorized == 0:
        return PaymentStatus.DECLINED
    if "canceled" in flags and b.total_authorized == 0:
        return PaymentStatus.CANCELED
    if "voided" in flags and b.total_captured == 0:
        return PaymentStatus.VOIDED
    if "expired" in flags and b.total_captured == 0:
        return PaymentStatus.EXPIRED
    if b.total_refunded > 0:
        full = b.total_refunded >= b.total_captured and b.available_to_capture == 0
        return PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    if b.total_captured > 0:
        done = b.total_captured >= b.total_authorized or "capture_final" in flags
        return PaymentStatus.CAPTURED if done else PaymentStatus.PARTIALLY_CAPTURED
    if b.total_authorized > 0:
        return PaymentStatus.AUTHORIZED
    if "card_verified" in flags:
        return PaymentStatus.CARD_VERIFIED
    if "pending" in flags:
        return PaymentStatus.PENDING
    return None


def flags_of(f: Fact) -> set[str]:
    """The flags one fact sets, including ``capture_final`` (read from its balances)."""
    out: set[str] = set()
    flag = f.flag
    if flag:
        out.add(flag)
    b = f.balances
    # A capture that leaves nothing to capture was Final; a snapshot saying "Captured" with less
    # than authorized says the same. (An authorization that lapsed after a partial capture also
    # leaves 0, but emits no event, and its snapshot says "Partially Captured".)
    partial = b is not None and 0 < b.total_captured < b.total_authorized
    if partial and (
        (f.kind == EventType.PAYMENT_CAPTURED and b is not None and b.available_to_capture == 0)
        or (f.is_truth and f.api_status == PaymentStatus.CAPTURED)
    ):
        out.add("capture_final")
    return out


def derive(state: PaymentState) -> Derivation:
    """Status, balances and problems of a payment, from its facts alone (pure)."""
    facts = state.facts
    truth = state.truth
    active = [
        f for f in facts if not f.is_truth and not f.is_dispute and (truth is None or may_be_newer(f, truth))
    ]
    payment_facts = [*active, *([truth] if truth is not None else [])]
    observations = [f.balances for f in payment_facts if f.balances is not None]
    balances = join_balances(observations)
    if balances is None and payment_facts:
        balances = Balances()  # pending, declined, expired: real events carry none, nothing moved
    flags: set[str] = set()
    for f in payment_facts:
        flags |= flags_of(f)

    if truth is not None and not active:
        status = truth.api_status  # nothing newer than the snapshot: it is the answer
    else:
        status = status_from(balances, flags)
        if status is None and truth is not None:
            status = truth.api_status
    problems = problems_of(active, observations, balances, flags, truth)
    problems += _identity_problems(state, status, payment_facts)

    dispute, dispute_state = governing_dispute(f for f in facts if f.is_dispute)
    ranked = _by_strength(facts)
    return Derivation(
        payment_id=state.payment_id,
        status=status,
        balances=balances,
        currency=_pick(f.currency for f in ranked),
        amount=_pick(
            f.amount for f in _by_strength(payment_facts) if f.kind in PAYMENT_AMOUNT_EVENTS or f.is_truth
        ),
        reference=_pick(f.reference for f in ranked),
        order_hint=_pick(f.order_hint for f in ranked),
        dispute_id=dispute.dispute_id if dispute else None,
        dispute_status=dispute.dispute_status if dispute else None,
        dispute_state=dispute_state,
        status_since=_status_since(status, payment_facts, balances, truth, dispute),
        last_fact_at=state.as_of(),
        truth_at=truth.at if truth else None,
        problems=tuple(sorted(set(problems))),
        dispute_resolved_reason=dispute.resolved_reason if dispute else None,
    )


def _identity_problems(state: PaymentState, status: str | None, payment_facts: Sequence[Fact]) -> list[str]:
    """What is missing to say which payment this is and what its status is."""
    facts = state.facts
    out: list[str] = []
    if not payment_facts:
        out.append("no payment event yet (dispute events only)")
    elif status is None:
        out.append("no status follows from the events alone")
    currencies = {f.currency for f in facts if f.currency}
    if len(currencies) > 1:
        out.append(f"currencies disagree: {sorted(currencies)}")
    ranked = _by_strength(facts)
    known = _pick(f.reference for f in ranked) or _pick(f.order_hint for f in ranked)
    if known is None and state.truth is None:
        out.append("no payment reference or order id known")
    return out


def _by_strength(facts: Iterable[Fact]) -> list[Fact]:
    """Snapshot first, then payment-level events, newest first: where identifying data is best."""
    return sorted(facts, key=lambda f: (not f.is_truth, f.kind not in PAYMENT_LEVEL_EVENTS, f.sort_key()))


def _pick(values: Iterable[Any]) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


# ============================================================================ problems


def problems_of(
    active: Sequence[Fact],
    observations: Sequence[Balances],
    balances: Balances | None,
    flags: set[str],
    truth: Fact | None,
) -> list[str]:
    """Gaps and contradictions among the facts not covered by a snapshot."""
    out: list[str] = []
    for f in active:
        if f.kind in BALANCED_ACTION_EVENTS and f.balances is None:
            out.append(f"{f.kind} without balances")
        if f.balances is not None and f.balances.violations():
            out.append(f"{f.kind} balances inconsistent: {', '.join(f.balances.violations())}")
        own = _own_total(f)
        if own is not None and f.amount is not None and f.amount > own:
            out.append(f"{f.kind} amount exceeds its own balances")
    if truth is not None and truth.balances is not None and truth.balances.violations():
        out.append("snapshot balances inconsistent")
    for i, a in enumerate(observations):
        for b in observations[i + 1 :]:
            if not (_le(a.totals, b.totals) or _le(b.totals, a.totals)):
                out.append("balances of two events contradict each other")
                break
    out += _action_problems(active, balances)
    out += _flag_problems(balances, flags)
    out += _late_lifecycle_problems(active, truth)
    return out


def _action_problems(active: Sequence[Fact], balances: Balances | None) -> list[str]:
    """One action reported twice differently, or actions adding up to more than the balances."""
    out: list[str] = []
    actions: dict[str, tuple[str, int | None]] = {}
    for f in active:
        kind = BALANCED_ACTION_EVENTS.get(f.kind)
        if kind and f.action_id:
            prev = actions.setdefault(f.action_id, (kind, f.amount))
            if prev != (kind, f.amount):
                out.append(f"action {f.action_id} reported twice with different content")
    if balances is not None:
        for kind, total in (
            (ActionType.CAPTURE, balances.total_captured),
            (ActionType.REFUND, balances.total_refunded),
        ):
            seen = sum(amt or 0 for k, amt in actions.values() if k == kind)
            if seen > total:
                out.append(f"{kind.lower()} events add up to more than the balances say")
    return out


def _flag_problems(balances: Balances | None, flags: set[str]) -> list[str]:
    b = balances or Balances()
    conflicts = {
        "declined": b.total_authorized > 0,
        "canceled": b.total_authorized > 0,
        "voided": b.total_captured > 0 or "expired" in flags,
        "expired": b.total_captured > 0,
    }
    return [
        f"{flag} contradicts the balances or another flag"
        for flag, bad in conflicts.items()
        if flag in flags and bad
    ]


def _late_lifecycle_problems(active: Sequence[Fact], truth: Fact | None) -> list[str]:
    """A balance-less "in progress" event dated after money that rules it out.

    Real ``payment_pending`` and ``payment_capture_pending`` events carry no balances, so the
    event alone cannot say what the payment is now: a ``payment_pending`` dated after an
    authorization, or a ``payment_capture_pending`` dated after nothing was left to capture,
    means a step we have not seen (a new attempt, a re-authorization). Only the API can tell.
    """
    out: list[str] = []
    dated = [f for f in active if f.balances is not None]
    if truth is not None and truth.balances is not None:
        dated.append(truth)
    for f in active:
        if f.balances is not None:
            continue
        if f.kind == EventType.PAYMENT_PENDING:
            rules_out = [g for g in dated if g.at < f.at and g.balances and g.balances.total_authorized > 0]
        elif f.kind == EventType.PAYMENT_CAPTURE_PENDING:
            rules_out = [
                g
                for g in dated
                if g.at < f.at
                and g.balances
                and g.balances.total_captured > 0
                and g.balances.available_to_capture == 0
            ]
        else:
            continue
        if rules_out:
            out.append(f"{f.kind} dated after balances that rule it out")
    return out


def _own_total(f: Fact) -> int | None:
    if f.balances is None:
        return None
    return {
        EventType.PAYMENT_CAPTURED: f.balances.total_captured,
        EventType.PAYMENT_REFUNDED: f.balances.total_refunded,
        EventType.PAYMENT_VOIDED: f.balances.total_voided,
        EventType.PAYMENT_AUTHORIZATION_INCREMENTED: f.balances.total_authorized,
    }.get(f.kind)


def _le(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True))


def _status_since(
    status: str | None,
    payment_facts: Sequence[Fact],
    balances: Balances | None,
    truth: Fact | None,
    dispute: Fact | None,
) -> datetime | None:
    """When the current status was first implied: deterministic, whatever the arrival order."""
    times: list[datetime] = []
    flag = STATUS_FLAGS.get(status or "")
    if flag:
        times = [f.at for f in payment_facts if flag in flags_of(f)]
    elif balances is not None:
        times = [f.at for f in payment_facts if f.balances is not None and f.balances == balances]
    if not times and truth is not None:
        times = [truth.at]
    if not times:
        times = [f.at for f in payment_facts]
    since = min(times) if times else None
    if dispute is not None and (since is None or dispute.at > since):
        since = dispute.at
    return since
