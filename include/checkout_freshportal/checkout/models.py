"""Small, tolerant helpers over the API's JSON objects.

The client returns the API's dicts unchanged (unknown fields survive into the raw tables), so
there are no full models here -- only the few typed views every consumer needs and must get
right the same way: timestamps, the seven balance fields in integer minor units, next links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
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
    "parse_ts",
    "payment_balances",
]


class BalancesError(ValueError):
    """A balance field that is present but not an integer (money is never guessed)."""


@dataclass(frozen=True)
class Balances:
    """``balances`` of a payment or a payment webhook, integer minor units (reference §3.2)."""

    total_authorized: int = 0
    total_voided: int = 0
    available_to_void: int = 0
    total_captured: int = 0
    available_to_capture: int = 0
    total_refunded: int = 0
    available_to_refund: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def payment_balances(obj: Mapping[str, Any] | None) -> Balances:
    """Balances of a payment object (or of a ``balances`` mapping itself).

    Missing fields (and a missing ``balances``) are 0 -- pending or declined payments have none.
    A float, a string or a bool is refused with the field named: silently coercing ``"10.5"``
    or ``10.0`` would hide a contract break in money.
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
    if raw is None:
        return Balances()
    if not isinstance(raw, Mapping):
        raise BalancesError(f"'balances' is {type(raw).__name__}, expected an object")
    values: dict[str, int] = {}
    for name in BALANCE_FIELDS:
        value = raw.get(name)
        if value is None:
            values[name] = 0
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
        else:
            ident = obj.get("id") if isinstance(obj.get("id"), str) else None
            where = f" of {ident}" if ident else ""
            raise BalancesError(
                f"balances.{name}{where} is {type(value).__name__} {value!r}, expected an integer "
                "in minor units"
            )
    return Balances(**values)


def _looks_like_balances(obj: Mapping[str, Any]) -> bool:
    return any(name in obj for name in BALANCE_FIELDS)
