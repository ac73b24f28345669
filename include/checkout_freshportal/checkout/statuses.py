"""Checkout.com's vocabulary: payment statuses, balance names, action, event and dispute types.

The API and its webhooks spell all of these as plain strings, and several parts of the project
read them (ingestion, the status state machine, payment links, the warehouse schema). A spelling
written out twice drifts silently -- a status one module knows and another does not becomes a
payment stuck in the wrong state -- so each word is defined here once and imported everywhere.

Plain strings rather than enums: the values travel unchanged into JSON state, SQL parameters and
log lines, and compare equal to what the API sends. The classes are namespaces, not types.
No imports, no I/O: anything in the project may depend on this module.
"""

from __future__ import annotations

from typing import Final


def _words(vocabulary: type) -> tuple[str, ...]:
    """A vocabulary class's words in the order they are written there: each list of "every X" is
    derived from its class, so adding a word to the class cannot leave the list behind."""
    return tuple(v for k, v in vars(vocabulary).items() if k.isupper() and isinstance(v, str))


class PaymentStatus:
    """``status`` of ``GET /payments/{id}`` (Title Case, as the API spells it)."""

    PENDING: Final = "Pending"
    AUTHORIZED: Final = "Authorized"
    CARD_VERIFIED: Final = "Card Verified"
    VOIDED: Final = "Voided"
    PARTIALLY_CAPTURED: Final = "Partially Captured"
    CAPTURED: Final = "Captured"
    PARTIALLY_REFUNDED: Final = "Partially Refunded"
    REFUNDED: Final = "Refunded"
    DECLINED: Final = "Declined"
    CANCELED: Final = "Canceled"
    EXPIRED: Final = "Expired"
    PAID: Final = "Paid"
    ACTIVE: Final = "Active"
    REQUESTED: Final = "Requested"
    AUTHENTICATION_REQUESTED: Final = "Authentication Requested"
    RETRY_SCHEDULED: Final = "Retry Scheduled"
    RETURNED: Final = "Returned"


#: Every payment status the API is known to report, in the API reference's order.
PAYMENT_STATUSES: tuple[str, ...] = _words(PaymentStatus)

#: The statuses the status state machine derives from events itself; any other status is only
#: ever taken verbatim from a ``GET /payments/{id}`` snapshot (docs/status-machine.md).
MODELED_STATUSES: frozenset[str] = frozenset(
    {
        PaymentStatus.PENDING,
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CARD_VERIFIED,
        PaymentStatus.VOIDED,
        PaymentStatus.PARTIALLY_CAPTURED,
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.DECLINED,
        PaymentStatus.CANCELED,
        PaymentStatus.EXPIRED,
    }
)


def canonical_status(value: str | None) -> str | None:
    """``"captured"``, ``"PARTIALLY_CAPTURED"`` -> the API's Title Case spelling.

    Payment search answers in lower case and some reports use snake case; comparing statuses
    across sources needs one spelling. An unknown status keeps its words, title-cased.
    """
    if value is None or not str(value).strip():
        return None
    key = " ".join(str(value).replace("_", " ").replace("-", " ").split()).casefold()
    for known in PAYMENT_STATUSES:
        if known.casefold() == key:
            return known
    return " ".join(w.capitalize() for w in key.split())


class PaymentType:
    """``payment_type`` of a payment (the API reference's spelling; search answers lower case)."""

    REGULAR: Final = "Regular"
    RECURRING: Final = "Recurring"
    MOTO: Final = "MOTO"
    INSTALLMENT: Final = "Installment"
    PAY_LATER: Final = "PayLater"
    UNSCHEDULED: Final = "Unscheduled"


#: Every payment type the API reference names.
PAYMENT_TYPES: tuple[str, ...] = _words(PaymentType)


