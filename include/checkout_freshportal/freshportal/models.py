"""Typed FreshPortal objects and their strict reading from API JSON.

Money is an ``int`` in the currency's minor unit next to its ISO 4217 code; unit prices, which
an ERP keeps with more decimals than the currency has (0.345 EUR a stem), stay exact
``Decimal`` major units. Field names on the wire come from the mapping config, never from
literals here, so a tenant with other names is a config change. Every parse error names the
field and the record (id and order number), never a customer e-mail; ``repr()`` of a customer
shows the e-mail masked and no address lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ..timeutil import format_ts
from .bodies import note_body, payment_update_body, refund_outcome_body
from .chargebacks import Chargeback, chargeback_from_api
from .errors import DataError
from .fields import FieldReader
from .mapping import REFUND_OUTCOMES, FreshPortalMapping
from .privacy import mask_email

# Request bodies are built in ``bodies.py`` and strict field reading lives in ``fields.py``;
# both stay importable from here, where callers have always found them.
__all__ = [
    "Address",
    "Customer",
    "InvoiceRef",
    "Note",
    "Order",
    "OrderLine",
    "OrderPayment",
    "Page",
    "PaymentStatusUpdate",
    "RefundOutcome",
    "RefundRequest",
    "note_body",
    "note_from_api",
    "note_from_listing",
    "order_from_api",
    "payment_from_api",
    "payment_update_body",
    "refund_outcome_body",
    "refund_request_from_api",
]

T = TypeVar("T")


# ====================================================================== read models
@dataclass(frozen=True)
class Customer:
    customer_id: str | None
    name: str | None
    email: str | None = field(default=None, repr=False)
    country: str | None = None

    @property
    def masked_email(self) -> str | None:
        return mask_email(self.email)

    def __repr__(self) -> str:
        return (
            f"Customer(customer_id={self.customer_id!r}, name={self.name!r}, "
            f"email={self.masked_email!r}, country={self.country!r})"
        )


@dataclass(frozen=True)
class Address:
    """Billing address; street lines are kept out of ``repr()`` (personal data of sole traders)."""

    line1: str | None = field(default=None, repr=False)
    line2: str | None = field(default=None, repr=False)
    postal_code: str | None = field(default=None, repr=False)
    city: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class OrderLine:
    line_id: str | None
    product_code: str | None
    description: str | None
    quantity: Decimal | None
    unit: str | None
    #: Exact major units: unit prices may carry more decimals than the currency.
    unit_price: Decimal | None
    line_total_minor: int | None
    currency: str


@dataclass(frozen=True)
class InvoiceRef:
    invoice_id: str | None
    invoice_number: str | None
    invoice_date: date | None
    due_date: date | None
    amount_minor: int | None
    currency: str


@dataclass(frozen=True)
class OrderPayment:
    """The order's payment sub-resource as FreshPortal stores it (what we last wrote)."""

    status: str | None
    currency: str | None = None
    amount_paid_minor: int | None = None
    amount_refunded_minor: int | None = None
    refund_state: str | None = None
    payment_link_id: str | None = None
    payment_link_url: str | None = None
    payment_id: str | None = None
    payout_reference: str | None = None
    status_changed_at: datetime | None = None
    sequence: int | None = None
    updated_at: datetime | None = None
    #: The dispute signal last written (assumed field), ``None`` when there is none.
    chargeback: Chargeback | None = None


@dataclass(frozen=True)
class Order:
    order_id: str
    order_number: str
    status: str
    #: ``status`` is in the mapping's ``confirmed_order_statuses``: the order needs a payment request.
    confirmed: bool
    currency: str
    amount_minor: int
    customer: Customer
    billing_address: Address | None = None
    lines: tuple[OrderLine, ...] = ()
    invoices: tuple[InvoiceRef, ...] = ()
    order_date: date | None = None
    delivery_date: date | None = None
    confirmed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = None
    payment: OrderPayment | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def invoice_numbers(self) -> tuple[str, ...]:
        return tuple(i.invoice_number for i in self.invoices if i.invoice_number)


