"""Typed FreshPortal objects and their strict reading from (and writing to) API JSON.

Money is an ``int`` in the currency's minor unit next to its ISO 4217 code; unit prices, which
an ERP keeps with more decimals than the currency has (0.345 EUR a stem), stay exact
``Decimal`` major units. Field names on the wire come from the mapping config, never from
literals here, so a tenant with other names is a config change. Every parse error names the
field and the record (id and order number), never a customer e-mail; ``repr()`` of a customer
shows the e-mail masked and no address lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from ..money import UnknownCurrencyError, exponent
from ..timeutil import format_ts
from .chargebacks import Chargeback, chargeback_body, chargeback_from_api
from .dates import parse_date, parse_datetime
from .errors import DataError
from .mapping import REFUND_OUTCOMES, FreshPortalMapping
from .privacy import mask_email

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


# ====================================================================== reading JSON
def _check_minor(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int of minor units, got {value!r}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    return text or None


def _id(value: Any, field_name: str, record: str | None, *, required: bool = True) -> str | None:
    """Ids may come as JSON integers or strings (assumed integers); we keep them as strings."""
    if isinstance(value, (bool, float)):
        raise DataError(
            f"field {field_name!r} of {record}: id {value!r} is not an integer or string",
            field=field_name,
            record=record,
        )
    text = _text(value)
    if text is None and required:
        raise DataError(
            f"field {field_name!r} of {record or 'a record'} is missing", field=field_name, record=record
        )
    return text


def _int(value: Any, field_name: str, record: str | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bool, float)):
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an integer", field=field_name, record=record
        )
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        dec = None
    if dec is None or not dec.is_finite() or dec != dec.to_integral_value():
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an integer", field=field_name, record=record
        )
    return int(dec)


def _decimal(value: Any, field_name: str, record: str | None) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise DataError(
            f"field {field_name!r} of {record}: refusing a float", field=field_name, record=record
        )
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not a decimal", field=field_name, record=record
        ) from None
    if not dec.is_finite():
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not finite", field=field_name, record=record
        )
    return dec


def _currency(value: Any, field_name: str, record: str | None) -> str:
    code = (_text(value) or "").upper()
    try:
        exponent(code)
    except UnknownCurrencyError:
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an ISO 4217 currency",
            field=field_name,
            record=record,
        ) from None
    return code


def _object(value: Any, field_name: str, record: str | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataError(
            f"field {field_name!r} of {record}: expected an object", field=field_name, record=record
        )
    return value


def _list(value: Any, field_name: str, record: str | None) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataError(f"field {field_name!r} of {record}: expected a list", field=field_name, record=record)
    return value


class _Reader:
    """Reads one entity of one record: mapped names, strict types, errors naming the record."""

    def __init__(
        self, m: FreshPortalMapping, entity: str, raw: Mapping[str, Any], record: str | None
    ) -> None:
        self.m, self.entity, self.raw, self.record = m, entity, raw, record

    def fname(self, name: str) -> str:
        return self.m.path(self.entity, name)

    def value(self, name: str) -> Any:
        return self.m.get(self.entity, self.raw, name)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = _text(self.value(name))
        if value is None and required:
            raise DataError(
                f"field {self.fname(name)!r} of {self.record} is missing",
                field=self.fname(name),
                record=self.record,
            )
        return value

    def id(self, name: str, *, required: bool = True) -> str | None:
        return _id(self.value(name), self.fname(name), self.record, required=required)

    def integer(self, name: str) -> int | None:
        return _int(self.value(name), self.fname(name), self.record)

    def decimal(self, name: str) -> Decimal | None:
        return _decimal(self.value(name), self.fname(name), self.record)

    def currency(self, name: str) -> str:
        return _currency(self.value(name), self.fname(name), self.record)

    def amount(self, name: str, currency: str, *, required: bool = False) -> int | None:
        minor = self.m.amount_to_minor(self.value(name), currency, field=self.fname(name), record=self.record)
        if minor is None and required:
            raise DataError(
                f"field {self.fname(name)!r} of {self.record} is missing",
                field=self.fname(name),
                record=self.record,
            )
        return minor

    def date(self, name: str) -> date | None:
        return parse_date(self.value(name), field=self.fname(name), record=self.record)

    def datetime(self, name: str) -> datetime | None:
        return parse_datetime(
            self.value(name), field=self.fname(name), record=self.record, local_tz=self.m.local_timezone
        )

    def object(self, name: str) -> Mapping[str, Any] | None:
        return _object(self.value(name), self.fname(name), self.record)

    def list(self, name: str) -> Sequence[Any]:
        return _list(self.value(name), self.fname(name), self.record)


def order_from_api(raw: Mapping[str, Any], m: FreshPortalMapping) -> Order:
    """Strictly read one order object (``GET /v1/orders/{id}`` or an item of the change feed)."""
    if not isinstance(raw, Mapping):
        raise DataError("an order is not a JSON object")
    probe = _Reader(m, "order", raw, None)
    order_id = probe.id("order_id")
    number = _text(probe.value("order_number"))
    record = f"order {order_id}" + (f" ({number})" if number else "")
    r = _Reader(m, "order", raw, record)
    status = r.text("status", required=True) or ""
    currency = r.currency("currency")
    cust_raw = r.object("customer") or {}
    c = _Reader(m, "customer", cust_raw, record)
    country = c.text("country")
    customer = Customer(
        customer_id=c.id("customer_id", required=False),
        name=c.text("name"),
        email=c.text("email"),
        country=country.upper() if country else None,
    )
    addr_raw = r.object("billing_address")
    address = None
    if addr_raw is not None:
        a = _Reader(m, "address", addr_raw, record)
        addr_country = a.text("country")
        address = Address(
            line1=a.text("line1"),
            line2=a.text("line2"),
            postal_code=a.text("postal_code"),
            city=a.text("city"),
            country=addr_country.upper() if addr_country else None,
        )
    lines = []
    for index, item in enumerate(r.list("lines")):
        line_record = f"{record} line {index + 1}"
        obj = _object(item, r.fname("lines"), line_record) or {}
        line = _Reader(m, "order_line", obj, line_record)
        lines.append(
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
        )
    invoices = []
    for index, item in enumerate(r.list("invoices")):
        inv_record = f"{record} invoice {index + 1}"
        obj = _object(item, r.fname("invoices"), inv_record) or {}
        inv = _Reader(m, "invoice", obj, inv_record)
        invoices.append(
            InvoiceRef(
                invoice_id=inv.id("invoice_id", required=False),
                invoice_number=inv.text("invoice_number"),
                invoice_date=inv.date("invoice_date"),
                due_date=inv.date("due_date"),
                amount_minor=inv.amount("amount", currency),
                currency=currency,
            )
        )
    pay_raw = r.object("payment")
    return Order(
        order_id=order_id or "",
        order_number=r.text("order_number", required=True) or "",
        status=status,
        confirmed=m.is_confirmed(status, record=record),
        currency=currency,
        amount_minor=r.amount("amount", currency, required=True) or 0,
        customer=customer,
        billing_address=address,
        lines=tuple(lines),
        invoices=tuple(invoices),
        order_date=r.date("order_date"),
        delivery_date=r.date("delivery_date"),
        confirmed_at=r.datetime("confirmed_at"),
        created_at=r.datetime("created_at"),
        updated_at=r.datetime("updated_at"),
        version=r.integer("version"),
        payment=payment_from_api(pay_raw, m, record=record) if pay_raw is not None else None,
        raw=dict(raw),
    )


def payment_from_api(
    raw: Mapping[str, Any], m: FreshPortalMapping, *, record: str | None = None
) -> OrderPayment:
    """The payment sub-resource (inside an order, or the answer of the PUT)."""
    p = _Reader(m, "payment", raw, f"{record or 'order'} payment")
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
    probe = _Reader(m, "refund_request", raw, None)
    rid = probe.id("refund_request_id")
    record = f"refund request {rid}"
    r = _Reader(m, "refund_request", raw, record)
    currency = r.currency("currency")
    status = r.text("status", required=True) or ""
    outcome_raw = r.object("outcome")
    outcome = None
    if outcome_raw is not None and any(v not in (None, "") for v in outcome_raw.values()):
        o = _Reader(m, "refund_outcome", outcome_raw, f"{record} outcome")
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
    probe = _Reader(m, "note", raw, None)
    nid = probe.id("note_id")
    n = _Reader(m, "note", raw, f"note {nid}")
    return Note(
        note_id=nid or "",
        order_id=n.id("order_id") or "",
        text=n.text("text") or "",
        category=n.text("category"),
        external_ref=n.text("external_ref"),
        created_at=n.datetime("created_at"),
    )


# ====================================================================== writing JSON
def payment_update_body(update: PaymentStatusUpdate, m: FreshPortalMapping) -> dict[str, Any]:
    """``PUT /v1/orders/{id}/payment`` body: every field, ``null`` where unknown (replace)."""
    m.check_payment_status(update.status)
    if update.refund_state is not None and update.refund_state not in m.refund_states:
        raise ValueError(f"refund_state {update.refund_state!r} is not one of {sorted(m.refund_states)}")
    currency = update.currency.upper() if update.currency else None
    body: dict[str, Any] = {}
    m.put("payment", body, "status", update.status)
    m.put("payment", body, "currency", currency)
    m.put("payment", body, "amount_paid", _amount_out(m, update.amount_paid_minor, currency))
    m.put("payment", body, "amount_refunded", _amount_out(m, update.amount_refunded_minor, currency))
    m.put("payment", body, "refund_state", update.refund_state)
    m.put("payment", body, "payment_link_id", update.payment_link_id)
    m.put("payment", body, "payment_link_url", update.payment_link_url)
    m.put("payment", body, "payment_id", update.payment_id)
    m.put("payment", body, "payout_reference", update.payout_reference)
    m.put("payment", body, "status_changed_at", _ts_out(update.status_changed_at))
    m.put("payment", body, "sequence", update.sequence)
    m.put("payment", body, "chargeback", chargeback_body(update.chargeback, m))
    return body


def refund_outcome_body(outcome: RefundOutcome, m: FreshPortalMapping) -> dict[str, Any]:
    """``PUT /v1/refund-requests/{id}/outcome`` body."""
    currency = outcome.currency.upper() if outcome.currency else None
    body: dict[str, Any] = {}
    m.put("refund_outcome", body, "status", m.refund_outcome_status(outcome.status))
    m.put("refund_outcome", body, "refunded_amount", _amount_out(m, outcome.refunded_amount_minor, currency))
    m.put("refund_outcome", body, "currency", currency)
    m.put("refund_outcome", body, "payment_id", outcome.payment_id)
    m.put("refund_outcome", body, "refund_id", outcome.refund_id)
    m.put("refund_outcome", body, "processed_at", _ts_out(outcome.processed_at))
    m.put("refund_outcome", body, "failure_reason", outcome.failure_reason)
    return body


def note_body(text: str, external_ref: str, category: str, m: FreshPortalMapping) -> dict[str, Any]:
    body: dict[str, Any] = {}
    m.put("note", body, "text", text)
    m.put("note", body, "category", category)
    m.put("note", body, "external_ref", external_ref)
    return body


def _amount_out(m: FreshPortalMapping, minor: int | None, currency: str | None) -> str | int | None:
    if minor is None:
        return None
    if currency is None:
        raise ValueError("an amount needs a currency")
    return m.amount_from_minor(minor, currency)


def _ts_out(value: datetime | None) -> str | None:
    return format_ts(value) if value is not None else None
