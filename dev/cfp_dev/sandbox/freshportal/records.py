"""What the simulated tenant stores: orders, refund requests, releases, notes -- minor units.

Records are kept in the neutral shape (our names, ints of minor units, aware datetimes);
``render.py`` turns them into FreshPortal's wire shape with its quirks (DD-MM-YYYY dates,
decimal-string amounts). Scenario dicts are normalised here, so a shared scenario only has to
say what matters to it (order number, currency, amount, status) and the rest is filled in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from checkout_freshportal.checkout.models import MAX_MINOR, MIN_MINOR
from checkout_freshportal.money import exponent, to_major
from checkout_freshportal.timeutil import parse_ts

from .config import ORDER_STATUSES, REFUND_REQUEST_STATUSES

T = TypeVar("T")


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
    #: ``None`` for a note posted through the API; else the person who typed it in the portal,
    #: whose note the listing shows without the order's id (the contract requires none of them).
    typed_by: str | None = None


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


class ScenarioValueError(ValueError):
    """A bad scenario value: ``str()`` names it for the sandbox's one-line refusal, ``reason``
    is the bare complaint for a pre-check that prints the field's own path in front of it."""

    def __init__(self, name: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{name} {reason}" if name else reason)


class ScenarioRecordError(ValueError):
    """Every problem of one scenario record, by field, so a file is fixed in one pass and a
    pre-check can report each under its path (``freshportal.orders[3].amount_minor: ...``)."""

    def __init__(self, what: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        listing = "; ".join(f"{field}: {reason}" if field else reason for field, reason in problems)
        super().__init__(f"{what}: {listing}")


class RecordProblems:
    """Collects the problems of one scenario record instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.found.append((field, reason))

    def take(self, field: str, parse: Callable[[], T], fallback: T) -> T:
        """``parse()``, or ``fallback`` with its problem noted: the checks after it still run."""
        try:
            return parse()
        except ScenarioRecordError as exc:
            self.found.extend((_join(field, sub), reason) for sub, reason in exc.problems)
        except ScenarioValueError as exc:
            self.add(field, exc.reason)
        except ValueError as exc:
            self.add(field, str(exc))
        return fallback

    def raise_for(self, what: str) -> None:
        if self.found:
            raise ScenarioRecordError(what, self.found)


def order_and_amount(
    p: RecordProblems, data: dict[str, Any], orders_by_ref: dict[str, SbOrder]
) -> tuple[str, SbOrder | None, int | None]:
    """The order a refund request or a release names (``order_number`` or ``order_id``) and its
    ``amount_minor`` (default: the whole order), within 1..the order's amount; problems noted."""
    ref = str(data.get("order_number") or data.get("order_id") or "")
    order = orders_by_ref.get(ref)
    if order is None:
        p.add("order_number" if "order_id" not in data else "order_id", f"unknown order {ref!r}")
        return ref, None, None
    given = data.get("amount_minor", order.amount_minor)
    amount = p.take("amount_minor", lambda: scenario_int(given, "amount_minor"), None)
    if amount is not None and not 0 < amount <= order.amount_minor:
        p.add("amount_minor", f"must be within 1..order amount ({order.amount_minor}), got {amount}")
    return ref, order, amount


def _join(field: str, sub: str) -> str:
    if not sub:
        return field
    return f"{field}{sub}" if sub.startswith("[") else f"{field}.{sub}"


def unknown_keys(problems: RecordProblems, data: dict[str, Any], known: frozenset[str] | set[str]) -> None:
    """One problem per unknown key: a misspelt key (``amount_minr``) is a value silently lost."""
    for key in sorted(set(data) - known, key=str):
        problems.add(str(key), f"unknown key (known: {', '.join(sorted(known))})")


def scenario_int(value: Any, name: str, minimum: int | None = None) -> int:
    """A JSON integer, nothing else: ``"480.00"`` read as 480 minor units would be EUR 4.80, a
    float may have lost digits already, and a value beyond a signed 64-bit integer fits no
    warehouse column."""
    if isinstance(value, bool) or not isinstance(value, int):
        got = (
            json.dumps(value)
            if isinstance(value, str | float | bool) or value is None
            else type(value).__name__
        )
        raise ScenarioValueError(
            name, f"must be an integer (amounts in minor units, e.g. 1250 for EUR 12.50), got {got}"
        )
    if not MIN_MINOR <= value <= MAX_MINOR:
        raise ScenarioValueError(name, "must fit a signed 64-bit integer")
    if minimum is not None and value < minimum:
        raise ScenarioValueError(name, f"must be >= {minimum}, got {value}")
    return value


def scenario_datetime(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return parse_ts(value)
    if not isinstance(value, str):
        raise ScenarioValueError(name, f"must be an ISO 8601 time with an offset, got {json.dumps(value)}")
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise ScenarioValueError(name, str(exc)) from None


def scenario_date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ScenarioValueError(name, f"must be YYYY-MM-DD, got {value!r}")


def check_order_status(status: Any) -> str:
    if status not in ORDER_STATUSES:
        raise ValueError(f"order status {status!r} is not one of {list(ORDER_STATUSES)}")
    return str(status)


def check_refund_status(status: Any) -> str:
    if status not in REFUND_REQUEST_STATUSES:
        raise ValueError(f"refund request status {status!r} is not one of {list(REFUND_REQUEST_STATUSES)}")
    return str(status)


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
