"""The paging walkers as algorithms, over small in-memory page sources (no HTTP).

The same walkers are exercised end to end against the sandbox in test_checkout_sandbox.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checkout_freshportal.checkout import PaginationError
from checkout_freshportal.checkout.pagination import dedupe, walk_links, walk_offset, walk_search_windows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_walk_links_follows_until_no_next() -> None:
    pages = {
        "p2": {"data": [2], "_links": {"next": {"href": "p3"}}},
        "p3": {"data": [3]},
    }
    first = {"data": [1], "_links": {"next": {"href": "p2"}}}
    assert [p["data"][0] for p in walk_links(first, pages.__getitem__, what="t")] == [1, 2, 3]


def test_walk_links_detects_loops() -> None:
    first = {"data": [1], "_links": {"next": {"href": "same"}}}
    with pytest.raises(PaginationError, match="loop"):
        list(walk_links(first, lambda href: first, what="t"))


def test_a_next_link_equal_to_self_ends_the_walk_cleanly() -> None:
    # the Node SDK's recorded GET /financial-actions page (test/financial/financial.js)
    href = "https://123456789.api.checkout.com/financial-actions?payment_id=pay_l5rv&limit=5"
    last = {"data": [2], "_links": {"self": {"href": href}, "next": {"href": href}}}
    first = {"data": [1], "_links": {"self": {"href": "p1"}, "next": {"href": href}}}
    fetched: list[str] = []

    def fetch(url: str) -> dict:
        fetched.append(url)
        return last

    assert [p["data"][0] for p in walk_links(first, fetch, what="t")] == [1, 2]
    assert fetched == [href]  # the page is read once, and its self-link ends the walk
    assert [p["data"][0] for p in walk_links(last, fetch, what="t")] == [2]


def test_walk_offset_stops_on_total_count_and_short_pages() -> None:
    items = list(range(7))
    calls: list[int] = []

    def fetch(skip: int) -> dict:
        calls.append(skip)
        return {"total_count": len(items), "data": items[skip : skip + 3]}

    got = [x for page in walk_offset(fetch, 3, what="t") for x in page["data"]]
    assert got == items
    assert calls == [0, 3, 6]

    calls.clear()
    items = list(range(6))  # exact multiple: total_count ends it without an empty page
    got = [x for page in walk_offset(fetch, 3, what="t") for x in page["data"]]
    assert got == items
    assert calls == [0, 3]


def test_walk_offset_stops_on_empty_page_even_if_total_count_lies() -> None:
    def fetch(skip: int) -> dict:
        return {"total_count": 100, "data": [1, 2] if skip == 0 else []}

    assert sum(len(p["data"]) for p in walk_offset(fetch, 2, what="t")) == 2


class FakeSearch:
    """A search index over ``(requested_on, id)`` pairs: newest first, [from, to), optional links."""

    def __init__(self, stamps: list[datetime], limit: int, links: bool) -> None:
        self.rows = sorted(((ts, f"pay_{i:04d}") for i, ts in enumerate(stamps)), reverse=True)
        self.limit = limit
        self.links = links
        self.first_calls = 0
        self.link_calls = 0

    def _page(self, lo: datetime, hi: datetime, offset: int) -> dict:
        hits = [r for r in self.rows if lo <= r[0] < hi]
        chunk = hits[offset : offset + self.limit]
        page: dict = {"data": [{"id": i, "requested_on": ts.isoformat()} for ts, i in chunk]}
        if self.links and offset + self.limit < len(hits):
            page["_links"] = {"next": {"href": f"{lo.isoformat()}|{hi.isoformat()}|{offset + self.limit}"}}
        return page

    def first(self, lo: datetime, hi: datetime) -> dict:
        self.first_calls += 1
        return self._page(lo, hi, 0)

    def follow(self, href: str) -> dict:
        self.link_calls += 1
        lo, hi, off = href.split("|")
        return self._page(datetime.fromisoformat(lo), datetime.fromisoformat(hi), int(off))


def _collect(fake: FakeSearch, lo: datetime, hi: datetime, limit: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for page in walk_search_windows(fake.first, fake.follow, lo, hi, limit):
        out.extend(item["id"] for item in dedupe(page["data"], seen))
    return out


@pytest.mark.parametrize("links", [True, False])
def test_search_windows_are_complete_with_and_without_links(links: bool) -> None:
    # 200 payments, dense in the middle, several sharing one timestamp.
    stamps = [T0 + timedelta(minutes=i) for i in range(100)]
    stamps += [T0 + timedelta(hours=1, seconds=i) for i in range(90)]
    stamps += [T0 + timedelta(hours=2)] * 10
    fake = FakeSearch(stamps, limit=25, links=links)
    got = _collect(fake, T0, T0 + timedelta(days=1), 25)
    assert sorted(got) == sorted(i for _, i in fake.rows)
    assert len(got) == len(set(got)) == 200
    if links:
        assert fake.first_calls == 1
        assert fake.link_calls == 7
    else:
        assert fake.first_calls > 8  # had to split


def test_search_window_bounds_are_half_open() -> None:
    stamps = [T0, T0 + timedelta(hours=1)]
    fake = FakeSearch(stamps, limit=10, links=False)
    assert _collect(fake, T0, T0 + timedelta(hours=1), 10) == ["pay_0000"]


def test_search_window_too_dense_raises() -> None:
    fake = FakeSearch([T0] * 5, limit=5, links=False)
    with pytest.raises(PaginationError, match="minimum width"):
        _collect(fake, T0, T0 + timedelta(seconds=1), 5)


def test_empty_window_makes_no_call() -> None:
    fake = FakeSearch([], limit=5, links=False)
    assert _collect(fake, T0, T0, 5) == []
    assert fake.first_calls == 0


def test_dedupe_keeps_items_without_id() -> None:
    seen: set[str] = set()
    items = [{"id": "a"}, {"id": "a"}, {"x": 1}, {"x": 1}]
    assert list(dedupe(items, seen)) == [{"id": "a"}, {"x": 1}, {"x": 1}]
