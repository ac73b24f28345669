"""Dispute webhooks into ``stg_disputes``: one row per dispute, never moved backwards.

The sweep (``ingest/disputes.py``) stages what ``GET /disputes`` says; a webhook says the same
sooner. A webhook's ``data`` has no ``status``: the event type gives it
(:func:`..status.disputes.dispute_status_of_event`). Webhooks of one dispute arrive in any order
and more than once, so a row takes a webhook's status only when it ranks at least as far along
as the stored one (:data:`..status.disputes.DISPUTE_RANK`; at equal rank the later
``last_update`` wins); the other fields are filled in whenever the webhook carries them.

Real dispute webhooks may lack ``category``, ``reason_code`` or ``evidence_required_by``
(docs/checkout-com.md#webhooks): when the merged row still lacks one of them, ONE
``GET /disputes/{id}`` per dispute and run fills it (:func:`fetch_details`), outside any
transaction. A retrieval request (``request_for_information_received``) is not a dispute: it
never lands here (``GET /disputes`` does not list it; the order shows it through the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from checkout_freshportal.checkout.errors import (
    CheckoutError,
    CheckoutTransportError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from checkout_freshportal.checkout.statuses import DISPUTE_EVENT_PREFIX, DisputeStatus
from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.status.disputes import DISPUTE_RANK, dispute_status_of_event
from checkout_freshportal.timeutil import format_ts
from checkout_freshportal.warehouse.mappers import MappingError, dispute_row

log = logging.getLogger(__name__)

#: ``source`` of a row last written from a webhook (the sweep writes ``checkout.api``).
WEBHOOK_SOURCE = "checkout.webhook"
#: Fields a signal needs that a real webhook may not carry: missing ones cost one GET.
DETAIL_FIELDS = ("category", "reason_code")


@runtime_checkable
class DisputeReader(Protocol):
    """The part of ``CheckoutClient`` the detail fetch needs."""

    def get_dispute(self, dispute_id: str) -> Mapping[str, Any]: ...


def row_of_event(event_type: str, at: datetime, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``stg_disputes`` row a dispute webhook states, or None (not a dispute, or unreadable).

    ``at`` (the envelope time) stands in for ``last_update`` when the data has none.
    """
    if not event_type.startswith(DISPUTE_EVENT_PREFIX):
        return None
    status = dispute_status_of_event(event_type, data)
    if status is None:
        return None
    obj = {**data, "status": status}
    obj.setdefault("last_update", format_ts(at))
    try:
        return dispute_row(obj, source=WEBHOOK_SOURCE)
    except MappingError as exc:
        log.warning("dispute webhook not staged: %s", safe(str(exc)))
        return None


def _rank(row: Mapping[str, Any]) -> tuple[int, Any]:
    return DISPUTE_RANK.get(row["status"], 0), row["last_update"]


def merge(stored: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """``incoming`` over ``stored``: its status only if at least as far along, its other values
    wherever it has one (so a late, less advanced webhook still fills a missing category)."""
    if stored is None:
        return dict(incoming)
    ahead = _rank(incoming) >= _rank(stored)
    out = dict(stored)
    for key, value in incoming.items():
        if key in {"status", "resolved_reason", "last_update"}:
            if ahead and (key != "resolved_reason" or value is not None):
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def fill(row: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its empty fields taken from ``GET /disputes/{id}``.

    Only gaps are filled: the status stays the webhooks' (it moves with the payment's derived
    status, which the same webhooks drive), so the order never shows a dispute status its
    payment status has not reached; the sweep and later webhooks bring the rest.
    """
    out = dict(row)
    for key, value in detail.items():
        if out.get(key) is None and value is not None:
            out[key] = value
    return out


def merge_all(
    stored: Mapping[str, Mapping[str, Any]], incoming: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Every touched dispute after folding ``incoming`` (any order) into the stored rows."""
    out: dict[str, dict[str, Any]] = {}
    for row in incoming:
        did = row["dispute_id"]
        out[did] = merge(out.get(did) or stored.get(did), row)
    return out


def needs_detail(row: Mapping[str, Any]) -> bool:
    """The row lacks what the order's signal shows, and ``GET /disputes/{id}`` has it."""
    if any(row.get(f) is None for f in DETAIL_FIELDS):
        return True
    return row["status"] == DisputeStatus.EVIDENCE_REQUIRED and row.get("evidence_required_by") is None


def fetch_details(
    reader: object | None, rows: Sequence[Mapping[str, Any]], fetched: set[str]
) -> dict[str, dict[str, Any]]:
    """``GET /disputes/{id}`` for the rows that need it, once per dispute per run (``fetched``).

    No transaction is open. A failure leaves the row as the webhooks made it (the sweep fills
    it later); a 4xx other than 404 is raised: our credentials or request are wrong.
    """
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(reader, DisputeReader):
        return out
    for row in rows:
        did = row["dispute_id"]
        if did in fetched or not needs_detail(row):
            continue
        fetched.add(did)
        try:
            detail = dispute_row(reader.get_dispute(did))
        except NotFoundError:
            log.warning("GET /disputes/%s -> 404: the signal shows what the webhooks said", safe(did))
            continue
        except (RateLimitedError, ServerError, CheckoutTransportError) as exc:
            log.warning("GET /disputes/%s failed (%s); the sweep fills it in", safe(did), type(exc).__name__)
            continue
        except MappingError as exc:
            log.warning("GET /disputes/%s unreadable: %s", safe(did), safe(str(exc)))
            continue
        except CheckoutError:
            raise
        out[did] = detail
    return out
