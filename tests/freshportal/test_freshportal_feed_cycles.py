"""Change feeds whose cursors loop or never end, served over real HTTP to the real client.

The simulator's cursors always advance, so these feeds come from a small scripted server: each
request names its cursor, the script answers with the next one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings, load_mapping
from checkout_freshportal.freshportal.errors import PaginationError
from checkout_freshportal.sync.feed import walk_feed
from checkout_freshportal.sync.orders import WM_ORDERS, sync_orders
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.watermarks import get_watermark

#: cursor asked for ("" on the first page) -> (next_cursor, has_more)
Script = Callable[[str], tuple[str, bool]]


class FeedServer:
    """Serves empty pages of any feed, the next cursor chosen by a script; counts the pages."""

    def __init__(self, script: Script) -> None:
        self.pages = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the token
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send({"token": "tok", "expires_in": 3600})

            def do_GET(self) -> None:
                server.pages += 1
                cursor = parse_qs(urlsplit(self.path).query).get("cursor", [""])[0]
                if server.pages > 200:  # a walk that never ends is stopped here, not by the client
                    self._send({"data": [], "next_cursor": "the-end", "has_more": False})
                    return
                next_cursor, has_more = script(cursor)
                self._send({"data": [], "next_cursor": next_cursor, "has_more": has_more})

            def _send(self, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def client(self, **settings: Any) -> FreshPortalClient:
        options: dict[str, Any] = {"base_url": self.url, "api_key": "fp_test_key", "backoff_base": 0.001}
        return FreshPortalClient(
            FreshPortalSettings(**options, **settings), mapping=load_mapping(None, environ={})
        )

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def two_cursor_cycle(cursor: str) -> tuple[str, bool]:
    return ("B" if cursor == "A" else "A"), True


def endless(cursor: str) -> tuple[str, bool]:
    return f"c{int(cursor[1:] or 0) + 1}", True


@pytest.fixture
def feed_server() -> Iterator[Callable[[Script], FeedServer]]:
    started: list[FeedServer] = []

    def start(script: Script) -> FeedServer:
        started.append(FeedServer(script))
        return started[-1]

    yield start
    for server in started:
        server.close()


def test_orders_sync_refuses_a_cursor_that_comes_back(feed_server, migrated_sqlite_url: str) -> None:
    server = feed_server(two_cursor_cycle)
    engine = make_engine(migrated_sqlite_url)
    with pytest.raises(PaginationError, match="came back"):
        sync_orders(server.client(), engine)
    assert server.pages == 3  # A, B, then A again


def test_walk_feed_refuses_a_cursor_that_comes_back(feed_server, migrated_sqlite_url: str) -> None:
    server = feed_server(two_cursor_cycle)
    engine = make_engine(migrated_sqlite_url)
    with pytest.raises(PaginationError, match="came back"):
        walk_feed(
            engine,
            server.client().get_refund_requests_page,
            lambda conn, items: Counter(),
            watermark="test.cycle",
            what="refund requests",
            page_size=10,
            run_id=None,
        )
    assert server.pages == 3


def test_change_feed_refuses_a_cursor_that_comes_back(feed_server) -> None:
    server = feed_server(two_cursor_cycle)
    with pytest.raises(PaginationError, match="came back"):
        list(server.client().iter_fulfilment_releases_changed(None))
    assert server.pages == 3


def test_an_endless_feed_stops_at_max_feed_pages_and_the_next_run_goes_on(
    feed_server, migrated_sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = feed_server(endless)
    engine = make_engine(migrated_sqlite_url)
    client = server.client(max_feed_pages=5)
    with caplog.at_level(logging.WARNING):
        first = sync_orders(client, engine)
    assert first["pages"] == 5
    assert any("max_feed_pages" in r.getMessage() for r in caplog.records)
    with engine.connect() as conn:
        assert get_watermark(conn, WM_ORDERS) == "c5"
    second = sync_orders(client, engine)
    assert second["pages"] == 5
    with engine.connect() as conn:
        assert get_watermark(conn, WM_ORDERS) == "c10"
    feed = client.iter_orders_changed(None)
    assert len(list(feed)) == 0
    assert feed.pages == 5
    assert not feed.exhausted
    assert feed.next_cursor == "c5"


def test_max_feed_pages_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_feed_pages"):
        FreshPortalSettings(base_url="http://127.0.0.1:1", api_key="k", max_feed_pages=0)
