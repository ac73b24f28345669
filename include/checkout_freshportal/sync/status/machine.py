"""The payment status state machine: pure, order-free, duplicate-free (docs/status-machine.md).

Checkout.com delivers webhooks at least once and in no particular order (reference §6.5), and
each payment event carries the payment's balances *after* its action (§6.2). So the status is
not "whatever arrived last" but a function of the **set** of facts known about a payment:

* a :class:`Fact` is one input: a webhook event or a ``GET /payments/{id}`` snapshot ("truth");
* a :class:`PaymentState` is a set of facts; :meth:`PaymentState.join` is set union followed by
  dropping facts that a stronger fact makes irrelevant (:func:`_prune`). Union is commutative,
  associative and idempotent, and the pruning is by a transitive dominance relation, so the
  join is a semilattice: any arrival order, any batching and any number of duplicates of the
  same facts give the same state;
* :meth:`PaymentState.derive` computes the status from the state by **precedence** rules over
  the joined balances and the terminal flags, never by arrival order.

Where the facts are incomplete or contradict each other the derivation lists ``problems`` and
the caller reads ``GET /payments/{id}`` once and folds the answer in (:func:`fact_from_payment`):
a snapshot covers every payment fact that happened up to the newest fact known when it was
taken, and only later facts are joined on top of it.

No I/O, no clock, no settings: everything here is a function of its arguments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts

#: ``kind`` of a fact built from ``GET /payments/{id}``.
TRUTH = "api_snapshot"

BALANCE_FIELDS: tuple[str, ...] = (
    "total_authorized",
    "total_voided",
    "available_to_void",
    "total_captured",
    "available_to_capture",
    "total_refunded",
    "available_to_refund",
)

#: Events whose action moves the balances; without balances they leave a gap only the API fills.
BALANCED_ACTION_EVENTS: dict[str, str] = {
    "payment_approved": "Authorization",
    "payment_captured": "Capture",
    "payment_refunded": "Refund",
    "payment_voided": "Void",
}
#: Terminal or lifecycle flags an event sets (a flag is a fact, not a position in time).
EVENT_FLAGS: dict[str, str] = {
    "payment_declined": "declined",
    "card_verification_declined": "declined",
    "payment_canceled": "canceled",
    "payment_voided": "voided",
    "payment_expired": "expired",
    "card_verified": "card_verified",
    "payment_pending": "pending",
}
#: Events that describe the payment itself, so their ``reference``/``metadata`` are the
#: payment's (capture/refund/void events carry the *action's* reference when it has one).
PAYMENT_LEVEL_EVENTS = frozenset(
    {
        "payment_approved",
        "payment_pending",
        "payment_declined",
        "payment_expired",
        "payment_canceled",
        "card_verified",
        "card_verification_declined",
        "payment_authorization_incremented",
    }
)
#: Decline-log kind of an event (ops_payment_declines.kind).
DECLINE_KINDS: dict[str, str] = {
    "payment_declined": "payment_declined",
    "card_verification_declined": "payment_declined",
    "payment_capture_declined": "capture_declined",
    "payment_void_declined": "void_declined",
    "payment_refund_declined": "refund_declined",
    "payment_expired": "expired",
    "payment_canceled": "canceled",
}
#: Decline-log kind of a declined action in a payment's ``actions[]`` (the API snapshot).
DECLINE_KIND_OF_ACTION: dict[str, str] = {
    "Authorization": "payment_declined",
    "Card Verification": "payment_declined",
    "Capture": "capture_declined",
    "Void": "void_declined",
    "Refund": "refund_declined",
}

#: Dispute event -> the dispute status it announces (reference §6.3, §8).
DISPUTE_EVENT_STATUS: dict[str, str] = {
    "dispute_received": "evidence_required",
    "dispute_evidence_required": "evidence_required",
    "dispute_evidence_submitted": "evidence_under_review",
    "dispute_evidence_acknowledged_by_scheme": "evidence_under_review",
    "dispute_accepted": "accepted",
    "dispute_expired": "expired",
    "dispute_won": "won",
    "dispute_lost": "lost",
    "dispute_canceled": "canceled",
    "dispute_resolved": "resolved",
    "dispute_arbitration_sent_to_scheme": "arbitration_under_review",
    "dispute_arbitration_evidence_submitted": "arbitration_under_review",
    "dispute_arbitration_won": "arbitration_won",
    "dispute_arbitration_lost": "arbitration_lost",
}
#: How far along its life a dispute status is: a higher rank always wins over a lower one,
#: whatever order the events arrive in. Equal ranks: the later event wins.
DISPUTE_RANK: dict[str, int] = {
    "evidence_required": 1,
    "unresolved": 2,
    "evidence_under_review": 2,
    "won": 3,
    "lost": 3,
    "accepted": 3,
    "expired": 3,
    "canceled": 3,
    "resolved": 3,
    "arbitration_under_review": 4,
    "arb_evidence_submitted": 4,
    "arbitration_won": 5,
    "arbitration_lost": 5,
}
#: Outcome class of a dispute status, in Checkout.com terms (who keeps the money).
DISPUTE_LOST = frozenset({"lost", "accepted", "expired", "arbitration_lost"})
DISPUTE_WON = frozenset({"won", "canceled", "resolved", "arbitration_won"})

#: The payment statuses this machine derives itself (anything else is taken from a snapshot).
MODELED_STATUSES = frozenset(
    {
        "Pending",
        "Authorized",
        "Card Verified",
        "Voided",
        "Partially Captured",
        "Captured",
        "Partially Refunded",
        "Refunded",
        "Declined",
        "Canceled",
        "Expired",
    }
)
_KNOWN_STATUSES = (*sorted(MODELED_STATUSES), "Paid", "Retry Scheduled", "Active", "Requested", "Returned")
#: Snapshot status -> the flag it stands for (balances carry the rest).
_STATUS_FLAGS: dict[str, str] = {
    "Declined": "declined",
    "Canceled": "canceled",
    "Voided": "voided",
    "Expired": "expired",
    "Card Verified": "card_verified",
    "Pending": "pending",
}


def canonical_status(value: str | None) -> str | None:
    """``"captured"``, ``"PARTIALLY_CAPTURED"`` -> the API's Title Case spelling (search is lower case)."""
    if value is None or not str(value).strip():
        return None
    key = " ".join(str(value).replace("_", " ").replace("-", " ").split()).casefold()
    for known in _KNOWN_STATUSES:
        if known.casefold() == key:
            return known
    return " ".join(w.capitalize() for w in key.split())


