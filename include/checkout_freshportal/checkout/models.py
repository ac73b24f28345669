"""Small, tolerant helpers over the API's JSON objects.

The client returns the API's dicts unchanged (unknown fields survive into the raw tables), so
there are no full models here -- only the few typed views every consumer needs and must get
right the same way: timestamps, the seven balance fields in integer minor units, next links.

:class:`Balances` is the one type for a payment's balances in the whole library (ingestion and
the status machine both use it), and :func:`parse_balances` the one reader, so "what counts as
money" cannot drift between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..timeutil import TimestampError, format_ts, parse_ts
from .pagination import next_href
from .statuses import BALANCE_FIELDS

__all__ = [
    "Balances",
    "BalancesError",
    "TimestampError",
    "format_ts",
    "next_href",
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


def parse_balances(raw: Any, *, strict: bool, owner: str | None = None) -> Balances | None:
    """Read a ``balances`` object; both callers share what an amount is, not what a gap means.

    An amount is an exact integer that fits a ``BIGINT``: a float, a bool, a string or a huge
    integer is never one (silently coercing ``"10.5"`` or ``10.0`` would hide a contract break
    in money).

    ``strict=True`` (ingestion, which stages what the API says): an absent object or field is 0
    -- pending or declined payments have none -- and a value that is not an amount raises
    :class:`BalancesError` naming the field (and ``owner``, the payment id, when given).

    ``strict=False`` (the status machine, where a guess would become a status): the object is
    all or nothing -- None when it is absent, when a value is not an amount or when a field other
    than ``available_to_refund`` is missing; that one is derived (``captured - refunded``),
    because some deliveries leave it out.
    """
    if raw is None or (not strict and not isinstance(raw, Mapping)):
        return Balances() if strict else None
    if not isinstance(raw, Mapping):
        raise BalancesError(f"'balances' is {type(raw).__name__}, expected an object")
    values: dict[str, int] = {}
    for name in BALANCE_FIELDS:
        value = raw.get(name)
        if value is None:
            if strict:
                values[name] = 0
            elif name != "available_to_refund":
                return None
            continue
        if _is_amount(value):
            values[name] = value
        elif strict:
            where = f" of {owner}" if owner else ""
            shown = repr(value)[:40]  # repr escapes control characters; a long text is cut
            raise BalancesError(
                f"balances.{name}{where} is {type(value).__name__} {shown}, expected an integer "
                "in minor units"
            )
        else:
            return None
    values.setdefault("available_to_refund", values["total_captured"] - values["total_refunded"])
    return Balances(**values)


def _is_amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_MINOR <= value <= MAX_MINOR


def payment_balances(obj: Mapping[str, Any] | None) -> Balances:
    """Balances of a payment object (or of a ``balances`` mapping itself), the strict way.

    Missing fields (and a missing ``balances``) are 0; a value that is not an integer amount
    raises :class:`BalancesError` with the field named (see :func:`parse_balances`).
    """
    if obj is None:
        return Balances()
    if not isinstance(obj, Mapping):
        raise BalancesError(f"expected a mapping, got {type(obj).__name__}")
    if "balances" in obj:
        raw = obj["balances"]
    elif _looks_like_balances(obj):
        raw = obj
    else:
        raw = None
    ident = obj.get("id") if isinstance(obj.get("id"), str) else None
    parsed = parse_balances(raw, strict=True, owner=ident)
    assert parsed is not None  # strict never answers None
    return parsed


def _looks_like_balances(obj: Mapping[str, Any]) -> bool:
    return any(name in obj for name in BALANCE_FIELDS)
