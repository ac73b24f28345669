"""The in-memory objects of the simulated account (plain data; transitions live in world.py).

Money is ``int`` minor units everywhere except financial-action breakdown lines, which are
``Decimal`` major units with up to 8 decimals, as on the real API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

#: Statuses that are set explicitly and never re-derived from balances.
FIXED_STATUSES = frozenset({"Pending", "Declined", "Voided", "Expired", "Canceled", "Card Verified"})


@dataclass(slots=True)
class Account:
    """The merchant: one client entity, one sub-entity, one processing channel, currency accounts."""

    client_id: str
    client_entity_id: str
    sub_entity_id: str
    processing_channel_id: str
    currency_accounts: dict[str, str]
    merchant_country: str = "NL"
    mcc: str = "5992"  # florists
    mid: str = "mid-freshportal-01"


@dataclass(slots=True)
class Card:
    scheme: str
    bin: str
    last4: str
    expiry_month: int
    expiry_year: int
    card_type: str
    card_category: str
    issuer_country: str
    product_type: str
    fingerprint: str
    source_id: str
    name: str | None = None

    @property
    def payment_method(self) -> str:
        return {"American Express": "AMEX"}.get(self.scheme, self.scheme.upper())


@dataclass(slots=True)
class Action:
    id: str
    type: str
    processed_on: datetime
    amount: int
    approved: bool
    response_code: str
    response_summary: str
    reference: str | None = None
    auth_code: str | None = None
    metadata: dict[str, Any] | None = None
    capture_action_id: str | None = None
    #: An incremental authorization (``POST /payments/{id}/authorizations``,
    #: docs/checkout-com.md#captures-refunds-and-voids).
    incremental: bool = False


@dataclass(slots=True)
class FeeOverrides:
    """Per-payment fee settings from a scenario file; ``None`` fields use the defaults."""

    interchange_rate: Decimal | None = None
    scheme_variable_rate: Decimal | None = None
    scheme_fixed_fee: Decimal | None = None
    gateway_fee: Decimal | None = None
    chargeback_fee: Decimal | None = None
    fx_rate: Decimal | None = None


@dataclass(slots=True)
class Payment:
    id: str
    requested_on: datetime
    amount: int
    currency: str
    reference: str | None
    card: Card
    customer: dict[str, Any] | None
    metadata: dict[str, Any]
    description: str | None
    holding_currency: str
    currency_account_id: str
    region: str
    payment_type: str = "Regular"
    status: str = "Pending"
    approved: bool | None = None
    processed_on: datetime | None = None
    response_code: str | None = None
    response_summary: str | None = None
    auth_code: str | None = None
    expires_on: datetime | None = None
    capture: bool = True
    total_authorized: int = 0
    total_voided: int = 0
    total_captured: int = 0
    total_refunded: int = 0
    available_to_capture: int = 0
    available_to_void: int = 0
    capture_final: bool = False
    actions: list[Action] = field(default_factory=list)
    pending_capture: int = 0
    pending_refund: int = 0
    pending_void: bool = False
    session_id: str | None = None
    three_ds: dict[str, Any] | None = None
    success_url: str | None = None
    failure_url: str | None = None
    link_id: str | None = None
    updated_on: datetime | None = None
    fees: FeeOverrides | None = None
    dispute_ids: list[str] = field(default_factory=list)
    #: ``source.type`` as rendered (sources.py); the card stays for fees and search.
    source_type: str = "card"
    #: As requested (``POST /payments``, scenario files); None: not stated in answers.
    processing_channel_id: str | None = None
    #: Scenario option ``capture_settles``: False = captures get no financial action (never paid out).
    capture_settles: bool = True
    #: Scenario option ``payout_adjustment``: minor units (holding currency) the payout that pays
    #: out this payment's actions reports on top of its lines.
    payout_adjustment: int = 0

    @property
    def available_to_refund(self) -> int:
        return self.total_captured - self.total_refunded

    def balances(self) -> dict[str, int]:
        return {
            "total_authorized": self.total_authorized,
            "total_voided": self.total_voided,
            "available_to_void": self.available_to_void,
            "total_captured": self.total_captured,
            "available_to_capture": self.available_to_capture,
            "total_refunded": self.total_refunded,
            "available_to_refund": self.available_to_refund,
        }

    # What a new request may still take, counting 202-accepted actions not applied yet.
    def capturable_now(self) -> int:
        return self.available_to_capture - self.pending_capture

    def refundable_now(self) -> int:
        return self.available_to_refund - self.pending_refund

    def can_capture(self) -> bool:
        return self.status not in FIXED_STATUSES and not self.pending_void and self.capturable_now() > 0

    def can_refund(self) -> bool:
        return self.status not in FIXED_STATUSES and self.refundable_now() > 0

    def can_void(self) -> bool:
        return (
            self.status == "Authorized"
            and self.total_captured == 0
            and self.pending_capture == 0
            and not self.pending_void
            and self.available_to_void > 0
        )


@dataclass(slots=True)
class Dispute:
    id: str
    payment_id: str
    payment_action_id: str | None
    category: str
    status: str
    amount: int
    currency: str
    reason_code: str
    received_on: datetime
    last_update: datetime
    evidence_required_by: datetime | None
    payment_arn: str
    payment_method: str
    payment_reference: str | None
    resolved_reason: str | None = None
    history: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass(slots=True)
class BreakdownLine:
    breakdown_type: str
    fee_detail: str | None
    holding_amount: Decimal
    processing_amount: Decimal
    transaction_amount: Decimal
    is_fee: bool


@dataclass(slots=True)
class FinancialAction:
    payment_id: str
    action_id: str
    action_type: str
    processed_on: datetime
    requested_on: datetime
    reference: str | None
    currency_account_id: str
    holding_currency: str
    processing_currency: str
    transaction_currency: str
    fx_rate: Decimal
    region: str
    payment_method: str
    card_type: str
    card_category: str
    issuer_country: str
    lines: list[BreakdownLine]
    payout_id: str | None = None


@dataclass(slots=True)
class Payout:
    id: str
    currency_account_id: str
    currency: str
    date: datetime
    period_start: datetime
    period_end: datetime
    created_on: datetime
    amount: int  # minor units of the holding currency
    merchant_fee: int
    payments: Decimal
    refunds: Decimal
    chargebacks: Decimal
    interchange_fees: Decimal
    scheme_fees: Decimal
    processing_fees: Decimal
    financial_action_ids: list[str]


@dataclass(slots=True)
class ReportFile:
    id: str
    filename: str


@dataclass(slots=True)
class Report:
    id: str
    type: str
    description: str
    created_on: datetime
    from_: datetime
    to: datetime
    tags: list[str]
    files: list[ReportFile]
    payout_id: str | None = None
    payout_date: datetime | None = None


@dataclass(slots=True)
class PaymentLink:
    id: str
    created_on: datetime
    expires_on: datetime
    amount: int
    currency: str
    reference: str | None
    description: str | None
    billing: dict[str, Any]
    customer: dict[str, Any] | None
    metadata: dict[str, Any]
    products: list[Any]
    capture: bool
    return_url: str | None
    locale: str | None
    payment_id: str | None = None

    def status(self, now: datetime) -> str:
        if self.payment_id is not None:
            return "Payment Received"
        if now >= self.expires_on:
            return "Expired"
        return "Active"


# ---------------------------------------------------------------- plans (history and scenarios)


@dataclass(slots=True)
class PlannedAction:
    at: datetime
    kind: str  # capture | refund | void | increment
    amount: int | None
    action_id: str
    reference: str | None = None
    final: bool = False
    decline_code: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class PlannedDispute:
    dispute_id: str
    received_on: datetime
    amount: int
    category: str
    reason_code: str
    chargeback_action_id: str
    reversal_action_id: str
    #: Later status changes: (when, status), e.g. evidence_under_review then won.
    steps: list[tuple[datetime, str]] = field(default_factory=list)
    #: A retrieval request (``request_for_information_received``) instead of a dispute.
    retrieval: bool = False


@dataclass(slots=True)
class PaymentPlan:
    """One payment's life, decided up front; the world plays it out on the simulated clock."""

    payment_id: str
    auth_action_id: str
    requested_on: datetime
    amount: int
    currency: str
    reference: str | None
    card: Card
    customer: dict[str, Any] | None
    metadata: dict[str, Any]
    description: str | None = None
    decline_code: str | None = None
    actions: list[PlannedAction] = field(default_factory=list)
    disputes: list[PlannedDispute] = field(default_factory=list)
    fees: FeeOverrides | None = None
    holding_currency: str | None = None
    payment_type: str = "Regular"
    source_type: str = "card"
    processing_channel_id: str | None = None
    capture_settles: bool = True
    payout_adjustment: int = 0
