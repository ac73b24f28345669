"""Request parameters as Checkout.com expects them: path segments, limits, query values, keys.

Checked when a method is called, before any HTTP call, so a bad argument fails at the caller's
line rather than as a 422 (or a different path) deep inside a paging loop.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..timeutil import format_ts


def new_idempotency_key() -> str:
    """A random V4 UUID, the format Checkout.com recommends (docs/checkout-com.md#idempotency)."""
    return str(uuid.uuid4())


def _seg(value: str) -> str:
    """One path segment: ids are quoted so a hostile id cannot change the path."""
    if not isinstance(value, str) or not value:
        raise ValueError("id must be a non-empty string")
    return quote(value, safe="")


def _check_limit(value: int, low: int, high: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer between {low} and {high}, got {value!r}")


def _query_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)