# ============================================================================ balances


@dataclass(frozen=True, slots=True, order=True)
class Balances:
    """A payment's balances at one moment, integer minor units (reference §3.2)."""

    total_authorized: int = 0
    total_voided: int = 0
    available_to_void: int = 0
    total_captured: int = 0
    available_to_capture: int = 0
    total_refunded: int = 0
    available_to_refund: int = 0

    @classmethod
    def parse(cls, raw: Any) -> Balances | None:
        """Balances from an event or API object; None when absent or not exact integers.

        A missing ``available_to_refund`` is derived (``captured - refunded``); any other missing
        or non-integer field (a float, a bool, a string) makes the whole object unusable: a
        guess here would become a status.
        """
        if not isinstance(raw, Mapping):
            return None
        values: dict[str, int] = {}
        for name in BALANCE_FIELDS:
            value = raw.get(name)
            if value is None and name == "available_to_refund":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            values[name] = value
        values.setdefault("available_to_refund", values["total_captured"] - values["total_refunded"])
        return cls(**values)

    def as_list(self) -> list[int]:
        return [getattr(self, name) for name in BALANCE_FIELDS]

    @classmethod
    def from_list(cls, values: Sequence[int]) -> Balances:
        return cls(*(int(v) for v in values))

    @property
    def totals(self) -> tuple[int, int, int, int]:
        """The four running totals, each non-decreasing over a payment's life."""
        return (self.total_authorized, self.total_captured, self.total_refunded, self.total_voided)

    def violations(self) -> list[str]:
        """Which invariants of §3.2 this snapshot breaks (empty: consistent)."""
        out = [f"{name} < 0" for name in BALANCE_FIELDS if getattr(self, name) < 0]
        if self.total_captured > self.total_authorized:
            out.append("captured > authorized")
        if self.total_refunded > self.total_captured:
            out.append("refunded > captured")
        if self.total_voided > self.total_authorized:
            out.append("voided > authorized")
        if self.available_to_refund != self.total_captured - self.total_refunded:
            out.append("available_to_refund != captured - refunded")
        if self.available_to_capture > self.total_authorized - self.total_captured:
            out.append("available_to_capture > authorized - captured")
        return out


