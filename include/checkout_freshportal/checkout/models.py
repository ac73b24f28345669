"""Small, tolerant helpers over the API's JSON objects.

The client returns the API's dicts unchanged (unknown fields survive into the raw tables), so
there are no full models here -- only the few typed views every consumer needs and must get
right the same way: timestamps, the seven balance fields in integer minor units (a missing one
is unknown, never 0), next links.

:class:`Balances` is the one type for a payment's balances in the whole library (ingestion and
the status machine both use it), and :func:`parse_balances` the one reader, so "what counts as
money" cannot drift between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..timeutil import TimestampError, format_ts, parse_api_ts, parse_ts
from .pagination import next_href
from .statuses import BALANCE_FIELDS, PaymentStatus, canonical_status

__all__ = [
    "Balances",
    "BalancesError",
    "TimestampError",
    "answer_balance",
    "balance_fields",
    "format_ts",
    "next_href",
    "parse_api_ts",
    "parse_balances",
    "parse_ts",
    "payment_balances",
]

#: Bounds of a warehouse ``BIGINT``: an integer beyond them is not an amount any column can hold,
#: and letting it reach SQL would fail a whole transaction instead of one value.
MIN_MINOR = -(2**63)
MAX_MINOR = 2**63 - 1


class BalancesError(ValueError):
    """A balance field that is present but not an integer (money is never guessed)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True, order=True)
class Balances:
    """``balances`` of a payment or a payment webhook, integer minor units (docs/checkout-com.md#balances)."""

    total_authorized: int = 0
    total_voided: int = 0
    available_to_void: int = 0
    total_captured: int = 0
    available_to_capture: int = 0
    total_refunded: int = 0
    available_to_refund: int = 0

    @classmethod
    def parse(cls, raw: Any) -> Balances | None:
        """The status machine's rule: :func:`parse_balances` with ``strict=False``."""
        return parse_balances(raw, strict=False)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in BALANCE_FIELDS}

    def as_list(self) -> list[int]:
        return [getattr(self, name) for name in BALANCE_FIELDS]

    @classmethod
    def from_list(cls, values: Sequence[int]) -> Balances:
        return cls(*(int(v) for v in values))

    @property
    def totals(self) -> tuple[int, int, int, int]:
        """The four running totals, each non-decreasing over a payment's life."""
        return (self.total_authorized, self.total_captured, self.total_refunded, self.total_voided)

    def violations(self) -> list[str]:
        """Which invariants of docs/checkout-com.md#balances this snapshot breaks (empty: consistent)."""
        out = [f"{name} < 0" for name in BALANCE_FIELDS if getattr(self, name) < 0]
        if self.total_captured > self.total_authorized:
            out.append("captured > authorized")
        if self.total_refunded > self.total_captured:
            out.append("refunded > captured")
        if self.total_voided > self.total_authorized:
            out.append("voided > authorized")
        if self.available_to_refund != self.total_captured - self.total_refunded:
            out.append("available_to_refund != captured - refunded")
        if self.available_to_capture > self.total_authorized - self.total_captured:
            out.append("available_to_capture > authorized - captured")
        return out


def balance_fields(raw: Any, *, owner: str | None = None) -> dict[str, int | None]:
    """The seven fields of a ``balances`` object as they were sent; a missing one is ``None``.

    Ingestion's reader: it stages what the API says and nothing more. A payment search result may
    carry only some of the fields and ``GET /payments/{id}`` sometimes none at all
    (docs/checkout-com.md#balances), so an absent field (or object) is *unknown*, never 0 -- a
    0 would claim that no money moved. A value that is present but not an amount raises
    :class:`BalancesError` naming the field (and ``owner``, the payment id, when given).
    """
    if raw is None:
        return dict.fromkeys(BALANCE_FIELDS)
    if not isinstance(raw, Mapping):
        raise BalancesError(f"'balances' is {type(raw).__name__}, expected an object")
    out: dict[str, int | None] = {}
    for name in BALANCE_FIELDS:
        value = raw.get(name)
        if value is not None and not _is_amount(value):
            where = f" of {owner}" if owner else ""
            shown = repr(value)[:40]  # repr escapes control characters; a long text is cut
            raise BalancesError(
                f"balances.{name}{where} is {type(value).__name__} {shown}, expected an integer "
                "in minor units",
                field=name,
            )
        out[name] = value
    return out


