"""The four ways Checkout.com pages through lists, as plain generators over fetch callables.

The HTTP side is injected, so each walker is a small algorithm that can be unit-tested on its
own and reused by every endpoint with the same paging style (docs/checkout-com.md#pagination):

* ``walk_links``   -- opaque token only inside ``_links.next.href`` (financial actions,
  reports, and the follow-up pages of ``POST /payments/search``);
* ``walk_offset``  -- ``limit``/``skip`` + ``total_count`` (payments by reference, disputes);
* ``walk_search_windows`` -- ``POST /payments/search`` over ``[from, to)``: follows next links
  when the API gives them and otherwise halves any window whose page came back full, until
  every window is provably complete (architecture decision 1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from .errors import PaginationError

log = logging.getLogger("checkout_freshportal.checkout")

Page = dict[str, Any]

#: Smallest search window that may still be split. Below it the API cannot be asked anything
#: narrower in a meaningful way (timestamps are sent with microseconds, but more than ``limit``
#: payments in one millisecond means the page limit is configured absurdly low).
MIN_SEARCH_WINDOW = timedelta(milliseconds=1)


def next_href(page: object) -> str | None:
    """``page["_links"]["next"]["href"]`` when present, non-empty and not the page itself, else None.

    A ``next`` equal to the page's ``self`` link names no further page: Checkout.com's recorded
    financial-actions answer has one (docs/checkout-com.md#pagination), and following it would
    only read the same page again, so it ends the walk like a missing link.
    """
    href = _link(page, "next")
    if href is None or href == _link(page, "self"):
        return None
    return href


def _link(page: object, name: str) -> str | None:
    if not isinstance(page, dict):
        return None
    links = page.get("_links")
    if not isinstance(links, dict):
        return None
    link = links.get(name)
    if not isinstance(link, dict):
        return None
    href = link.get("href")
    return href.strip() if isinstance(href, str) and href.strip() else None


def page_items(page: object, *, what: str = "page") -> list[dict[str, Any]]:
    """The ``data`` array of a page (missing = empty); anything else is a contract break."""
    if not isinstance(page, dict):
        raise PaginationError(f"{what}: expected a JSON object, got {type(page).__name__}")
    data = page.get("data", [])
    if data is None:
        return []
    if not isinstance(data, list):
        raise PaginationError(f"{what}: 'data' is {type(data).__name__}, expected a list")
    return data


def dedupe(items: Iterable[dict[str, Any]], seen: set[str], key: str = "id") -> Iterator[dict[str, Any]]:
    """Yield items whose ``key`` was not seen yet (items without the key always pass)."""
    for item in items:
        ident = item.get(key) if isinstance(item, dict) else None
        if isinstance(ident, str):
            if ident in seen:
                continue
            seen.add(ident)
        yield item


def walk_links(first: Page, fetch_href: Callable[[str], Page], *, what: str) -> Iterator[Page]:
    """Yield ``first`` and every page reached through ``_links.next.href``.

    A ``next`` equal to the page's own ``self`` ends the walk (see :func:`next_href`); a link
    that repeats an earlier page would loop forever: raise instead.
    """
    page = first
    followed: set[str] = set()
    while True:
        yield page
        href = next_href(page)
        if href is None:
            return
        if href in followed:
            raise PaginationError(f"{what}: next link repeats an earlier page (loop)")
        followed.add(href)
        page = fetch_href(href)


def walk_offset(
    fetch: Callable[[int], Page],
    limit: int,
    *,
    what: str,
) -> Iterator[Page]:
    """Yield pages at ``skip = 0, limit, 2*limit, ...`` until ``total_count`` is reached.

    Stops on an empty or short page too (``total_count`` can be stale, lists are eventually
    consistent). Logs a warning when ``total_count`` changes mid-walk: items may have shifted
    across a page boundary (see docs/checkout-client.md, "residual risk").
    """
    skip = 0
    first_total: int | None = None
    while True:
        page = fetch(skip)
        items = page_items(page, what=what)
        total = page.get("total_count")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        if first_total is None:
            first_total = total
        elif total is not None and total != first_total:
            log.warning(
                "%s: total_count changed while paging (%s -> %s); items may have shifted between pages",
                what,
                first_total,
                total,
            )
            first_total = total
        yield page
        skip += len(items)
        if not items or len(items) < limit:
            return
        if total is not None and skip >= total:
            return


def walk_search_windows(
    first_page: Callable[[datetime, datetime], Page],
    fetch_href: Callable[[str], Page],
    from_: datetime,
    to: datetime,
    limit: int,
    *,
    min_window: timedelta = MIN_SEARCH_WINDOW,
    what: str = "payments.search",
) -> Iterator[Page]:
    """Yield every page needed to cover ``[from_, to)`` completely.

    A window is complete when the API walked it with next links (the contract: a next link is
    present whenever more results exist, so the chain's end is the window's end), or when its
    single page is shorter than ``limit``. A single *full* page without a next link means
    "maybe more" (the API gave no cursor): the window is split in two halves, each searched
    again. The full page's items are yielded too, so callers must dedupe by id (the halves
    return them again). The newer half is searched first, matching the API's order.
    """
    if to <= from_:
        return
    stack: list[tuple[datetime, datetime]] = [(from_, to)]
    while stack:
        lo, hi = stack.pop()
        pages = 0
        last: Page = {}
        for page in walk_links(first_page(lo, hi), fetch_href, what=what):
            pages += 1
            last = page
            yield page
        if pages == 1 and len(page_items(last, what=what)) >= limit:
            width = hi - lo
            if width <= min_window:
                raise PaginationError(
                    f"{what}: window {lo.isoformat()} .. {hi.isoformat()} still returns a full page "
                    f"of {limit} at the minimum width {min_window}; raise the page limit"
                )
            mid = lo + width / 2
            log.debug("%s: full page without next link, splitting %s .. %s at %s", what, lo, hi, mid)
            stack.append((lo, mid))  # older half, searched second
            stack.append((mid, hi))  # newer half, searched first