def join_balances(observations: Iterable[Balances]) -> Balances | None:
    """The least upper bound of snapshots of one payment.

    Totals only grow, so each is the maximum. ``available_to_capture``/``available_to_void``
    only shrink while the authorized total stays the same (captures, voids, expiry), so each is
    the minimum among the snapshots at the highest ``total_authorized`` (an incremental
    authorization raises both). ``available_to_refund`` is ``captured - refunded``. For the
    snapshots of one real history this is exactly the newest one, whichever were seen.
    """
    obs = list(observations)
    if not obs:
        return None
    top_auth = max(b.total_authorized for b in obs)
    at_top = [b for b in obs if b.total_authorized == top_auth]
    captured = max(b.total_captured for b in obs)
    refunded = max(b.total_refunded for b in obs)
    return Balances(
        total_authorized=top_auth,
        total_voided=max(b.total_voided for b in obs),
        available_to_void=min(b.available_to_void for b in at_top),
        total_captured=captured,
        available_to_capture=min(b.available_to_capture for b in at_top),
        total_refunded=refunded,
        available_to_refund=captured - refunded,
    )


# ============================================================================ facts


@dataclass(frozen=True, slots=True)
class Fact:
    """One input about one payment. Equal facts (a duplicate delivery) are one fact.

    ``at`` is when it happened at Checkout.com (the envelope's ``created_on``/``timestamp``); for
    a snapshot it is the newest fact known when the snapshot was taken ("as of").
    """

    fact_id: str
    kind: str
    payment_id: str
    at: datetime
    action_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    balances: Balances | None = None
    api_status: str | None = None
    reference: str | None = None
    order_hint: str | None = None
    dispute_id: str | None = None
    dispute_status: str | None = None

    @property
    def is_truth(self) -> bool:
        return self.kind == TRUTH

    @property
    def is_dispute(self) -> bool:
        return self.dispute_id is not None

    @property
    def flag(self) -> str | None:
        if self.is_truth:
            return _STATUS_FLAGS.get(self.api_status or "")
        return EVENT_FLAGS.get(self.kind)

    def sort_key(self) -> tuple:
        """A total order on facts (used for deterministic tie-breaks only)."""
        return (self.at, self.kind, self.fact_id, json.dumps(self.to_json(), sort_keys=True))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.fact_id,
            "k": self.kind,
            "p": self.payment_id,
            "at": format_ts(self.at),
        }
        optional = {
            "act": self.action_id,
            "amt": self.amount,
            "cur": self.currency,
            "bal": self.balances.as_list() if self.balances is not None else None,
            "st": self.api_status,
            "ref": self.reference,
            "ord": self.order_hint,
            "dsp": self.dispute_id,
            "dst": self.dispute_status,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fact:
        at = parse_ts(raw["at"])
        assert at is not None
        return cls(
            fact_id=raw["id"],
            kind=raw["k"],
            payment_id=raw["p"],
            at=at,
            action_id=raw.get("act"),
            amount=raw.get("amt"),
            currency=raw.get("cur"),
            balances=Balances.from_list(raw["bal"]) if raw.get("bal") is not None else None,
            api_status=raw.get("st"),
            reference=raw.get("ref"),
            order_hint=raw.get("ord"),
            dispute_id=raw.get("dsp"),
            dispute_status=raw.get("dst"),
        )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    """Exact integer minor units only (JSON floats and bools are refused, never rounded)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _currency(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def order_hint_of(metadata: Any) -> str | None:
    """The FreshPortal order id a payment link put in the payment's metadata, if any."""
    if not isinstance(metadata, Mapping):
        return None
    return _text(metadata.get("freshportal_order_id"))


def payment_id_of(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The payment an event is about: ``data.id`` for gateway events, ``data.payment_id`` for disputes."""
    if event_type.startswith("dispute_") or event_type == "request_for_information_received":
        return _text(data.get("payment_id"))
    value = _text(data.get("id"))
    if value and value.startswith("pay_"):
        return value
    return _text(data.get("payment_id"))


def fact_from_event(event_id: str, event_type: str, at: datetime, data: Mapping[str, Any]) -> Fact | None:
    """The fact a webhook event states, or None when it says nothing about a payment's status.

    ``at`` is the envelope time (the caller substitutes the receipt time when the envelope has
    none). Events this machine does not know still count when they carry balances.
    """
    payment_id = payment_id_of(event_type, data)
    if payment_id is None:
        return None
    if event_type.startswith("dispute_"):
        status = DISPUTE_EVENT_STATUS.get(event_type) or _text(data.get("status"))
        dispute_id = _text(data.get("id"))
        if status not in DISPUTE_RANK or dispute_id is None:
            return None
        return Fact(
            fact_id=event_id,
            kind=event_type,
            payment_id=payment_id,
            at=at,
            amount=_int(data.get("amount")),
            currency=_currency(data.get("currency")),
            reference=_text(data.get("payment_reference")),
            dispute_id=dispute_id,
            dispute_status=status,
        )
    if not event_type.startswith(("payment_", "card_verifi")):
        return None
    balances = Balances.parse(data.get("balances"))
    known = event_type in EVENT_FLAGS or event_type in BALANCED_ACTION_EVENTS
    if not known and balances is None:
        return None  # e.g. payment_compliance_review: nothing to derive from
    payment_level = event_type in PAYMENT_LEVEL_EVENTS
    return Fact(
        fact_id=event_id,
        kind=event_type,
        payment_id=payment_id,
        at=at,
        action_id=_text(data.get("action_id")),
        amount=_int(data.get("amount")),
        currency=_currency(data.get("currency")),
        balances=balances,
        reference=_text(data.get("reference")) if payment_level else None,
        order_hint=order_hint_of(data.get("metadata")) if payment_level else None,
    )


def fact_from_payment(payment: Mapping[str, Any], as_of: datetime) -> Fact:
    """A ``GET /payments/{id}`` answer as a fact covering everything up to ``as_of``.

    ``as_of`` is the newest fact the caller knew when it asked (:meth:`PaymentState.as_of`):
    every payment fact up to then is reflected in the answer, so it replaces them; facts after
    it are joined on top. The fact id is a digest of the answer, so the same answer folded twice
    is one fact.
    """
    payment_id = _text(payment.get("id"))
    if payment_id is None:
        raise ValueError("payment object without an id")
    status = canonical_status(_text(payment.get("status")))
    balances = Balances.parse(payment.get("balances"))
    digest_src = json.dumps(
        [status, balances.as_list() if balances else None, format_ts(as_of)], separators=(",", ":")
    )
    return Fact(
        fact_id="api:" + hashlib.sha256(digest_src.encode()).hexdigest()[:16],
        kind=TRUTH,
        payment_id=payment_id,
        at=as_of,
        amount=_int(payment.get("amount")),
        currency=_currency(payment.get("currency")),
        balances=balances,
        api_status=status,
        reference=_text(payment.get("reference")),
        order_hint=order_hint_of(payment.get("metadata")),
    )


# ============================================================================ declines log


@dataclass(frozen=True, slots=True)
class DeclineRecord:
    """One row of ``ops_payment_declines``: what was refused or lapsed, with its codes."""

    decline_id: str  # the action id when there is one, else the event id
    payment_id: str
    kind: str
    event_id: str | None
    action_id: str | None
    response_code: str | None
    response_summary: str | None
    amount_minor: int | None
    currency: str | None
    occurred_at: datetime | None
    source: str  # "webhook" | "api"


def decline_from_event(
    event_id: str, event_type: str, at: datetime | None, data: Mapping[str, Any]
) -> DeclineRecord | None:
    kind = DECLINE_KINDS.get(event_type)
    payment_id = payment_id_of(event_type, data)
    if kind is None or payment_id is None:
        return None
    action_id = _text(data.get("action_id"))
    return DeclineRecord(
        decline_id=action_id or event_id,
        payment_id=payment_id,
        kind=kind,
        event_id=event_id,
        action_id=action_id,
        response_code=_text(data.get("response_code")),
        response_summary=_text(data.get("response_summary")),
        amount_minor=_int(data.get("amount")),
        currency=_currency(data.get("currency")),
        occurred_at=_parse_time(data.get("processed_on")) or at,
        source="webhook",
    )


def declines_from_payment(payment: Mapping[str, Any]) -> list[DeclineRecord]:
    """Declined actions listed by ``GET /payments/{id}`` (fills gaps left by lost webhooks)."""
    payment_id = _text(payment.get("id"))
    actions = payment.get("actions")
    if payment_id is None or not isinstance(actions, list):
        return []
    out = []
    for act in actions:
        if not isinstance(act, Mapping):
            continue
        kind = DECLINE_KIND_OF_ACTION.get(str(act.get("type")))
        action_id = _text(act.get("id"))
        if kind is None or action_id is None or not _is_declined(act):
            continue
        out.append(
            DeclineRecord(
                decline_id=action_id,
                payment_id=payment_id,
                kind=kind,
                event_id=None,
                action_id=action_id,
                response_code=_text(act.get("response_code")),
                response_summary=_text(act.get("response_summary")),
                amount_minor=_int(act.get("amount")),
                currency=_currency(payment.get("currency")),
                occurred_at=_parse_time(act.get("processed_on")),
                source="api",
            )
        )
    return out


def _is_declined(action: Mapping[str, Any]) -> bool:
    approved = action.get("approved")
    if isinstance(approved, bool):
        return not approved
    code = _text(action.get("response_code"))
    return code is not None and not code.startswith("10")  # 10xxx = approved (reference §10)


def _parse_time(value: Any) -> datetime | None:
    try:
        return parse_ts(value) if isinstance(value, str) else None
    except TimestampError:
        return None


# ============================================================================ state and join


def _dispute_key(f: Fact) -> tuple:
    return (DISPUTE_RANK.get(f.dispute_status or "", 0), *f.sort_key())


def _truth_key(f: Fact) -> tuple:
    return f.sort_key()


def _prune(facts: Iterable[Fact]) -> frozenset[Fact]:
    """Drop the facts a stronger fact in the same set makes irrelevant to :meth:`derive`.

    * every snapshot but the newest (by as-of, then content);
    * every payment fact at or before the newest snapshot's as-of (the snapshot reflects it);
    * every dispute fact but the most advanced one per dispute.

    Dominance is transitive, so ``prune(prune(A) | B) == prune(A | B)``: pruning early never
    changes a later join.
    """
    facts = set(facts)
    truths = [f for f in facts if f.is_truth]
    truth = max(truths, key=_truth_key) if truths else None
    best_dispute: dict[str, Fact] = {}
    for f in facts:
        if f.is_dispute:
            assert f.dispute_id is not None
            cur = best_dispute.get(f.dispute_id)
            if cur is None or _dispute_key(f) > _dispute_key(cur):
                best_dispute[f.dispute_id] = f
    kept: set[Fact] = set(best_dispute.values())
    if truth is not None:
        kept.add(truth)
    for f in facts:
        if f.is_truth or f.is_dispute:
            continue
        if truth is None or f.at > truth.at:
            kept.add(f)
    return frozenset(kept)


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
        return PaymentState(self.payment_id, _prune((*self.facts, *facts)))

    def join(self, other: PaymentState) -> PaymentState:
        if other.payment_id != self.payment_id:
            raise ValueError("cannot join the states of two payments")
        return PaymentState(self.payment_id, _prune(self.facts | other.facts))

    @property
    def truth(self) -> Fact | None:
        truths = [f for f in self.facts if f.is_truth]
        return max(truths, key=_truth_key) if truths else None

    def as_of(self) -> datetime | None:
        """The newest fact's time: what a snapshot taken now is "as of" (:func:`fact_from_payment`)."""
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
        return cls(payment_id, _prune(Fact.from_json(f) for f in raw.get("facts") or []))

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

    @property
    def needs_truth(self) -> bool:
        """The facts are missing or contradictory: ask ``GET /payments/{id}``."""
        return bool(self.problems)

    @property
    def money_moved(self) -> bool:
        b = self.balances
        return bool(b and (b.total_captured > 0 or b.total_refunded > 0)) or self.dispute_state is not None


def _status_from(balances: Balances | None, flags: set[str]) -> str | None:
    """The precedence rules (first match wins; docs/status-machine.md has the table)."""
    b = balances or Balances()
    if "declined" in flags and b.total_authorized == 0:
        return "Declined"
    if "canceled" in flags and b.total_authorized == 0:
        return "Canceled"
    if "voided" in flags and b.total_captured == 0:
        return "Voided"
    if "expired" in flags and b.total_captured == 0:
        return "Expired"
    if b.total_refunded > 0:
        full = b.total_refunded >= b.total_captured and b.available_to_capture == 0
        return "Refunded" if full else "Partially Refunded"
    if b.total_captured > 0:
        done = b.total_captured >= b.total_authorized or "capture_final" in flags
        return "Captured" if done else "Partially Captured"
    if b.total_authorized > 0:
        return "Authorized"
    if "card_verified" in flags:
        return "Card Verified"
    if "pending" in flags:
        return "Pending"
    return None


def _flags_of(f: Fact) -> set[str]:
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
        (f.kind == "payment_captured" and b is not None and b.available_to_capture == 0)
        or (f.is_truth and f.api_status == "Captured")
    ):
        out.add("capture_final")
    return out


def _disputes(facts: Iterable[Fact]) -> tuple[Fact | None, str | None]:
    """The dispute that decides the payment's dispute state: lost > open > won, then latest."""
    best: dict[str, Fact] = {}
    for f in facts:
        if f.is_dispute and f.dispute_id is not None:
            cur = best.get(f.dispute_id)
            if cur is None or _dispute_key(f) > _dispute_key(cur):
                best[f.dispute_id] = f
    if not best:
        return None, None

    def severity(f: Fact) -> tuple:
        status = f.dispute_status or ""
        cls = 3 if status in DISPUTE_LOST else 1 if status in DISPUTE_WON else 2
        return (cls, *f.sort_key())

    top = max(best.values(), key=severity)
    status = top.dispute_status or ""
    state = "Chargeback" if status in DISPUTE_LOST else "Dispute Won" if status in DISPUTE_WON else "Disputed"
    return top, state


def derive(state: PaymentState) -> Derivation:
    """Status, balances and problems of a payment, from its facts alone (pure)."""
    facts = state.facts
    truth = state.truth
    active = [f for f in facts if not f.is_truth and not f.is_dispute and (truth is None or f.at > truth.at)]
    payment_facts = [*active, *([truth] if truth is not None else [])]
    observations = [f.balances for f in payment_facts if f.balances is not None]
    balances = join_balances(observations)
    flags: set[str] = set()
    for f in payment_facts:
        flags |= _flags_of(f)

    problems: list[str] = []
    if truth is not None and not active:
        status = truth.api_status  # nothing newer than the snapshot: it is the answer
    else:
        status = _status_from(balances, flags)
        if status is None and truth is not None:
            status = truth.api_status
    problems += _problems(active, observations, balances, flags, truth)
    if not payment_facts:
        problems.append("no payment event yet (dispute events only)")

    dispute, dispute_state = _disputes(facts)
    currencies = {f.currency for f in facts if f.currency}
    if len(currencies) > 1:
        problems.append(f"currencies disagree: {sorted(currencies)}")
    reference = _pick(f.reference for f in _by_strength(facts))
    order_hint = _pick(f.order_hint for f in _by_strength(facts))
    if reference is None and order_hint is None and truth is None:
        problems.append("no payment reference or order id known")
    amount = _pick(
        f.amount for f in _by_strength(payment_facts) if f.kind in PAYMENT_LEVEL_EVENTS or f.is_truth
    )
    return Derivation(
        payment_id=state.payment_id,
        status=status,
        balances=balances,
        currency=_pick(f.currency for f in _by_strength(facts)),
        amount=amount,
        reference=reference,
        order_hint=order_hint,
        dispute_id=dispute.dispute_id if dispute else None,
        dispute_status=dispute.dispute_status if dispute else None,
        dispute_state=dispute_state,
        status_since=_status_since(status, payment_facts, balances, flags, truth, dispute),
        last_fact_at=state.as_of(),
        truth_at=truth.at if truth else None,
        problems=tuple(sorted(set(problems))),
    )


def _by_strength(facts: Iterable[Fact]) -> list[Fact]:
    """Snapshot first, then payment-level events, newest first: where identifying data is best."""
    return sorted(facts, key=lambda f: (not f.is_truth, f.kind not in PAYMENT_LEVEL_EVENTS, f.sort_key()))


def _pick(values: Iterable[Any]) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _problems(
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
    actions: dict[str, tuple[str, int | None]] = {}
    for f in active:
        kind = BALANCED_ACTION_EVENTS.get(f.kind)
        if kind and f.action_id:
            prev = actions.setdefault(f.action_id, (kind, f.amount))
            if prev != (kind, f.amount):
                out.append(f"action {f.action_id} reported twice with different content")
    if balances is not None:
        for kind, total in (("Capture", balances.total_captured), ("Refund", balances.total_refunded)):
            seen = sum(amt or 0 for k, amt in actions.values() if k == kind)
            if seen > total:
                out.append(f"{kind.lower()} events add up to more than the balances say")
    b = balances or Balances()
    conflicts = {
        "declined": b.total_authorized > 0,
        "canceled": b.total_authorized > 0,
        "voided": b.total_captured > 0 or "expired" in flags,
        "expired": b.total_captured > 0,
    }
    out += [
        f"{flag} contradicts the balances or another flag"
        for flag, bad in conflicts.items()
        if flag in flags and bad
    ]
    return out


def _own_total(f: Fact) -> int | None:
    if f.balances is None:
        return None
    return {
        "payment_captured": f.balances.total_captured,
        "payment_refunded": f.balances.total_refunded,
        "payment_voided": f.balances.total_voided,
    }.get(f.kind)


def _le(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True))


def _status_since(
    status: str | None,
    payment_facts: Sequence[Fact],
    balances: Balances | None,
    flags: set[str],
    truth: Fact | None,
    dispute: Fact | None,
) -> datetime | None:
    """When the current status was first implied: deterministic, whatever the arrival order."""
    times: list[datetime] = []
    flag = _STATUS_FLAGS.get(status or "")
    if flag:
        times = [f.at for f in payment_facts if flag in _flags_of(f)]
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


# ============================================================================ FreshPortal status


class StatusMapping(Protocol):
    """The part of ``FreshPortalMapping`` used here (the mapping itself is tenant config)."""

    def payment_status_for(self, checkout_status: str) -> str: ...
    def payment_status_for_dispute(self, dispute_status: str) -> str: ...


def freshportal_status(d: Derivation, mapping: StatusMapping) -> str | None:
    """The FreshPortal payment status of a derivation, through the tenant mapping.

    An open or lost dispute decides (``dispute_status_map``). A dispute closed in the merchant's
    favour gives the payment its dispute mapping (``won`` -> paid by default) unless money was
    refunded, in which case the payment's own status (Refunded / Partially Refunded) is the
    truer one: ``resolved`` means "auto-resolved because already refunded" (reference §6.3).
    """
    if d.dispute_status is not None and d.dispute_state in {"Disputed", "Chargeback"}:
        return mapping.payment_status_for_dispute(d.dispute_status)
    if d.dispute_status is not None and d.dispute_state == "Dispute Won":
        refunded = d.balances is not None and d.balances.total_refunded > 0
        if not (refunded and d.status):
            return mapping.payment_status_for_dispute(d.dispute_status)
    if d.status is None:
        return None
    return mapping.payment_status_for(d.status)


def refund_state(status: str | None, total_refunded: int | None) -> str:
    """FreshPortal ``refund_state`` from the derived status: none, partial or full."""
    if not total_refunded:
        return "none"
    return "full" if status == "Refunded" else "partial"


# ============================================================================ one order, many payments

#: Which payment speaks for an order when several exist (a declined try, then a paid one):
#: money that moved beats an open authorization beats an attempt in progress beats a dead one.
STATUS_STRENGTH: dict[str | None, int] = {
    "Captured": 4,
    "Partially Captured": 4,
    "Refunded": 4,
    "Partially Refunded": 4,
    "Paid": 4,
    "Authorized": 3,
    "Pending": 2,
    "Retry Scheduled": 2,
    "Card Verified": 2,
    "Voided": 1,
    "Expired": 1,
    "Canceled": 1,
    "Declined": 0,
    None: -1,
}


@dataclass(frozen=True)
class PaymentSummary:
    """What :func:`governing_payment` needs to know of one payment of an order."""

    payment_id: str
    status: str | None
    money_moved: bool
    status_since: datetime | None


def governing_payment(candidates: Sequence[PaymentSummary]) -> PaymentSummary | None:
    """The payment whose status is the order's: strongest status, then the latest, then by id."""
    if not candidates:
        return None

    def key(p: PaymentSummary) -> tuple:
        strength = 4 if p.money_moved else STATUS_STRENGTH.get(p.status, 2)
        since = p.status_since.timestamp() if p.status_since else float("-inf")
        return (strength, since, p.payment_id)

    return max(candidates, key=key)