def parse_balances(raw: Any, *, strict: bool, owner: str | None = None) -> Balances | None:
    """Read a whole ``balances`` snapshot; both callers share what an amount and a gap are.

    An amount is an exact integer that fits a ``BIGINT``: a float, a bool, a string or a huge
    integer is never one (silently coercing ``"10.5"`` or ``10.0`` would hide a contract break
    in money). The snapshot is all or nothing: None when the object is absent or a field other
    than ``available_to_refund`` is missing (unknown, never 0); that one is derived
    (``captured - refunded``), because some deliveries leave it out.

    ``strict`` only decides what a value that is not an amount does: raise
    :class:`BalancesError` naming the field (``strict=True``, ingestion) or answer None
    (``strict=False``, the status machine, where a guess would become a status).
    """
    if raw is None or (not strict and not isinstance(raw, Mapping)):
        return None
    try:
        fields = balance_fields(raw, owner=owner)
    except BalancesError:
        if strict:
            raise
        return None
    captured, refunded = fields["total_captured"], fields["total_refunded"]
    if fields["available_to_refund"] is None and captured is not None and refunded is not None:
        fields["available_to_refund"] = captured - refunded
    values = {name: value for name, value in fields.items() if value is not None}
    if len(values) < len(BALANCE_FIELDS):
        return None
    return Balances(**values)


#: Statuses of a payment on which no money can have moved: such an answer may carry no
#: ``balances`` at all (a card verification's does not), and its balances are all zero.
NO_MONEY_STATUSES: frozenset[str] = frozenset(
    {
        PaymentStatus.PENDING,
        PaymentStatus.CARD_VERIFIED,
        PaymentStatus.DECLINED,
        PaymentStatus.CANCELED,
        PaymentStatus.VOIDED,
        PaymentStatus.REQUESTED,
        PaymentStatus.AUTHENTICATION_REQUESTED,
    }
)


#: The balances an ``Authorized`` payment (nothing captured yet, else it would be ``Partially
#: Captured``) has at 0; what it can still capture or void stays the answer's to say.
_NOTHING_CAPTURED_YET = frozenset({"total_captured", "total_refunded", "available_to_refund"})


def answer_balance(payment: Mapping[str, Any], name: str) -> int | None:
    """One balance of a ``GET /payments/{id}`` answer, for a decision that moves money (a refund,
    a void, a capture): the answer's own amount; ``available_to_refund`` derived when left out
    (captured - refunded); 0 when the status says no money ever moved; else None. None is
    "unknown", never 0: read as 0, a captured payment whose answer lacked its balances had its
    refund rejected for good as "not captured" or "exceeds the refundable amount"; the caller
    waits for an answer that says instead."""
    balances = payment.get("balances")
    found = balances.get(name) if isinstance(balances, Mapping) else None
    if isinstance(found, int) and _is_amount(found) and found >= 0:
        return found
    if name == "available_to_refund":
        captured = answer_balance(payment, "total_captured")
        refunded = answer_balance(payment, "total_refunded")
        if captured is not None and refunded is not None:
            return max(captured - refunded, 0)
    status = canonical_status(payment.get("status")) if isinstance(payment.get("status"), str) else None
    if status in NO_MONEY_STATUSES:
        return 0
    if status == PaymentStatus.AUTHORIZED and name in _NOTHING_CAPTURED_YET:
        return 0  # authorised, not (even partly) captured: the status says so
    return None


def _is_amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_MINOR <= value <= MAX_MINOR


def payment_balances(obj: Mapping[str, Any] | None) -> Balances | None:
    """Balances of a payment object (or of a ``balances`` mapping itself), the strict way.

    None when the payment carries no complete ``balances`` (unknown, never zeros); a value that
    is not an integer amount raises :class:`BalancesError` with the field named.
    """
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise BalancesError(f"expected a mapping, got {type(obj).__name__}")
    if "balances" in obj:
        raw = obj["balances"]
    elif _looks_like_balances(obj):
        raw = obj
    else:
        raw = None
    ident = obj.get("id") if isinstance(obj.get("id"), str) else None
    return parse_balances(raw, strict=True, owner=ident)


def _looks_like_balances(obj: Mapping[str, Any]) -> bool:
    return any(name in obj for name in BALANCE_FIELDS)
