"""Facts: what one webhook event or one ``GET /payments/{id}`` answer says about a payment.

Checkout.com delivers webhooks at least once and in no particular order
(docs/checkout-com.md#webhook-delivery), and each payment event carries the payment's balances
*after* its action (docs/checkout-com.md#webhook-payloads). A :class:`Fact` is the part of one such
input the status machine needs; equal facts (a duplicate delivery) are one.

Real deliveries vary, and parsing is tolerant where a variation carries no meaning for the
status and strict where it does: extra envelope or ``data`` fields (``action_invocations``,
``data.trigger``, ``client_id``, any ``source.type``) are ignored; events that carry no balances
(``payment_pending``, ``payment_capture_pending``, ``payment_expired``) are facts without
balances; money that is not an exact integer is refused, never rounded (a guess would become a
status). Text an event carries that no warehouse column can hold (a NUL, a lone surrogate) or
too long to mean anything (a 10,000-character "reference") is refused with :class:`UnsafeText`,
which makes that one event poison; an API answer's such text is read as absent. Timestamps are
the envelope's, whichever ISO 8601 form (``Z`` or ``+00:00``, any
fraction) it uses -- the caller parses them with :func:`~checkout_freshportal.timeutil.parse_ts`.

No I/O, no clock, no settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout.models import MAX_MINOR, MIN_MINOR, Balances
from checkout_freshportal.checkout.statuses import (
    DISPUTE_EVENT_PREFIX,
    ActionType,
    EventType,
    PaymentStatus,
    canonical_status,
)
from checkout_freshportal.checkout.webhooks import MAX_ID_LENGTH
from checkout_freshportal.sync.status.disputes import dispute_status_of_event
from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts

__all__ = ["Balances", "Fact", "UnsafeText", "fact_from_event", "fact_from_payment", "join_balances"]

#: ``kind`` of a fact built from ``GET /payments/{id}``.
TRUTH = "api_snapshot"

#: Longest free text (a response summary, a resolved reason, a status) read from an input.
MAX_TEXT_LENGTH = 1000
#: Longest payment reference. docs/checkout-com.md records 50 characters for Checkout.com; 80
#: leaves room in case that inferred limit is low, while a 10,000-character text is plainly no
#: reference (and no order number to look up).
MAX_REFERENCE_LENGTH = 80
#: What no warehouse text column can hold: PostgreSQL refuses a NUL, and a lone surrogate cannot
#: be encoded to UTF-8 by any driver.
_UNWRITABLE = re.compile(r"[\x00\ud800-\udfff]")

#: Events whose action moves the balances; without balances they leave a gap only the API fills.
BALANCED_ACTION_EVENTS: dict[str, str] = {
    EventType.PAYMENT_APPROVED: ActionType.AUTHORIZATION,
    EventType.PAYMENT_AUTHORIZATION_INCREMENTED: ActionType.AUTHORIZATION,
    EventType.PAYMENT_CAPTURED: ActionType.CAPTURE,
    EventType.PAYMENT_REFUNDED: ActionType.REFUND,
    EventType.PAYMENT_VOIDED: ActionType.VOID,
}
#: Terminal or lifecycle flags an event sets (a flag is a fact, not a position in time).
EVENT_FLAGS: dict[str, str] = {
    EventType.PAYMENT_DECLINED: "declined",
    EventType.CARD_VERIFICATION_DECLINED: "declined",
    # 3DS failed: nothing was authorised (its payment reads Declined)
    EventType.PAYMENT_AUTHENTICATION_FAILED: "declined",
    EventType.PAYMENT_CANCELED: "canceled",
    EventType.PAYMENT_VOIDED: "voided",
    EventType.PAYMENT_EXPIRED: "expired",
    EventType.CARD_VERIFIED: "card_verified",
    EventType.PAYMENT_PENDING: "pending",
}
#: Events that say something about the payment although they carry no balances and set no flag:
#: a capture in flight. Kept as facts so a contradiction they reveal asks the API.
LIFECYCLE_EVENTS = frozenset({EventType.PAYMENT_CAPTURE_PENDING})
#: Events that describe the payment itself, so their ``reference``/``metadata`` are the
#: payment's (capture/refund/void events carry the *action's* reference when it has one).
PAYMENT_LEVEL_EVENTS = frozenset(
    {
        EventType.PAYMENT_APPROVED,
        EventType.PAYMENT_PENDING,
        EventType.PAYMENT_DECLINED,
        EventType.PAYMENT_EXPIRED,
        EventType.PAYMENT_CANCELED,
        EventType.CARD_VERIFIED,
        EventType.CARD_VERIFICATION_DECLINED,
        EventType.PAYMENT_AUTHENTICATION_FAILED,
        EventType.PAYMENT_AUTHORIZATION_INCREMENTED,
    }
)
#: Payment-level events whose ``amount`` is the payment's (an increment's is the increment).
PAYMENT_AMOUNT_EVENTS = PAYMENT_LEVEL_EVENTS - {EventType.PAYMENT_AUTHORIZATION_INCREMENTED}
#: Snapshot status -> the flag it stands for (balances carry the rest).
STATUS_FLAGS: dict[str, str] = {
    PaymentStatus.DECLINED: "declined",
    PaymentStatus.CANCELED: "canceled",
    PaymentStatus.VOIDED: "voided",
    PaymentStatus.EXPIRED: "expired",
    PaymentStatus.CARD_VERIFIED: "card_verified",
    PaymentStatus.PENDING: "pending",
}


# ============================================================================ balances


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
    resolved_reason: str | None = None  # a closed dispute's ``resolved_reason``

    @property
    def is_truth(self) -> bool:
        return self.kind == TRUTH

    @property
    def is_dispute(self) -> bool:
        return self.dispute_id is not None

    @property
    def flag(self) -> str | None:
        if self.is_truth:
            return STATUS_FLAGS.get(self.api_status or "")
        return EVENT_FLAGS.get(self.kind)

    def sort_key(self) -> tuple[Any, ...]:
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
            "rr": self.resolved_reason,
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
            resolved_reason=raw.get("rr"),
        )


# ============================================================================ reading JSON values


class UnsafeText(ValueError):
    """A text field of an event that no warehouse column can hold, or too long to mean anything.

    Raised rather than cleaned: cutting or stripping characters would turn a reference into a
    different reference, so the event is set aside as poison (the message names the field,
    never its value) and every other event of the batch is applied.
    """


def text_of(
    value: Any, *, name: str = "text", limit: int = MAX_TEXT_LENGTH, lenient: bool = False
) -> str | None:
    """A scalar as stripped text; objects, lists, bools and blanks are no text.

    Text with a NUL or a lone surrogate, or longer than ``limit``, raises :class:`UnsafeText`
    (``name`` says which field), or is no text when ``lenient`` (an API answer: it cannot be set
    aside like an event, and its balances and status still count).
    """
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    if not text:
        return None
    if _UNWRITABLE.search(text):
        problem = f"{name} holds a NUL or a lone surrogate"
    elif len(text) > limit:
        problem = f"{name} is longer than {limit} characters"
    else:
        return text
    if lenient:
        return None
    raise UnsafeText(problem)


def minor_of(value: Any) -> int | None:
    """Exact integer minor units only (floats, bools and integers no BIGINT holds are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_MINOR <= value <= MAX_MINOR:
        return None
    return value


def currency_of(value: Any, *, name: str = "currency", lenient: bool = False) -> str | None:
    text = text_of(value, name=name, lenient=lenient)
    return text.upper() if text else None


def id_of(value: Any, *, name: str, lenient: bool = False) -> str | None:
    """An id field (action, payment, order): the sidecar's id length bound applies."""
    return text_of(value, name=name, limit=MAX_ID_LENGTH, lenient=lenient)


def reference_of(value: Any, *, name: str = "data.reference", lenient: bool = False) -> str | None:
    return text_of(value, name=name, limit=MAX_REFERENCE_LENGTH, lenient=lenient)


def time_of(value: Any) -> datetime | None:
    """An optional timestamp field (``processed_on``): unreadable is unknown, not an error."""
    try:
        return parse_ts(value) if isinstance(value, str) else None
    except TimestampError:
        return None


def order_hint_of(metadata: Any, *, lenient: bool = False) -> str | None:
    """The FreshPortal order id a payment link put in the payment's metadata, if any."""
    if not isinstance(metadata, Mapping):
        return None
    return id_of(metadata.get("freshportal_order_id"), name="metadata.freshportal_order_id", lenient=lenient)


def payment_id_of(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The payment an event is about: ``data.id`` for gateway events, ``data.payment_id`` for disputes."""
    if (
        event_type.startswith(DISPUTE_EVENT_PREFIX)
        or event_type == EventType.REQUEST_FOR_INFORMATION_RECEIVED
    ):
        return id_of(data.get("payment_id"), name="data.payment_id")
    value = id_of(data.get("id"), name="data.id")
    if value and value.startswith("pay_"):
        return value
    return id_of(data.get("payment_id"), name="data.payment_id")


# ============================================================================ events and snapshots


def fact_from_event(event_id: str, event_type: str, at: datetime, data: Mapping[str, Any]) -> Fact | None:
    """The fact a webhook event states, or None when it says nothing about a payment's status.

    ``at`` is the envelope time (the caller substitutes the receipt time when the envelope has
    none). Events this machine does not know still count when they carry balances.
    """
    payment_id = payment_id_of(event_type, data)
    if payment_id is None:
        return None
    if event_type.startswith(DISPUTE_EVENT_PREFIX):
        return _dispute_fact(event_id, event_type, payment_id, at, data)
    if not event_type.startswith(("payment_", "card_verifi")):
        return None
    balances = Balances.parse(data.get("balances"))
    known = (
        event_type in EVENT_FLAGS or event_type in BALANCED_ACTION_EVENTS or event_type in LIFECYCLE_EVENTS
    )
    if not known and balances is None:
        return None  # e.g. payment_compliance_review: nothing to derive from
    payment_level = event_type in PAYMENT_LEVEL_EVENTS
    return Fact(
        fact_id=event_id,
        kind=event_type,
        payment_id=payment_id,
        at=at,
        action_id=id_of(data.get("action_id"), name="data.action_id"),
        amount=minor_of(data.get("amount")),
        currency=currency_of(data.get("currency"), name="data.currency"),
        balances=balances,
        reference=reference_of(data.get("reference")) if payment_level else None,
        order_hint=order_hint_of(data.get("metadata")) if payment_level else None,
    )


def _dispute_fact(
    event_id: str, event_type: str, payment_id: str, at: datetime, data: Mapping[str, Any]
) -> Fact | None:
    """A dispute event's fact: the status comes from the event type (real ``data`` has none)."""
    status = dispute_status_of_event(event_type, data)
    dispute_id = id_of(data.get("id"), name="data.id")
    if status is None or dispute_id is None:
        return None
    return Fact(
        fact_id=event_id,
        kind=event_type,
        payment_id=payment_id,
        at=at,
        amount=minor_of(data.get("amount")),
        currency=currency_of(data.get("currency"), name="data.currency"),
        reference=reference_of(data.get("payment_reference"), name="data.payment_reference"),
        dispute_id=dispute_id,
        dispute_status=status,
        resolved_reason=text_of(data.get("resolved_reason"), name="data.resolved_reason"),
    )


def fact_from_payment(payment: Mapping[str, Any], as_of: datetime) -> Fact:
    """A ``GET /payments/{id}`` answer as a fact covering everything up to ``as_of``.

    ``as_of`` is the newest fact the caller knew when it asked (``PaymentState.as_of``): every
    payment fact up to then is reflected in the answer, so it replaces them; facts after it are
    joined on top. The fact id is a digest of the answer, so the same answer folded twice is
    one fact.
    """
    payment_id = id_of(payment.get("id"), name="id", lenient=True)
    if payment_id is None:
        raise ValueError("payment object without an id")
    status = canonical_status(text_of(payment.get("status"), lenient=True))
    balances = Balances.parse(payment.get("balances"))
    digest_src = json.dumps(
        [status, balances.as_list() if balances else None, format_ts(as_of)], separators=(",", ":")
    )
    return Fact(
        fact_id="api:" + hashlib.sha256(digest_src.encode()).hexdigest()[:16],
        kind=TRUTH,
        payment_id=payment_id,
        at=as_of,
        amount=minor_of(payment.get("amount")),
        currency=currency_of(payment.get("currency"), lenient=True),
        balances=balances,
        api_status=status,
        reference=reference_of(payment.get("reference"), lenient=True),
        order_hint=order_hint_of(payment.get("metadata"), lenient=True),
    )
