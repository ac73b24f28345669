"""Fulfilment releases (assumed FreshPortal feed): the trigger of a capture.

A release says that goods worth ``amount_minor`` of an order went to fulfilment; a release with
``complete`` finishes the order's fulfilment, so the capture that follows it is the final one.
The feed is read like the refund-request feed (cursor, ``version``), through the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import DataError
from .fields import FieldReader
from .mapping import FreshPortalMapping


@dataclass(frozen=True)
class FulfilmentRelease:
    release_id: str
    order_id: str
    order_number: str | None
    amount_minor: int
    currency: str
    complete: bool
    released_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def fulfilment_release_from_api(raw: Mapping[str, Any], m: FreshPortalMapping) -> FulfilmentRelease:
    """Strictly read one release (``GET /v1/fulfilment-releases/{id}`` or a feed item)."""
    if not isinstance(raw, Mapping):
        raise DataError("a fulfilment release is not a JSON object")
    rid = FieldReader(m, "fulfilment_release", raw, None).id("release_id")
    record = f"fulfilment release {rid}"
    r = FieldReader(m, "fulfilment_release", raw, record)
    currency = r.currency("currency")
    complete = r.value("complete")
    if not isinstance(complete, bool):
        # A capture's finality hangs on this flag: never read "1", "yes" or null as a bool.
        raise DataError(
            f"field {r.fname('complete')!r} of {record}: {complete!r} is not true or false",
            field=r.fname("complete"),
            record=record,
        )
    return FulfilmentRelease(
        release_id=rid or "",
        order_id=r.id("order_id") or "",
        order_number=r.text("order_number"),
        amount_minor=r.amount("amount", currency, required=True) or 0,
        currency=currency,
        complete=complete,
        released_at=r.datetime("released_at"),
        updated_at=r.datetime("updated_at"),
        version=r.integer("version"),
        raw=dict(raw),
    )