@dataclass(frozen=True)
class RefundOutcome:
    """Outcome of a refund request: written by us, read back on the refund request.

    ``status`` is ours (``processing`` / ``succeeded`` / ``failed``), mapped to FreshPortal codes
    by ``refund_outcome_statuses``. ``failure_reason`` is a short code (no card or personal data).
    """

    status: str
    refunded_amount_minor: int | None = None
    currency: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    processed_at: datetime | None = None
    failure_reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in REFUND_OUTCOMES:
            raise ValueError(
                f"RefundOutcome.status must be one of {sorted(REFUND_OUTCOMES)}, got {self.status!r}"
            )
        _check_minor("refunded_amount_minor", self.refunded_amount_minor)
        if self.refunded_amount_minor is not None and not self.currency:
            raise ValueError("RefundOutcome: currency is required with refunded_amount_minor")
        if self.processed_at is not None:
            format_ts(self.processed_at)  # refuses naive datetimes


@dataclass(frozen=True)
class RefundRequest:
    refund_request_id: str
    order_id: str
    order_number: str | None
    amount_minor: int
    currency: str
    reason: str | None
    #: FreshPortal's own code, e.g. ``requested``.
    status: str
    #: Ours, via ``refund_request_statuses``: requested / processing / succeeded / failed / ...
    state: str
    requested_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = None
    outcome: RefundOutcome | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Note:
    note_id: str
    order_id: str
    text: str = field(repr=False)
    category: str | None = None
    external_ref: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a change feed; ``next_cursor`` resumes after its last item."""

    items: tuple[T, ...]
    next_cursor: str
    has_more: bool


# ====================================================================== write models
@dataclass(frozen=True)
class PaymentStatusUpdate:
    """The full payment sub-resource of an order, as we want FreshPortal to hold it.

    Written with ``PUT`` (replace): a field left ``None`` is written as ``null`` and clears what
    was there, so callers send everything they know -- which is what makes the write idempotent
    and safe to repeat. ``status`` is a FreshPortal payment status; build it from a Checkout.com
    status with :meth:`for_checkout_status`. ``sequence`` (assumed optional server feature) lets
    FreshPortal refuse an older write that arrives after a newer one (409). ``chargeback``
    (assumed field) is replaced like the rest: leaving it ``None`` clears a stored chargeback,
    so a writer that knows of a dispute must send it with every write.
    """

    status: str
    currency: str | None = None
    amount_paid_minor: int | None = None
    amount_refunded_minor: int | None = None
    refund_state: str | None = None
    payment_link_id: str | None = None
    payment_link_url: str | None = None
    payment_id: str | None = None
    payout_reference: str | None = None
    status_changed_at: datetime | None = None
    sequence: int | None = None
    chargeback: Chargeback | None = None

    def __post_init__(self) -> None:
        if not self.status:
            raise ValueError("PaymentStatusUpdate.status is required")
        if self.chargeback is not None and not isinstance(self.chargeback, Chargeback):
            raise ValueError("PaymentStatusUpdate.chargeback must be a Chargeback or None")
        _check_minor("amount_paid_minor", self.amount_paid_minor)
        _check_minor("amount_refunded_minor", self.amount_refunded_minor)
        if (
            self.amount_paid_minor is not None or self.amount_refunded_minor is not None
        ) and not self.currency:
            raise ValueError("PaymentStatusUpdate: currency is required with amounts")
        if self.payment_link_url is not None and not self.payment_link_url.startswith(
            ("https://", "http://")
        ):
            raise ValueError("PaymentStatusUpdate.payment_link_url must be an http(s) URL")
        if self.sequence is not None and (isinstance(self.sequence, bool) or self.sequence < 0):
            raise ValueError("PaymentStatusUpdate.sequence must be a non-negative int")
        if self.status_changed_at is not None:
            format_ts(self.status_changed_at)

    @classmethod
    def for_checkout_status(
        cls, checkout_status: str, mapping: FreshPortalMapping, **fields: Any
    ) -> PaymentStatusUpdate:
        """Map a Checkout.com status through the tenant mapping (unknown -> UnknownStatusError)."""
        return cls(status=mapping.payment_status_for(checkout_status), **fields)


def _check_minor(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int of minor units, got {value!r}")


# ====================================================================== reading JSON


def order_from_api(raw: Mapping[str, Any], m: FreshPortalMapping) -> Order:
    """Strictly read one order object (``GET /v1/orders/{id}`` or an item of the change feed)."""
    if not isinstance(raw, Mapping):
        raise DataError("an order is not a JSON object")
    probe = FieldReader(m, "order", raw, None)
    order_id = probe.id("order_id")
    number = probe.text("order_number")
    record = f"order {order_id}" + (f" ({number})" if number else "")
    r = FieldReader(m, "order", raw, record)
    status = r.text("status", required=True) or ""
    currency = r.currency("currency")
    addr_raw = r.object("billing_address")
    pay_raw = r.object("payment")
    return Order(
        order_id=order_id or "",
        order_number=r.text("order_number", required=True) or "",
        status=status,
        confirmed=m.is_confirmed(status, record=record),
        currency=currency,
        amount_minor=r.amount("amount", currency, required=True) or 0,
        customer=_customer_from_api(r.object("customer") or {}, m, record),
        billing_address=_address_from_api(addr_raw, m, record) if addr_raw is not None else None,
        lines=_lines_from_api(r, currency),
        invoices=_invoices_from_api(r, currency),
        order_date=r.date("order_date"),
        delivery_date=r.date("delivery_date"),
        confirmed_at=r.datetime("confirmed_at"),
        created_at=r.datetime("created_at"),
        updated_at=r.datetime("updated_at"),
        version=r.integer("version"),
        payment=payment_from_api(pay_raw, m, record=record) if pay_raw is not None else None,
        raw=dict(raw),
    )


def _customer_from_api(raw: Mapping[str, Any], m: FreshPortalMapping, record: str) -> Customer:
    c = FieldReader(m, "customer", raw, record)
    country = c.text("country")
    return Customer(
        customer_id=c.id("customer_id", required=False),
        name=c.text("name"),
        email=c.text("email"),
        country=country.upper() if country else None,
    )


def _address_from_api(raw: Mapping[str, Any], m: FreshPortalMapping, record: str) -> Address:
    a = FieldReader(m, "address", raw, record)
    country = a.text("country")
    return Address(
        line1=a.text("line1"),
        line2=a.text("line2"),
        postal_code=a.text("postal_code"),
        city=a.text("city"),
        country=country.upper() if country else None,
    )


def _lines_from_api(r: FieldReader, currency: str) -> tuple[OrderLine, ...]:
    """Each line is read in the order's currency; errors name the line by its 1-based position."""
    return tuple(
        OrderLine(
            line_id=line.id("line_id", required=False),
            product_code=line.text("product_code"),
            description=line.text("description"),
            quantity=line.decimal("quantity"),
            unit=line.text("unit"),
            unit_price=line.decimal("unit_price"),
            line_total_minor=line.amount("line_total", currency),
            currency=currency,
        )
        for line in r.each("lines", "order_line", "line")
    )


