"""What the simulated tenant stores: orders, refund requests, releases, notes -- minor units.

Records are kept in the neutral shape (our names, ints of minor units, aware datetimes);
``render.py`` turns them into FreshPortal's wire shape with its quirks (DD-MM-YYYY dates,
decimal-string amounts). Scenario dicts are normalised here, so a shared scenario only has to
say what matters to it (order number, currency, amount, status) and the rest is filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from checkout_freshportal.money import exponent, to_major
from checkout_freshportal.timeutil import parse_ts

from .config import ORDER_STATUSES, REFUND_REQUEST_STATUSES


@dataclass
class SbLine:
    line_id: int
    article_code: str
    description: str
    quantity: int
    unit: str
    unit_price_minor: int

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_price_minor


@dataclass
class SbInvoice:
    invoice_id: int
    invoice_number: str
    invoice_date: date
    due_date: date
    amount_minor: int


@dataclass
class SbOrder:
    order_id: int
    order_number: str
    status: str
    currency: str
    customer: dict[str, Any]
    billing_address: dict[str, Any]
    lines: list[SbLine]
    order_date: date
    delivery_date: date | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    invoices: list[SbInvoice] = field(default_factory=list)
    version: int = 1
    seq: int = 0
    #: The payment sub-resource as last written (neutral shape), or None.
    payment: dict[str, Any] | None = None
    #: Every write that changed the payment sub-resource, oldest first (for tests and demo).
    payment_history: list[dict[str, Any]] = field(default_factory=list)
    payment_puts: int = 0
    #: Scenario option: the payment status a FreshPortal user sets by hand right after the
    #: integration first writes one (a status that then differs from the derived one); once.
    manual_payment_status: str | None = None

    @property
    def amount_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


@dataclass
class SbRefundRequest:
    refund_request_id: int
    order_id: int
    order_number: str
    amount_minor: int
    currency: str
    reason: str
    status: str
    requested_at: datetime
    updated_at: datetime
    version: int = 1
    seq: int = 0
    outcome: dict[str, Any] | None = None
    outcome_puts: int = 0


@dataclass
class SbRelease:
    """One release of (part of) an order to fulfilment: the trigger of a capture."""

    release_id: int
    order_id: int
    order_number: str
    amount_minor: int
    currency: str
    complete: bool
    released_at: datetime
    updated_at: datetime
    version: int = 1
    seq: int = 0


@dataclass
class SbNote:
    note_id: int
    order_id: int
    text: str
    category: str
    external_ref: str | None
    created_at: datetime


def lines_for_amount(amount_minor: int, currency: str, first_line_id: int) -> list[SbLine]:
    """One line carrying exactly ``amount_minor`` (for scenario orders that give only a total)."""
    return [
        SbLine(
            line_id=first_line_id,
            article_code="MIX-ASSORTED",
            description="Assorted flowers and plants",
            quantity=1,
            unit="lot",
            unit_price_minor=amount_minor,
        )
    ]


def scenario_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        dec = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if dec != dec.to_integral_value():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(dec)


def scenario_datetime(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return parse_ts(value)
    try:
        return parse_ts(str(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def scenario_date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be YYYY-MM-DD, got {value!r}") from None


def check_order_status(status: str) -> str:
    if status not in ORDER_STATUSES:
        raise ValueError(f"order status {status!r} is not one of {list(ORDER_STATUSES)}")
    return status


def check_refund_status(status: str) -> str:
    if status not in REFUND_REQUEST_STATUSES:
        raise ValueError(f"refund request status {status!r} is not one of {list(REFUND_REQUEST_STATUSES)}")
    return status


def check_currency(code: Any) -> str:
    text = str(code or "").upper()
    try:
        exponent(text)
    except ValueError:
        raise ValueError(f"currency {code!r} is not an ISO 4217 currency with a minor unit") from None
    return text


def default_due_date(invoice_date: date) -> date:
    return invoice_date + timedelta(days=14)


def major_text(minor: int, currency: str) -> str:
    return str(to_major(minor, currency))
