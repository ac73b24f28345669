"""Walking a FreshPortal change feed from its stored cursor, one committed page at a time.

Each page lands together with the cursor that follows it (``sync_watermarks``), so the cursor is
never ahead of the data and a run that dies mid-feed resumes where it stopped. The cursor is
opaque (not order-comparable as text), so it is set as given: one runner at a time, and a stale
value only makes the next run read again what it already has. Used by the refund-request and
fulfilment-release feeds; ``sync/orders.py`` walks the orders feed the same way.

A cursor that comes back within one run is a loop (:class:`PaginationError`); after the client's
``max_feed_pages`` the run stops cleanly, its cursor committed, and the next run goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.freshportal.feed import FeedGuard, feed_page_limit
from checkout_freshportal.freshportal.models import Page
from checkout_freshportal.warehouse.watermarks import get_watermark, set_watermark


def walk_feed(
    engine: Engine,
    get_page: Callable[[str | None, int], Page[Any]],
    land: Callable[[Connection, Sequence[Any]], Counter[str]],
    *,
    watermark: str,
    what: str,
    page_size: int,
    run_id: str | None,
    max_pages: int | None = None,
) -> Counter[str]:
    """Every page from the stored cursor to the end; ``land`` writes one page's items and
    returns its counts, inside the transaction that also moves the cursor."""
    with engine.connect() as conn:
        cursor = get_watermark(conn, watermark)
    counts: Counter[str] = Counter()
    guard = FeedGuard(what, cursor, max_pages=max_pages or feed_page_limit(get_page))
    while True:
        page = get_page(cursor, page_size)
        counts["pages"] += 1
        counts["fetched"] += len(page.items)
        guard.check(page.next_cursor, page.has_more)
        with engine.begin() as conn:
            counts += land(conn, page.items)
            set_watermark(conn, watermark, page.next_cursor, run_id, allow_backwards=True)
        cursor = page.next_cursor
        if guard.stop_here(page.has_more):
            return counts