def canonical_payment_type(value: str | None) -> str | None:
    """``"regular"``, ``"PAY_LATER"`` -> the API's spelling; an unknown type keeps its text."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    key = text.replace("_", "").replace(" ", "").casefold()
    for known in PAYMENT_TYPES:
        if known.casefold() == key:
            return known
    return text


def canonical_card_type(value: str | None) -> str | None:
    """``"credit"``, ``"Credit"``, ``"CREDIT"`` -> ``"CREDIT"``: the API spells a card's type in
    every case (docs/checkout-com.md#payments), and a group-by must not split one type in three."""
    if value is None or not str(value).strip():
        return None
    return " ".join(str(value).replace("_", " ").split()).upper()


class DisputeState:
    """What a payment's disputes amount to, in the state machine's words (not an API field)."""

    DISPUTED: Final = "Disputed"
    CHARGEBACK: Final = "Chargeback"
    DISPUTE_WON: Final = "Dispute Won"


#: Statuses (and dispute states) whose FreshPortal mapping means "money has moved or is held":
#: an order in such a payment status gets no new payment link and a link never overwrites it.
SETTLED_CHECKOUT_STATUSES: tuple[str, ...] = (
    PaymentStatus.AUTHORIZED,
    PaymentStatus.PARTIALLY_CAPTURED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    DisputeState.DISPUTED,
    DisputeState.CHARGEBACK,
    DisputeState.DISPUTE_WON,
)

# ------------------------------------------------------------------------------------- balances


class Balance:
    """Fields of a payment's ``balances`` object (integer minor units, docs/checkout-com.md#balances)."""

    TOTAL_AUTHORIZED: Final = "total_authorized"
    TOTAL_VOIDED: Final = "total_voided"
    AVAILABLE_TO_VOID: Final = "available_to_void"
    TOTAL_CAPTURED: Final = "total_captured"
    AVAILABLE_TO_CAPTURE: Final = "available_to_capture"
    TOTAL_REFUNDED: Final = "total_refunded"
    AVAILABLE_TO_REFUND: Final = "available_to_refund"


#: The seven balance fields in the API's order (warehouse columns are ``<name>_minor``).
BALANCE_FIELDS: tuple[str, ...] = _words(Balance)

# -------------------------------------------------------------------------------------- actions


class ActionType:
    """``type`` of an entry of ``GET /payments/{id}/actions``."""

    AUTHORIZATION: Final = "Authorization"
    CARD_VERIFICATION: Final = "Card Verification"
    VOID: Final = "Void"
    CAPTURE: Final = "Capture"
    REFUND: Final = "Refund"
    PAYOUT: Final = "Payout"
    RETURN: Final = "Return"


#: Gateway action types that move a payment's balances (payment search also returns
#: pseudo-actions such as ``Dispute`` and ``Authentication``, which are not payment actions).
GATEWAY_ACTION_TYPES: frozenset[str] = frozenset(
    {
        ActionType.AUTHORIZATION,
        ActionType.CARD_VERIFICATION,
        ActionType.VOID,
        ActionType.CAPTURE,
        ActionType.REFUND,
        ActionType.PAYOUT,
        ActionType.RETURN,
    }
)


class ActionStatus:
    """``status`` of an action inside a payment search result, which carries it *instead of*
    ``approved`` (docs/checkout-com.md#payment-actions)."""

    APPROVED: Final = "Approved"
    PENDING: Final = "Pending"
    DECLINED: Final = "Declined"


#: Every action status seen, Title Case.
ACTION_STATUSES: tuple[str, ...] = _words(ActionStatus)


def canonical_action_status(value: str | None) -> str | None:
    """``"approved"`` -> ``"Approved"``; an unknown status keeps its words, title-cased."""
    if value is None or not str(value).strip():
        return None
    key = " ".join(str(value).replace("_", " ").split()).casefold()
    for known in ACTION_STATUSES:
        if known.casefold() == key:
            return known
    return " ".join(w.capitalize() for w in key.split())


def action_approved(approved: object, status: object) -> bool | None:
    """Whether an action was approved: its ``approved`` flag, else what its ``status`` says
    (``Approved`` yes, ``Declined`` no); a ``Pending`` action, or one that says neither, is
    not known to be either and answers None."""
    if isinstance(approved, bool):
        return approved
    word = canonical_action_status(status) if isinstance(status, str) else None
    if word == ActionStatus.APPROVED:
        return True
    if word == ActionStatus.DECLINED:
        return False
    return None


#: The running total each balance-moving action type adds to.
BALANCE_OF_ACTION_TYPE: dict[str, str] = {
    ActionType.AUTHORIZATION: Balance.TOTAL_AUTHORIZED,
    ActionType.CAPTURE: Balance.TOTAL_CAPTURED,
    ActionType.REFUND: Balance.TOTAL_REFUNDED,
    ActionType.VOID: Balance.TOTAL_VOIDED,
}

# ------------------------------------------------------------------------------- webhook events


class EventType:
    """Webhook event ``type`` values the project reads (others are stored and ignored)."""

    PAYMENT_APPROVED: Final = "payment_approved"
    PAYMENT_PENDING: Final = "payment_pending"
    PAYMENT_DECLINED: Final = "payment_declined"
    PAYMENT_EXPIRED: Final = "payment_expired"
    PAYMENT_CANCELED: Final = "payment_canceled"
    PAYMENT_AUTHORIZATION_INCREMENTED: Final = "payment_authorization_incremented"
    PAYMENT_AUTHORIZATION_INCREMENT_DECLINED: Final = "payment_authorization_increment_declined"
    PAYMENT_AUTHENTICATION_FAILED: Final = "payment_authentication_failed"
    CARD_VERIFIED: Final = "card_verified"
    CARD_VERIFICATION_DECLINED: Final = "card_verification_declined"
    PAYMENT_CAPTURED: Final = "payment_captured"
    PAYMENT_CAPTURE_PENDING: Final = "payment_capture_pending"
    PAYMENT_CAPTURE_DECLINED: Final = "payment_capture_declined"
    PAYMENT_REFUNDED: Final = "payment_refunded"
    PAYMENT_REFUND_DECLINED: Final = "payment_refund_declined"
    PAYMENT_VOIDED: Final = "payment_voided"
    PAYMENT_VOID_DECLINED: Final = "payment_void_declined"
    DISPUTE_RECEIVED: Final = "dispute_received"
    DISPUTE_EVIDENCE_REQUIRED: Final = "dispute_evidence_required"
    DISPUTE_EVIDENCE_SUBMITTED: Final = "dispute_evidence_submitted"
    DISPUTE_EVIDENCE_ACKNOWLEDGED_BY_SCHEME: Final = "dispute_evidence_acknowledged_by_scheme"
    DISPUTE_ACCEPTED: Final = "dispute_accepted"
    DISPUTE_EXPIRED: Final = "dispute_expired"
    DISPUTE_WON: Final = "dispute_won"
    DISPUTE_LOST: Final = "dispute_lost"
    DISPUTE_CANCELED: Final = "dispute_canceled"
    DISPUTE_RESOLVED: Final = "dispute_resolved"
    DISPUTE_ARBITRATION_SENT_TO_SCHEME: Final = "dispute_arbitration_sent_to_scheme"
    DISPUTE_ARBITRATION_EVIDENCE_SUBMITTED: Final = "dispute_arbitration_evidence_submitted"
    DISPUTE_ARBITRATION_EVIDENCE_ACKNOWLEDGED_BY_SCHEME: Final = (
        "dispute_arbitration_evidence_acknowledged_by_scheme"
    )
    DISPUTE_ARBITRATION_WON: Final = "dispute_arbitration_won"
    DISPUTE_ARBITRATION_LOST: Final = "dispute_arbitration_lost"
    REQUEST_FOR_INFORMATION_RECEIVED: Final = "request_for_information_received"


#: Prefix of every dispute event type (their ``data`` is the dispute; the payment is
#: ``data.payment_id``).
DISPUTE_EVENT_PREFIX: Final = "dispute_"
#: Prefix of the dispute events of the arbitration stage.
DISPUTE_ARBITRATION_PREFIX: Final = "dispute_arbitration_"

# ------------------------------------------------------------------------------------- disputes


class DisputeStatus:
    """``status`` of a Checkout.com dispute (lower snake case, as the API spells it)."""

    EVIDENCE_REQUIRED: Final = "evidence_required"
    EVIDENCE_UNDER_REVIEW: Final = "evidence_under_review"
    UNRESOLVED: Final = "unresolved"
    CANCELED: Final = "canceled"
    EXPIRED: Final = "expired"
    ACCEPTED: Final = "accepted"
    WON: Final = "won"
    LOST: Final = "lost"
    RESOLVED: Final = "resolved"
    ARBITRATION_UNDER_REVIEW: Final = "arbitration_under_review"
    ARB_EVIDENCE_SUBMITTED: Final = "arb_evidence_submitted"
    ARBITRATION_WON: Final = "arbitration_won"
    ARBITRATION_LOST: Final = "arbitration_lost"


#: Every dispute status, in life-cycle order.
DISPUTE_STATUSES: tuple[str, ...] = _words(DisputeStatus)
