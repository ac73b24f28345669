"""Deterministic tenant data: the same seed gives the same orders, customers and amounts.

Generated orders look like a flower and plant trader's book: Dutch auction products sold to
florists and garden centres in six currencies (EUR, GBP, USD, SEK, JPY, KWD -- exponents 2, 2,
2, 2, 0, 3), order numbers like ``FP-100234``, statuses from draft to invoiced. Scenario orders
(``FreshPortalSandboxConfig.orders``) go through :func:`order_from_scenario` and keep every
value they give; only what they leave out is generated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from .catalog import CITIES, CUSTOMERS, PRODUCTS, REFUND_REASONS, unit_price_minor
from .config import PAYMENT_STATUSES, FreshPortalSandboxConfig
from .records import (
    RecordProblems,
    SbInvoice,
    SbLine,
    SbOrder,
    SbRefundRequest,
    check_currency,
    check_order_status,
    check_refund_status,
    default_due_date,
    lines_for_amount,
    order_and_amount,
    scenario_date,
    scenario_datetime,
    scenario_int,
    unknown_keys,
)

#: Status mix of generated orders (weights).
_STATUS_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("confirmed", 50),
    ("picking", 10),
    ("delivered", 8),
    ("invoiced", 14),
    ("draft", 12),
    ("cancelled", 6),
)
_CONFIRMED_LIKE = frozenset({"confirmed", "picking", "delivered", "invoiced"})


@dataclass
class IdAllocator:
    """Monotonic ids per kind, seeded so two sandboxes with one seed hand out the same ids."""

    order_id: int
    order_number: int
    line_id: int = 1
    invoice_id: int = 9001
    invoice_number: int = 1
    refund_request_id: int = 7001
    note_id: int = 5001
    release_id: int = 6001
    customer_id: int = 3001

    @classmethod
    def for_seed(cls, seed: int) -> IdAllocator:
        rng = random.Random(f"ids-{seed}")
        return cls(order_id=480000 + rng.randrange(0, 9000), order_number=100200 + rng.randrange(0, 700))

    def next(self, kind: str) -> int:
        value = getattr(self, kind)
        setattr(self, kind, value + 1)
        return int(value)


def customer_dict(entry: tuple[int, str, str, str, str]) -> dict[str, Any]:
    cid, name, email, country, _currency = entry
    return {"id": cid, "name": name, "email": email, "country": country}


def address_for(country: str) -> dict[str, Any]:
    city, postal, street = CITIES.get(country, CITIES["NL"])
    return {"line1": street, "line2": None, "postal_code": postal, "city": city, "country": country}


def _lines(rng: random.Random, currency: str, ids: IdAllocator) -> list[SbLine]:
    lines = []
    for code, description, unit, cents, quantities in rng.sample(PRODUCTS, rng.randint(1, 4)):
        lines.append(
            SbLine(
                line_id=ids.next("line_id"),
                article_code=code,
                description=description,
                quantity=rng.choice(quantities),
                unit=unit,
                unit_price_minor=unit_price_minor(cents, currency),
            )
        )
    return lines


def _invoice(order: SbOrder, ids: IdAllocator, when: datetime) -> SbInvoice:
    day = when.date()
    return SbInvoice(
        invoice_id=ids.next("invoice_id"),
        invoice_number=f"INV-{day.year}-{ids.next('invoice_number'):06d}",
        invoice_date=day,
        due_date=default_due_date(day),
        amount_minor=order.amount_minor,
    )


def generate_orders(config: FreshPortalSandboxConfig, ids: IdAllocator, now: datetime) -> list[SbOrder]:
    rng = random.Random(config.seed)
    statuses = [s for s, _ in _STATUS_WEIGHTS]
    weights = [w for _, w in _STATUS_WEIGHTS]
    span = max(config.days, 1) * 86400
    offsets = sorted((rng.randrange(0, span) for _ in range(config.order_count)), reverse=True)
    orders = []
    for offset in offsets:
        entry = rng.choice(CUSTOMERS)
        currency = entry[4]
        created = (now - timedelta(seconds=offset)).replace(microsecond=0)
        status = rng.choices(statuses, weights)[0]
        order = SbOrder(
            order_id=ids.next("order_id"),
            order_number=f"FP-{ids.next('order_number')}",
            status=status,
            currency=currency,
            customer=customer_dict(entry),
            billing_address=address_for(entry[3]),
            lines=_lines(rng, currency, ids),
            order_date=created.date(),
            delivery_date=(created + timedelta(days=rng.randint(1, 4))).date(),
            created_at=created,
            updated_at=created,
        )
        if status in _CONFIRMED_LIKE:
            order.confirmed_at = min(created + timedelta(minutes=rng.randint(1, 90)), now)
            order.updated_at = order.confirmed_at
        if status == "invoiced":
            order.invoices.append(_invoice(order, ids, order.updated_at))
        orders.append(order)
    return orders


def generate_refund_requests(
    config: FreshPortalSandboxConfig, orders: list[SbOrder], ids: IdAllocator, now: datetime
) -> list[SbRefundRequest]:
    rng = random.Random(f"refunds-{config.seed}")
    count = config.refund_request_count
    if count is None:
        count = len(orders) // 8
    candidates = [o for o in orders if o.status in ("delivered", "invoiced")]
    out = []
    for order in rng.sample(candidates, min(count, len(candidates))):
        share = rng.choice((10, 25, 50, 100))
        amount = max(order.amount_minor * share // 100, 1)
        requested = max(order.updated_at, now - timedelta(hours=rng.randint(1, 48))).replace(microsecond=0)
        out.append(
            SbRefundRequest(
                refund_request_id=ids.next("refund_request_id"),
                order_id=order.order_id,
                order_number=order.order_number,
                amount_minor=amount,
                currency=order.currency,
                reason=rng.choice(REFUND_REASONS),
                status="requested",
                requested_at=requested,
                updated_at=requested,
            )
        )
    return out


_ORDER_KEYS = frozenset(
    {
        "order_id",
        "order_number",
        "status",
        "currency",
        "amount_minor",
        "customer",
        "billing_address",
        "lines",
        "invoices",
        "order_date",
        "delivery_date",
        "created_at",
        "confirmed_at",
        "updated_at",
        "manual_payment_status",
    }
)
_LINE_KEYS = frozenset({"product_code", "description", "quantity", "unit", "unit_price_minor"})
_INVOICE_KEYS = frozenset({"invoice_number", "invoice_date", "due_date", "amount_minor"})
#: ``expected`` is the demo's and the tests' expectation of the request (docs/scenario-format.md).
_REFUND_KEYS = frozenset(
    {"order_number", "order_id", "amount_minor", "reason", "status", "requested_at", "outcome", "expected"}
)


def order_from_scenario(data: dict[str, Any], ids: IdAllocator, rng: random.Random, now: datetime) -> SbOrder:
    """A scenario dict (our neutral names, amounts in minor units) -> a stored order.

    Every bad field is reported (:class:`ScenarioRecordError`), not only the first, so the
    demo's pre-check can list them all under their paths.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a scenario order must be an object, got {type(data).__name__}")
    p = RecordProblems()
    unknown_keys(p, data, _ORDER_KEYS)
    number = data.get("order_number")
    if not isinstance(number, str) or not number:
        p.add("order_number", "is required (a non-empty string)")
        number = "?"
    currency = p.take("currency", lambda: check_currency(data.get("currency")), "EUR")
    raw_status = data.get("status")
    status = p.take(
        "status",
        lambda: check_order_status("confirmed" if raw_status in (None, "") else raw_status),
        "confirmed",
    )
    created = (
        p.take("created_at", lambda: scenario_datetime(data.get("created_at"), "created_at"), None) or now
    )
    confirmed = p.take(
        "confirmed_at", lambda: scenario_datetime(data.get("confirmed_at"), "confirmed_at"), None
    )
    updated = p.take("updated_at", lambda: scenario_datetime(data.get("updated_at"), "updated_at"), None)
    if confirmed is None and status in _CONFIRMED_LIKE:
        confirmed = created
    order_date = p.take("order_date", lambda: scenario_date(data.get("order_date"), "order_date"), None)
    delivery_date = p.take(
        "delivery_date", lambda: scenario_date(data.get("delivery_date"), "delivery_date"), None
    )
    for key in ("customer", "billing_address"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            p.add(key, f"must be an object, got {type(data[key]).__name__}")
    entry = rng.choice([c for c in CUSTOMERS if c[4] == currency] or list(CUSTOMERS))
    given = data.get("customer")
    customer = dict(given) if isinstance(given, dict) and given else customer_dict(entry)
    if "id" not in customer:
        customer["id"] = ids.next("customer_id")
    country = str(customer.get("country") or entry[3])
    customer["country"] = country
    amount = None
    if "amount_minor" in data:
        amount = p.take("amount_minor", lambda: scenario_int(data["amount_minor"], "amount_minor", 0), None)
    lines: list[SbLine]
    if data.get("lines"):
        lines = p.take("lines", partial(_scenario_lines, data["lines"], ids), [])
        if amount is not None and lines and sum(line.total_minor for line in lines) != amount:
            p.add("amount_minor", "differs from the sum of its lines")
    elif amount is not None:
        lines = lines_for_amount(amount, currency, ids.next("line_id"))
    else:
        lines = _lines(rng, currency, ids)
    order_id = (
        p.take("order_id", lambda: scenario_int(data["order_id"], "order_id", 1), 0)
        if data.get("order_id")
        else ids.next("order_id")
    )
    manual = p.take("manual_payment_status", lambda: _payment_status(data.get("manual_payment_status")), None)
    invoices = data.get("invoices") or []
    if not isinstance(invoices, list):
        p.add("invoices", f"must be a list, got {type(invoices).__name__}")
        invoices = []
    p.raise_for(f"scenario order {number}")
    order = SbOrder(
        order_id=order_id,
        order_number=number,
        status=status,
        currency=currency,
        customer=customer,
        billing_address=dict(data.get("billing_address") or address_for(country)),
        lines=lines,
        order_date=order_date or created.date(),
        delivery_date=delivery_date,
        created_at=created,
        updated_at=updated or confirmed or created,
        confirmed_at=confirmed,
        manual_payment_status=manual,
    )
    for i, raw in enumerate(invoices):
        invoice = p.take(f"invoices[{i}]", partial(_scenario_invoice, raw, order, ids, created), None)
        if invoice is not None:
            order.invoices.append(invoice)
    p.raise_for(f"scenario order {number}")
    return order


def _scenario_lines(raw_lines: Any, ids: IdAllocator) -> list[SbLine]:
    if not isinstance(raw_lines, list):
        raise ValueError(f"must be a list of lines, got {type(raw_lines).__name__}")
    p = RecordProblems()
    lines = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            p.add(f"[{i}]", f"must be an object, got {type(raw).__name__}")
            continue
        unknown_keys(p, raw, _LINE_KEYS)
        quantity = p.take(f"[{i}].quantity", partial(scenario_int, raw.get("quantity", 1), "quantity", 1), 0)
        price = p.take(
            f"[{i}].unit_price_minor",
            partial(scenario_int, raw.get("unit_price_minor"), "unit_price_minor", 0),
            0,
        )
        lines.append(
            SbLine(
                line_id=ids.next("line_id"),
                article_code=str(raw.get("product_code") or f"ART-{i + 1:03d}"),
                description=str(raw.get("description") or "Flowers"),
                quantity=quantity,
                unit=str(raw.get("unit") or "stem"),
                unit_price_minor=price,
            )
        )
    p.raise_for("lines")
    return lines


def _scenario_invoice(raw: Any, order: SbOrder, ids: IdAllocator, created: datetime) -> SbInvoice:
    if not isinstance(raw, dict):
        raise ValueError(f"must be an object, got {type(raw).__name__}")
    p = RecordProblems()
    unknown_keys(p, raw, _INVOICE_KEYS)
    inv_date = p.take("invoice_date", lambda: scenario_date(raw.get("invoice_date"), "invoice_date"), None)
    inv_date = inv_date or created.date()
    due = p.take("due_date", lambda: scenario_date(raw.get("due_date"), "due_date"), None)
    amount = p.take(
        "amount_minor",
        lambda: scenario_int(raw.get("amount_minor", order.amount_minor), "amount_minor", 0),
        0,
    )
    p.raise_for("invoice")
    return SbInvoice(
        invoice_id=ids.next("invoice_id"),
        invoice_number=str(
            raw.get("invoice_number") or f"INV-{inv_date.year}-{ids.next('invoice_number'):06d}"
        ),
        invoice_date=inv_date,
        due_date=due or default_due_date(inv_date),
        amount_minor=amount,
    )


_OUTCOME_KEYS = frozenset(
    {"refunded_amount_minor", "refund_id", "payment_id", "processed_at", "failure_reason"}
)


def _payment_status(value: Any) -> str | None:
    if value is None:
        return None
    if value not in PAYMENT_STATUSES:
        raise ValueError(f"must be one of {list(PAYMENT_STATUSES)}, got {value!r}")
    return str(value)


def _scenario_outcome(raw: Any, status: str, now: datetime) -> dict[str, Any] | None:
    """A request already answered before the scenario starts (``outcome``: refunded or failed)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"must be an object of {', '.join(sorted(_OUTCOME_KEYS))}")
    p = RecordProblems()
    unknown_keys(p, raw, _OUTCOME_KEYS)
    if status not in ("refunded", "failed", "processing"):
        p.add("", "an outcome needs status refunded, failed or processing")
    amount = raw.get("refunded_amount_minor")
    refunded = None
    if amount is not None:
        refunded = p.take(
            "refunded_amount_minor", lambda: scenario_int(amount, "refunded_amount_minor", 0), None
        )
    processed = p.take(
        "processed_at", lambda: scenario_datetime(raw.get("processed_at"), "processed_at"), None
    )
    p.raise_for("outcome")
    return {
        "status": status,
        "refunded_amount_minor": refunded,
        "currency": None,
        "payment_id": raw.get("payment_id"),
        "refund_id": raw.get("refund_id"),
        "processed_at": processed or now,
        "failure_reason": raw.get("failure_reason"),
    }


def refund_request_from_scenario(
    data: dict[str, Any], orders_by_ref: dict[str, SbOrder], ids: IdAllocator, now: datetime
) -> SbRefundRequest:
    """A refund request of a scenario (or of the admin API); every bad field is reported."""
    if not isinstance(data, dict):
        raise ValueError(f"a scenario refund request must be an object, got {type(data).__name__}")
    p = RecordProblems()
    unknown_keys(p, data, _REFUND_KEYS)
    ref, order, amount = order_and_amount(p, data, orders_by_ref)
    requested = p.take(
        "requested_at", lambda: scenario_datetime(data.get("requested_at"), "requested_at"), None
    )
    requested = requested or now
    raw_status = data.get("status")
    status = p.take(
        "status",
        lambda: check_refund_status("requested" if raw_status in (None, "") else raw_status),
        "requested",
    )
    outcome = p.take("outcome", lambda: _scenario_outcome(data.get("outcome"), status, requested), None)
    p.raise_for(f"scenario refund request for {ref}")
    assert order is not None
    assert amount is not None
    if outcome is not None:
        outcome["currency"] = order.currency
    return SbRefundRequest(
        refund_request_id=ids.next("refund_request_id"),
        order_id=order.order_id,
        order_number=order.order_number,
        amount_minor=amount,
        currency=order.currency,
        reason=str(data.get("reason") or "quality_complaint"),
        status=status,
        requested_at=requested,
        updated_at=outcome["processed_at"] if outcome else requested,
        outcome=outcome,
    )


def parse_now(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return value.astimezone(UTC)
    parsed = scenario_datetime(value, "now")
    assert parsed is not None
    return parsed
