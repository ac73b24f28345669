"""FreshPortal orders -> ``stg_orders``, from the changed-orders feed, page by page.

Each page lands (upsert by order id) and moves the cursor in ``sync_watermarks`` in one
transaction, so the cursor is never ahead of the data: a run that dies mid-feed resumes at the
first page that did not land, and a page landed twice changes nothing.

No raw copy of a FreshPortal order is kept: orders carry customer e-mails and street
addresses, and FreshPortal stays their system of record (a replay is a re-walk of the feed from
an empty cursor). ``stg_orders`` keeps the customer as id, masked e-mail and e-mail hash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.freshportal.feed import FeedGuard, feed_page_limit
from checkout_freshportal.freshportal.models import Order, Page
from checkout_freshportal.freshportal.privacy import mask_email
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock
from checkout_freshportal.warehouse.mappers import email_hash
from checkout_freshportal.warehouse.upsert import UpsertResult, upsert
from checkout_freshportal.warehouse.watermarks import get_watermark, set_watermark

log = logging.getLogger(__name__)

WM_ORDERS = "freshportal.orders.cursor"
SOURCE_FEED = "freshportal.orders"
SOURCE_GET = "freshportal.orders.get"


class OrdersReader(Protocol):
    def get_orders_page(self, cursor: str | None = None, limit: int | None = None) -> Page[Order]: ...


def order_row(order: Order, source: str) -> dict[str, Any]:
    """One ``stg_orders`` row: typed, minor units, no full e-mail, no street address."""
    pay = order.payment
    address = order.billing_address
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "status": order.status,
        "order_date": order.order_date,
        "delivery_date": order.delivery_date,
        "confirmed_at": order.confirmed_at,
        "currency": order.currency,
        "amount_minor": order.amount_minor,
        "customer_id": order.customer.customer_id,
        "customer_email_masked": mask_email(order.customer.email),
        "customer_email_hash": email_hash(order.customer.email),
        "customer_country": order.customer.country,
        "billing_country": address.country if address else None,
        "line_count": len(order.lines),
        "invoice_numbers": list(order.invoice_numbers) or None,
        "fp_version": order.version,
        "fp_created_at": order.created_at,
        "fp_updated_at": order.updated_at,
        "payment_status": pay.status if pay else None,
        "payment_currency": pay.currency if pay else None,
        "amount_paid_minor": pay.amount_paid_minor if pay else None,
        "amount_refunded_minor": pay.amount_refunded_minor if pay else None,
        "refund_state": pay.refund_state if pay else None,
        "payment_link_id": pay.payment_link_id if pay else None,
        "payment_link_url": pay.payment_link_url if pay else None,
        "psp_payment_id": pay.payment_id if pay else None,
        "payout_reference": pay.payout_reference if pay else None,
        "payment_sequence": pay.sequence if pay else None,
        "payment_updated_at": pay.updated_at if pay else None,
        "source": source,
    }


def land_orders(conn: Connection, orders: Iterable[Order], source: str) -> UpsertResult:
    """Upsert orders, never replacing a row with an older FreshPortal ``version`` of itself.

    The feed always serves an order's current state, but a fresh ``GET`` by the link step and a
    feed page fetched a moment earlier can land in either order; the version decides.
    """
    newest: dict[str, Order] = {}
    for order in orders:
        seen = newest.get(order.order_id)
        if seen is None or (order.version or 0) >= (seen.version or 0):
            newest[order.order_id] = order
    if not newest:
        return UpsertResult()
    claim_sqlite_write_lock(conn)  # read-then-write: take SQLite's write lock first
    t = schema.stg_orders
    stored: dict[str, int | None] = {}
    ids = list(newest)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stored.update(
            conn.execute(sa.select(t.c.order_id, t.c.fp_version).where(t.c.order_id.in_(chunk))).all()
        )
    rows = []
    skipped = 0
    for order_id, order in newest.items():
        old = stored.get(order_id)
        if old is not None and order.version is not None and order.version < old:
            skipped += 1
            continue
        rows.append(order_row(order, source))
    result = upsert(conn, t, rows, ["order_id"])
    return UpsertResult(result.inserted, result.updated, result.unchanged + skipped, result.duplicates)


def sync_orders(
    fp: OrdersReader,
    engine: Engine,
    *,
    page_size: int = 100,
    run_id: str | None = None,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """Walk the changed-orders feed from the stored cursor to its end, or to ``max_pages`` (the
    client's ``max_feed_pages`` by default; the next run goes on from the committed cursor)."""
    with engine.connect() as conn:
        cursor = get_watermark(conn, WM_ORDERS)
    pages = fetched = 0
    total = UpsertResult()
    guard = FeedGuard("orders", cursor, max_pages=max_pages or feed_page_limit(fp))
    while True:
        page = fp.get_orders_page(cursor, page_size)
        pages += 1
        fetched += len(page.items)
        guard.check(page.next_cursor, page.has_more)
        with engine.begin() as conn:
            total = total + land_orders(conn, page.items, SOURCE_FEED)
            # Opaque cursor: not order-comparable as text, so it is set as given (one runner at
            # a time; a stale value would only make the next run re-read what it already has).
            set_watermark(conn, WM_ORDERS, page.next_cursor, run_id, allow_backwards=True)
        cursor = page.next_cursor
        if guard.stop_here(page.has_more):
            break
    log.info(
        "orders feed: %d page(s), %d order(s): %d new, %d changed, %d unchanged",
        pages,
        fetched,
        total.inserted,
        total.updated,
        total.unchanged,
    )
    return {
        "step": "sync_orders",
        "pages": pages,
        "fetched": fetched,
        "inserted": total.inserted,
        "updated": total.updated,
        "unchanged": total.unchanged + total.duplicates,
    }


def stg_order(conn: Connection, order_id: str) -> sa.RowMapping | None:
    t = schema.stg_orders
    row = conn.execute(sa.select(t).where(t.c.order_id == order_id)).first()
    return row._mapping if row is not None else None
