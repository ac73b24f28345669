"""Walking a cursor-paginated change feed while knowing which cursor is safe to store.

A caller that stores its watermark must store a cursor that covers only what it has processed.
:class:`ChangeFeed` advances :attr:`ChangeFeed.next_cursor` past a page only when the caller
asks for the item *after* that page's last one (or the feed ends), so a crash while handling an
item replays at most its page -- at-least-once, which the upserting sync layer absorbs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import PaginationError
from .models import Page

T = TypeVar("T")


class ChangeFeed(Iterator[T], Generic[T]):
    """Iterator over every item changed after ``since_cursor``, fetching pages lazily."""

    def __init__(self, fetch_page: Callable[[str | None], Page[T]], since_cursor: str | None, *, what: str):
        self._fetch = fetch_page
        self._cursor = since_cursor
        self._what = what
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
        return self._done and not self._pending

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
            if not page.next_cursor:
                raise PaginationError(f"{self._what}: page without next_cursor")
            if page.has_more and page.next_cursor == self._cursor:
                raise PaginationError(f"{self._what}: cursor did not advance although has_more is true")
            self._pending.extend(page.items)
            self._page_cursor = page.next_cursor
            self._done = not page.has_more
        self.items += 1
        return self._pending.popleft()