def _invoices_from_api(r: FieldReader, currency: str) -> tuple[InvoiceRef, ...]:
    """Each invoice is read in the order's currency; errors name it by its 1-based position."""
    return tuple(
        InvoiceRef(
            invoice_id=inv.id("invoice_id", required=False),
            invoice_number=inv.text("invoice_number"),
            invoice_date=inv.date("invoice_date"),
            due_date=inv.date("due_date"),
            amount_minor=inv.amount("amount", currency),
            currency=currency,
        )
        for inv in r.each("invoices", "invoice", "invoice")
    )


def payment_from_api(
    raw: Mapping[str, Any], m: FreshPortalMapping, *, record: str | None = None
) -> OrderPayment:
    """The payment sub-resource (inside an order, or the answer of the PUT)."""
    p = FieldReader(m, "payment", raw, f"{record or 'order'} payment")
    currency_raw = p.value("currency")
    currency = p.currency("currency") if currency_raw not in (None, "") else None
    paid = refunded = None
    if currency is not None:
        paid = p.amount("amount_paid", currency)
        refunded = p.amount("amount_refunded", currency)
    elif p.value("amount_paid") not in (None, "") or p.value("amount_refunded") not in (None, ""):
        raise DataError(
            f"{p.record}: amounts without {p.fname('currency')!r}", field=p.fname("currency"), record=p.record
        )
    return OrderPayment(
        status=p.text("status"),
        currency=currency,
        amount_paid_minor=paid,
        amount_refunded_minor=refunded,
        refund_state=p.text("refund_state"),
        payment_link_id=p.text("payment_link_id"),
        payment_link_url=p.text("payment_link_url"),
        payment_id=p.text("payment_id"),
        payout_reference=p.text("payout_reference"),
        status_changed_at=p.datetime("status_changed_at"),
        sequence=p.integer("sequence"),
        updated_at=p.datetime("updated_at"),
        chargeback=chargeback_from_api(p.value("chargeback"), m, record=p.record or "payment"),
    )


