"""The chargeback signal on an order's payment sub-resource (assumed FreshPortal field).

A dispute at Checkout.com is shown on the FreshPortal order as one ``chargeback`` object inside
``PUT /v1/orders/{id}/payment``: which dispute, why, how much, where it stands and by when
evidence is due. It lives here rather than in ``models.py`` (already long) and reads the mapping
directly, so ``models.py`` can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..money import UnknownCurrencyError, exponent
from ..timeutil import format_ts, format_ts_or_none
from .dates import parse_datetime
from .errors import DataError
from .mapping import FreshPortalMapping

_ENTITY = "chargeback"


@dataclass(frozen=True)
class Chargeback:
    """A dispute as the order shows it; ``status`` is the Checkout.com dispute status text.

    ``category`` and ``reason_code`` are the scheme's dispute category and reason code as
    Checkout.com reports them -- codes, never cardholder data.
    """

    dispute_id: str
    amount_minor: int
    currency: str
    status: str
    category: str | None = None
    reason_code: str | None = None
    evidence_required_by: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.dispute_id or not self.status:
            raise ValueError("Chargeback: dispute_id and status are required")
        if (
            isinstance(self.amount_minor, bool)
            or not isinstance(self.amount_minor, int)
            or self.amount_minor < 0
        ):
            raise ValueError(f"Chargeback.amount_minor must be a non-negative int, got {self.amount_minor!r}")
        try:
            exponent(self.currency.upper())
        except (UnknownCurrencyError, AttributeError):
            raise ValueError(f"Chargeback.currency {self.currency!r} is not ISO 4217") from None
        for value in (self.evidence_required_by, self.updated_at):
            if value is not None:
                format_ts(value)  # refuses naive datetimes


def chargeback_body(cb: Chargeback | None, m: FreshPortalMapping) -> dict[str, Any] | None:
    """The ``chargeback`` object of the payment PUT body (``None`` -> ``null``: cleared)."""
    if cb is None:
        return None
    currency = cb.currency.upper()
    body: dict[str, Any] = {}
    m.put(_ENTITY, body, "dispute_id", cb.dispute_id)
    m.put(_ENTITY, body, "category", cb.category)
    m.put(_ENTITY, body, "reason_code", cb.reason_code)
    m.put(_ENTITY, body, "amount", m.amount_from_minor(cb.amount_minor, currency))
    m.put(_ENTITY, body, "currency", currency)
    m.put(_ENTITY, body, "status", cb.status)
    m.put(_ENTITY, body, "evidence_required_by", format_ts_or_none(cb.evidence_required_by))
    m.put(_ENTITY, body, "updated_at", format_ts_or_none(cb.updated_at))
    return body


def chargeback_from_api(raw: Any, m: FreshPortalMapping, *, record: str) -> Chargeback | None:
    """Strictly read the ``chargeback`` object of a payment (``null`` -> ``None``)."""
    if raw is None:
        return None
    where = f"{record} chargeback"
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected an object", field=m.path("payment", "chargeback"), record=record)

    def value(name: str) -> Any:
        return m.get(_ENTITY, raw, name)

    def text(name: str, *, required: bool = False) -> str | None:
        v = value(name)
        out = None if v is None else str(v).strip() or None
        if out is None and required:
            raise DataError(
                f"{where}: {m.path(_ENTITY, name)!r} is missing", field=m.path(_ENTITY, name), record=record
            )
        return out

    def ts(name: str) -> datetime | None:
        return parse_datetime(
            value(name), field=m.path(_ENTITY, name), record=where, local_tz=m.local_timezone
        )

    currency = (text("currency", required=True) or "").upper()
    try:
        exponent(currency)
    except UnknownCurrencyError:
        raise DataError(
            f"{where}: {currency!r} is not ISO 4217", field=m.path(_ENTITY, "currency"), record=record
        ) from None
    amount = m.amount_to_minor(value("amount"), currency, field=m.path(_ENTITY, "amount"), record=where)
    if amount is None:
        raise DataError(f"{where}: amount is missing", field=m.path(_ENTITY, "amount"), record=record)
    return Chargeback(
        dispute_id=text("dispute_id", required=True) or "",
        amount_minor=amount,
        currency=currency,
        status=text("status", required=True) or "",
        category=text("category"),
        reason_code=text("reason_code"),
        evidence_required_by=ts("evidence_required_by"),
        updated_at=ts("updated_at"),
    )
