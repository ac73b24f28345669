"""Walking a cursor-paginated change feed while knowing which cursor is safe to store.

A caller that stores its watermark must store a cursor that covers only what it has processed.
:class:`ChangeFeed` advances :attr:`ChangeFeed.next_cursor` past a page only when the caller
asks for the item *after* that page's last one (or the feed ends), so a crash while handling an
item replays at most its page -- at-least-once, which the upserting sync layer absorbs.

:class:`FeedGuard` is the one check of a feed's cursors every walker uses: a cursor served twice
in one walk (``A -> B -> A``) is a loop, and a walk longer than its page limit stops there.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ..logsafe import safe
from .errors import PaginationError
from .models import Page

T = TypeVar("T")

log = logging.getLogger("checkout_freshportal.freshportal")

#: Pages one walk of a change feed reads when no setting says otherwise (``max_feed_pages``).
DEFAULT_MAX_FEED_PAGES = 10_000


def feed_page_limit(reader: Any) -> int:
    """``max_feed_pages`` of the client behind ``reader`` (a client or one of its bound methods).

    The sync steps are handed the client, or only its page method, by callers that know nothing
    of this limit; reading it here keeps the setting effective without threading it through all.
    """
    owner = getattr(reader, "__self__", reader)
    limit = getattr(getattr(owner, "settings", None), "max_feed_pages", None)
    return (
        limit
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        else DEFAULT_MAX_FEED_PAGES
    )


class FeedGuard:
    """Refuses a page whose cursor cannot move the walk forward; counts pages against a limit.

    Refusing only ``next_cursor == cursor`` lets a two-cursor cycle run until the task is
    killed, so every cursor of the walk is remembered (a few bytes each, at most ``max_pages``).
    """

    def __init__(self, what: str, start: str | None, *, max_pages: int = DEFAULT_MAX_FEED_PAGES) -> None:
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        #: The walk stopped at ``max_pages`` with the feed saying there is more.
        self.limited = False
        self._seen: set[str] = {start} if start else set()

    def check(self, next_cursor: str | None, has_more: bool) -> None:
        """Called once per page before it is used; raises :class:`PaginationError` on a bad cursor."""
        self.pages += 1
        if not next_cursor:
            raise PaginationError(f"{self.what}: page without next_cursor")
        if has_more and next_cursor in self._seen:
            raise PaginationError(
                f"{self.what}: cursor {safe(next_cursor)} came back after {self.pages} page(s) "
                "although has_more is true (the feed loops)"
            )
        self._seen.add(next_cursor)

    def stop_here(self, has_more: bool) -> bool:
        """True when the walk must end after this page: the feed ended or the limit is reached."""
        if not has_more:
            return True
        if self.pages < self.max_pages:
            return False
        self.limited = True
        log.warning(
            "%s: stopped after %d pages (max_feed_pages) with more to read; the stored cursor "
            "lets the next run go on",
            self.what,
            self.pages,
        )
        return True


class ChangeFeed(Iterator[T], Generic[T]):
    """Iterator over every item changed after ``since_cursor``, fetching pages lazily."""

    def __init__(
        self,
        fetch_page: Callable[[str | None], Page[T]],
        since_cursor: str | None,
        *,
        what: str,
        max_pages: int = DEFAULT_MAX_FEED_PAGES,
    ):
        self._fetch = fetch_page
        self._cursor = since_cursor
        self._what = what
        self._guard = FeedGuard(what, since_cursor, max_pages=max_pages)
        self._pending: deque[T] = deque()
        self._page_cursor: str | None = None
        self._done = False
        self.pages = 0
        self.items = 0

    @property
    def next_cursor(self) -> str | None:
        """Cursor to store after processing what was taken so far (``since_cursor`` at first)."""
        return self._cursor

    @property
    def exhausted(self) -> bool:
        """Everything the feed had was taken (not merely the page limit reached)."""
        return self._done and not self._pending and not self._guard.limited

    def __iter__(self) -> ChangeFeed[T]:
        return self

    def __next__(self) -> T:
        while not self._pending:
            if self._page_cursor is not None:
                self._cursor, self._page_cursor = self._page_cursor, None
            if self._done:
                raise StopIteration
            page = self._fetch(self._cursor)
            self.pages += 1
            self._guard.check(page.next_cursor, page.has_more)
            self._pending.extend(page.items)
            self._page_cursor = page.next_cursor
            self._done = self._guard.stop_here(page.has_more)
        self.items += 1
        return self._pending.popleft()
