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
from typing import Any

from .catalog import CITIES, CUSTOMERS, PRODUCTS, REFUND_REASONS, unit_price_minor
from .config import PAYMENT_STATUSES, FreshPortalSandboxConfig
from .records import (
    SbInvoice,
    SbLine,
    SbOrder,
    SbRefundRequest,
    check_currency,
    check_order_status,
    check_refund_status,
    default_due_date,
    lines_for_amount,
    scenario_date,
    scenario_datetime,
    scenario_int,
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


def order_from_scenario(data: dict[str, Any], ids: IdAllocator, rng: random.Random, now: datetime) -> SbOrder:
    """A scenario dict (our neutral names, amounts in minor units) -> a stored order."""
    if not isinstance(data, dict):
        raise ValueError("a scenario order must be an object")
    known = {
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
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"scenario order: unknown key(s) {unknown}; known: {sorted(known)}")
    number = data.get("order_number")
    if not isinstance(number, str) or not number:
        raise ValueError("scenario order: order_number (string) is required")
    currency = check_currency(data.get("currency"))
    status = check_order_status(str(data.get("status") or "confirmed"))
    created = scenario_datetime(data.get("created_at"), f"{number}.created_at") or now
    confirmed = scenario_datetime(data.get("confirmed_at"), f"{number}.confirmed_at")
    if confirmed is None and status in _CONFIRMED_LIKE:
        confirmed = created
    entry = rng.choice([c for c in CUSTOMERS if c[4] == currency] or list(CUSTOMERS))
    customer = dict(data.get("customer") or customer_dict(entry))
    if "id" not in customer:
        customer["id"] = ids.next("customer_id")
    country = str(customer.get("country") or entry[3])
    customer["country"] = country
    if data.get("lines"):
        lines = []
        for i, raw in enumerate(data["lines"]):
            lines.append(
                SbLine(
                    line_id=ids.next("line_id"),
                    article_code=str(raw.get("product_code") or f"ART-{i + 1:03d}"),
                    description=str(raw.get("description") or "Flowers"),
                    quantity=scenario_int(raw.get("quantity", 1), f"{number}.lines[{i}].quantity"),
                    unit=str(raw.get("unit") or "stem"),
                    unit_price_minor=scenario_int(
                        raw.get("unit_price_minor"), f"{number}.lines[{i}].unit_price_minor"
                    ),
                )
            )
        if "amount_minor" in data and sum(line.total_minor for line in lines) != scenario_int(
            data["amount_minor"], f"{number}.amount_minor"
        ):
            raise ValueError(f"scenario order {number}: amount_minor differs from the sum of its lines")
    elif "amount_minor" in data:
        amount = scenario_int(data["amount_minor"], f"{number}.amount_minor")
        if amount < 0:
            raise ValueError(f"scenario order {number}: amount_minor must not be negative")
        lines = lines_for_amount(amount, currency, ids.next("line_id"))
    else:
        lines = _lines(rng, currency, ids)
    order_id = (
        scenario_int(data["order_id"], f"{number}.order_id") if data.get("order_id") else ids.next("order_id")
    )
    order = SbOrder(
        order_id=order_id,
        order_number=number,
        status=status,
        currency=currency,
        customer=customer,
        billing_address=dict(data.get("billing_address") or address_for(country)),
        lines=lines,
        order_date=scenario_date(data.get("order_date"), f"{number}.order_date") or created.date(),
        delivery_date=scenario_date(data.get("delivery_date"), f"{number}.delivery_date"),
        created_at=created,
        updated_at=scenario_datetime(data.get("updated_at"), f"{number}.updated_at") or confirmed or created,
        confirmed_at=confirmed,
        manual_payment_status=_payment_status(data.get("manual_payment_status"), number),
    )
    for i, raw in enumerate(data.get("invoices") or []):
        inv_date = (
            scenario_date(raw.get("invoice_date"), f"{number}.invoices[{i}].invoice_date") or created.date()
        )
        order.invoices.append(
            SbInvoice(
                invoice_id=ids.next("invoice_id"),
                invoice_number=str(
                    raw.get("invoice_number") or f"INV-{inv_date.year}-{ids.next('invoice_number'):06d}"
                ),
                invoice_date=inv_date,
                due_date=scenario_date(raw.get("due_date"), f"{number}.invoices[{i}].due_date")
                or default_due_date(inv_date),
                amount_minor=scenario_int(
                    raw.get("amount_minor", order.amount_minor), f"{number}.invoices[{i}]"
                ),
            )
        )
    return order


_OUTCOME_KEYS = frozenset(
    {"refunded_amount_minor", "refund_id", "payment_id", "processed_at", "failure_reason"}
)


def _payment_status(value: Any, number: str) -> str | None:
    if value is None:
        return None
    if value not in PAYMENT_STATUSES:
        raise ValueError(
            f"scenario order {number}: manual_payment_status must be one of {list(PAYMENT_STATUSES)}"
        )
    return str(value)


def _scenario_outcome(data: dict[str, Any], ref: str, status: str, now: datetime) -> dict[str, Any] | None:
    """A request already answered before the scenario starts (``outcome``: refunded or failed)."""
    raw = data.get("outcome")
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {
        "refunded_amount_minor",
        "refund_id",
        "payment_id",
        "processed_at",
        "failure_reason",
    }:
        raise ValueError(
            f"refund for {ref}.outcome: an object of refunded_amount_minor, refund_id, payment_id, "
            "processed_at, failure_reason"
        )
    if status not in ("refunded", "failed", "processing"):
        raise ValueError(f"refund for {ref}: an outcome needs status refunded, failed or processing")
    amount = raw.get("refunded_amount_minor")
    return {
        "status": status,
        "refunded_amount_minor": None
        if amount is None
        else scenario_int(amount, f"refund for {ref}.outcome"),
        "currency": None,
        "payment_id": raw.get("payment_id"),
        "refund_id": raw.get("refund_id"),
        "processed_at": scenario_datetime(raw.get("processed_at"), f"refund for {ref}.outcome.processed_at")
        or now,
        "failure_reason": raw.get("failure_reason"),
    }


def refund_request_from_scenario(
    data: dict[str, Any], orders_by_ref: dict[str, SbOrder], ids: IdAllocator, now: datetime
) -> SbRefundRequest:
    ref = str(data.get("order_number") or data.get("order_id") or "")
    order = orders_by_ref.get(ref)
    if order is None:
        raise ValueError(f"scenario refund request: unknown order {ref!r}")
    amount = scenario_int(data.get("amount_minor", order.amount_minor), f"refund for {ref}")
    if not 0 < amount <= order.amount_minor:
        raise ValueError(f"scenario refund request for {ref}: amount_minor must be within 1..order amount")
    requested = scenario_datetime(data.get("requested_at"), f"refund for {ref}.requested_at") or now
    status = check_refund_status(str(data.get("status") or "requested"))
    outcome = _scenario_outcome(data, ref, status, requested)
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
