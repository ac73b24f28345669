"""Walking a FreshPortal change feed from its stored cursor, one committed page at a time.

Each page lands together with the cursor that follows it (``sync_watermarks``), so the cursor is
never ahead of the data and a run that dies mid-feed resumes where it stopped. The cursor is
opaque (not order-comparable as text), so it is set as given: one runner at a time, and a stale
value only makes the next run read again what it already has. Used by the refund-request and
fulfilment-release feeds; ``sync/orders.py`` walks the orders feed the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.freshportal.errors import PaginationError
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
) -> Counter[str]:
    """Every page from the stored cursor to the end; ``land`` writes one page's items and
    returns its counts, inside the transaction that also moves the cursor."""
    with engine.connect() as conn:
        cursor = get_watermark(conn, watermark)
    counts: Counter[str] = Counter()
    while True:
        page = get_page(cursor, page_size)
        counts["pages"] += 1
        counts["fetched"] += len(page.items)
        if not page.next_cursor:
            raise PaginationError(f"{what}: page without next_cursor")
        if page.has_more and page.next_cursor == cursor:
            raise PaginationError(f"{what}: cursor did not advance although has_more is true")
        with engine.begin() as conn:
            counts += land(conn, page.items)
            set_watermark(conn, watermark, page.next_cursor, run_id, allow_backwards=True)
        cursor = page.next_cursor
        if not page.has_more:
            return counts