def refund_request_from_api(raw: Mapping[str, Any], m: FreshPortalMapping) -> RefundRequest:
    if not isinstance(raw, Mapping):
        raise DataError("a refund request is not a JSON object")
    probe = FieldReader(m, "refund_request", raw, None)
    rid = probe.id("refund_request_id")
    record = f"refund request {rid}"
    r = FieldReader(m, "refund_request", raw, record)
    currency = r.currency("currency")
    status = r.text("status", required=True) or ""
    outcome_raw = r.object("outcome")
    outcome = None
    if outcome_raw is not None and any(v not in (None, "") for v in outcome_raw.values()):
        o = FieldReader(m, "refund_outcome", outcome_raw, f"{record} outcome")
        o_currency_raw = o.value("currency")
        o_currency = o.currency("currency") if o_currency_raw not in (None, "") else currency
        outcome_state = m.refund_request_state(o.text("status", required=True) or "", record=record)
        outcome = RefundOutcome(
            status=outcome_state if outcome_state in REFUND_OUTCOMES else "failed",
            refunded_amount_minor=o.amount("refunded_amount", o_currency),
            currency=o_currency,
            payment_id=o.text("payment_id"),
            refund_id=o.text("refund_id"),
            processed_at=o.datetime("processed_at"),
            failure_reason=o.text("failure_reason"),
        )
    return RefundRequest(
        refund_request_id=rid or "",
        order_id=r.id("order_id") or "",
        order_number=r.text("order_number"),
        amount_minor=r.amount("amount", currency, required=True) or 0,
        currency=currency,
        reason=r.text("reason"),
        status=status,
        state=m.refund_request_state(status, record=record),
        requested_at=r.datetime("requested_at"),
        updated_at=r.datetime("updated_at"),
        version=r.integer("version"),
        outcome=outcome,
        raw=dict(raw),
    )


def note_from_api(raw: Mapping[str, Any], m: FreshPortalMapping) -> Note:
    if not isinstance(raw, Mapping):
        raise DataError("a note is not a JSON object")
    probe = FieldReader(m, "note", raw, None)
    nid = probe.id("note_id")
    n = FieldReader(m, "note", raw, f"note {nid}")
    return Note(
        note_id=nid or "",
        order_id=n.id("order_id") or "",
        text=n.text("text") or "",
        category=n.text("category"),
        external_ref=n.text("external_ref"),
        created_at=n.datetime("created_at"),
    )


def note_from_listing(raw: Mapping[str, Any], m: FreshPortalMapping, order_id: str) -> Note:
    """A note of an order's listing, read for finding ours by ``external_ref``.

    The listing also holds notes people and other integrations wrote, and the contract requires
    none of a note's fields: demanding an ``order_id`` of those would make our own note impossible
    to find or to post. Only the id, the reference and the creation time decide; the order is the
    one whose notes were asked for when the note does not say.
    """
    if not isinstance(raw, Mapping):
        raise DataError("a note is not a JSON object")
    nid = FieldReader(m, "note", raw, None).id("note_id")
    n = FieldReader(m, "note", raw, f"note {nid}")
    return Note(
        note_id=nid or "",
        order_id=n.id("order_id", required=False) or order_id,
        text=n.text("text") or "",
        category=n.text("category"),
        external_ref=n.text("external_ref"),
        created_at=n.datetime("created_at"),
    )
