"""FreshPortal's refund-request feed into the warehouse: staged requests and their intents.

Each page lands in one transaction with the cursor that follows it (``sync_watermarks``), so the
cursor is never ahead of the data and a run that dies mid-feed resumes where it stopped. A
request in state ``requested`` gets its intent here (unique on the request id: a request seen
again -- our own write-back moves it to the end of the feed -- finds its row); a request
withdrawn in FreshPortal cancels its intent if nothing was sent yet.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.freshportal.models import Page, RefundRequest
from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.feed import walk_feed
from checkout_freshportal.sync.intents import store
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.upsert import upsert

log = logging.getLogger(__name__)

WM_REFUND_REQUESTS = "freshportal.refund_requests.cursor"
SOURCE = "freshportal.refund_requests"
#: Our states (mapping ``refund_request_statuses``) of a request that is still to be executed...
ACTIONABLE = "requested"
#: ... and of one FreshPortal withdrew.
WITHDRAWN = ("rejected", "cancelled")


class RefundRequestFeed(Protocol):
    def get_refund_requests_page(
        self, cursor: str | None = None, limit: int | None = None
    ) -> Page[RefundRequest]: ...


def request_key(refund_request_id: str) -> str:
    return f"refund_request:{refund_request_id}"


def _row(r: RefundRequest) -> dict[str, Any]:
    outcome = r.outcome
    return {
        "refund_request_id": r.refund_request_id,
        "order_id": r.order_id,
        "order_number": r.order_number,
        "currency": r.currency,
        "amount_minor": r.amount_minor,
        "reason": r.reason,
        "fp_status": r.status,
        "state": r.state,
        "requested_at": r.requested_at,
        "fp_updated_at": r.updated_at,
        "fp_version": r.version,
        "outcome_status": outcome.status if outcome else None,
        "outcome_refund_id": outcome.refund_id if outcome else None,
        "source": SOURCE,
    }


def land_requests(
    conn: Connection, items: Sequence[RefundRequest], *, now: datetime, run_id: str | None
) -> Counter[str]:
    """Stage one page and write or cancel the intents it implies; returns counts."""
    counts: Counter[str] = Counter()
    newest: dict[str, RefundRequest] = {}
    for r in items:  # the feed may repeat a request within a page: its last change wins
        newest[r.refund_request_id] = r
    upsert(conn, schema.stg_refund_requests, [_row(r) for r in newest.values()], ["refund_request_id"])
    for r in newest.values():
        key = request_key(r.refund_request_id)
        if r.state == ACTIONABLE:
            stored, inserted = store.insert(
                conn,
                kind=store.REFUND,
                request_key=key,
                order_id=r.order_id,
                order_number=r.order_number,
                currency=r.currency,
                amount_minor=r.amount_minor,
                fp_version=r.version,
                requested_at=r.requested_at,
                now=now,
                run_id=run_id,
            )
            counts["new_requests" if inserted else "seen_again"] += 1
            if not inserted and (stored.amount_minor, stored.currency) != (r.amount_minor, r.currency):
                counts[_amend(conn, stored, r, now)] += 1
        elif r.state in WITHDRAWN:
            intent = store.by_request(conn, key)
            if intent is not None and intent.state == store.PENDING:
                if store.cancel(conn, intent, reason=f"withdrawn in FreshPortal ({r.status})", now=now):
                    counts["cancelled"] += 1
            elif intent is not None and intent.state not in store.FINAL_STATES:
                log.warning(
                    "refund request %s withdrawn in FreshPortal after it was sent (%s): it stands",
                    safe(r.refund_request_id),
                    intent.state,
                )
                counts["withdrawn_too_late"] += 1
    return counts


def _amend(conn: Connection, intent: store.MoneyIntent, r: RefundRequest, now: datetime) -> str:
    """An edited request: the intent follows it while nothing was sent; after that it stands."""
    if store.amend_pending(
        conn,
        intent,
        amount_minor=r.amount_minor,
        currency=r.currency,
        fp_version=r.version,
        requested_at=r.requested_at,
        now=now,
    ):
        return "amended"
    log.warning(
        "refund request %s changed in FreshPortal after it was sent (%s): the sent amount stands",
        safe(r.refund_request_id),
        intent.state,
    )
    return "changed_too_late"


def pull_requests(
    fp: RefundRequestFeed, engine: Engine, *, page_size: int, now: datetime, run_id: str | None
) -> Counter[str]:
    """Walk the feed from the stored cursor to its end, one committed page at a time."""
    return walk_feed(
        engine,
        fp.get_refund_requests_page,
        lambda conn, items: land_requests(conn, items, now=now, run_id=run_id),
        watermark=WM_REFUND_REQUESTS,
        what="refund requests",
        page_size=page_size,
        run_id=run_id,
    )
