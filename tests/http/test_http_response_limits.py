"""API answers are read under a size cap and a per-attempt wall-clock deadline.

Without them ``requests`` buffers any body whole (a 100 MB whitespace-padded page was accepted)
and its read timeout bounds each socket read, not the call (a body dripped a byte at a time held
a ``(2 s, 3 s)`` client for as long as the server liked). A real local server (stdlib, real
sockets) plays the hostile API: it writes huge bodies, counts what it managed to send, and drips.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from checkout_freshportal.checkout import CheckoutClient, CheckoutSettings
from checkout_freshportal.checkout import errors as cko
from checkout_freshportal.errors import is_permanent
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.freshportal import errors as fp
from checkout_freshportal.freshportal.client import _ERRORS as FP_ERRORS
from checkout_freshportal.http import (
    BackoffPolicy,
    CallStats,
    HttpTransport,
    SettingsError,
    TransportSettings,
)

KEY = "sk_sbox_" + "a" * 27
MiB = 1024 * 1024
Handler = Callable[[BaseHTTPRequestHandler], None]


class HostileServer:
    """HTTP/1.1 keep-alive server: ``routes[path](handler)`` writes the answer; counts bytes sent
    per route and the client connections it saw (one per pooled connection)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.sent: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.peers: set[tuple[str, int]] = set()
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                server.peers.add(self.client_address)
                server.hits[path] = server.hits.get(path, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                route = server.routes.get(path)
                if route is None:
                    reply(self, 404, b'{"error": {"code": "not_found"}}')
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def json(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path] = lambda h: reply(h, status, json.dumps(body).encode())

    def huge(self, path: str, status: int, total: int, *, declared: bool) -> None:
        """A JSON object padded with ``total`` spaces; ``declared``: with a true Content-Length,
        else close-delimited (so only reading can tell how large it is)."""
        head, tail = b'{"data": [], "has_more": false', b"}"

        def write(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            if declared:
                h.send_header("Content-Length", str(len(head) + total + len(tail)))
            else:
                h.send_header("Connection", "close")
                h.close_connection = True
            h.end_headers()
            h.wfile.write(head)
            pad = b" " * MiB
            for _ in range(total // MiB):
                h.wfile.write(pad)
                self.sent[path] = self.sent.get(path, 0) + MiB
            h.wfile.write(tail)

        self.routes[path] = write

    def drip(self, path: str, status: int, *, every: float, seconds: float) -> None:
        """Headers at once, then one byte every ``every`` s: never silent for a read timeout."""

        def write(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b'{"data": []')
            h.wfile.flush()
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                time.sleep(every)
                h.wfile.write(b" ")
                h.wfile.flush()
            h.close_connection = True

        self.routes[path] = write

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def reply(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    s = HostileServer()
    s.json("/v1/auth", {"token": "t0k"})
    yield s
    s.close()


def fp_client(server: HostileServer, **kw: Any) -> FreshPortalClient:
    opts: dict[str, Any] = {
        "base_url": server.url,
        "api_key": "k3y",
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
    }
    opts.update(kw)
    return FreshPortalClient(FreshPortalSettings(**opts))


# ---------------------------------------------------------------------- size cap
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "close-delimited"])
def test_a_page_over_max_response_bytes_is_refused_unread_and_permanent(
    server: HostileServer, declared: bool
) -> None:
    server.huge("/v1/orders", 200, 64 * MiB, declared=declared)
    with (
        fp_client(server, max_response_bytes=1 * MiB) as client,
        pytest.raises(fp.ResponseTooLargeError) as info,
    ):
        client.get_orders_page(None, 10)
    error = info.value
    assert isinstance(error, fp.FreshPortalError)
    assert is_permanent(error)
    assert error.final
    assert "max_response_bytes" in str(error)
    assert str(1 * MiB) in str(error)
    assert "has_more" not in repr(error)
    assert server.hits["/v1/orders"] == 1  # permanent: no retry
    # Socket buffers let a few MiB through before the client hangs up; never the whole body.
    assert server.sent.get("/v1/orders", 0) < 16 * MiB


def test_checkout_refuses_an_oversized_answer_with_its_own_class(server: HostileServer) -> None:
    server.huge("/payments/pay_1", 200, 8 * MiB, declared=False)
    settings = CheckoutSettings(base_url=server.url, secret_key=KEY, read_rps=0, max_response_bytes=MiB)
    with CheckoutClient(settings) as client, pytest.raises(cko.ResponseTooLargeError) as info:
        client.get_payment("pay_1")
    assert isinstance(info.value, cko.CheckoutError)
    assert info.value.permanent
    assert client.stats.retries == 0


def test_a_body_at_the_limit_is_read_and_the_connection_goes_back_to_the_pool(server: HostileServer) -> None:
    body = json.dumps({"id": "pay_1", "pad": " " * 5000}).encode()
    server.routes["/payments/pay_1"] = lambda h: reply(h, 200, body)
    settings = CheckoutSettings(base_url=server.url, secret_key=KEY, read_rps=0, max_response_bytes=len(body))
    with CheckoutClient(settings) as client:
        for _ in range(3):
            assert client.get_payment("pay_1")["id"] == "pay_1"
    assert server.hits["/payments/pay_1"] == 3
    assert len(server.peers) == 1  # each response was read to the end and released


def test_a_huge_error_body_is_never_read_whole_and_the_status_still_decides(server: HostileServer) -> None:
    server.huge("/v1/orders/9", 404, 64 * MiB, declared=False)
    with fp_client(server) as client, pytest.raises(fp.NotFoundError) as info:
        client.get_order("9")
    assert info.value.status == 404
    assert info.value.code is None
    assert server.sent.get("/v1/orders/9", 0) < 16 * MiB


# ---------------------------------------------------------------------- deadline
def test_a_dripping_page_is_cut_by_the_deadline_and_retried_like_a_read_timeout(
    server: HostileServer,
) -> None:
    server.drip("/v1/orders", 200, every=0.25, seconds=30)
    client = fp_client(server, timeout=(1.0, 1.5), response_deadline=2.0, max_retries=1)
    started = time.monotonic()
    with client, pytest.raises(fp.TransportError) as info:
        client.get_orders_page(None, 10)
    took = time.monotonic() - started
    assert took < 9, f"held {took:.1f} s by two attempts with a 2 s deadline"
    assert info.value.request_sent is True
    assert not info.value.permanent
    assert info.value.final
    assert "response deadline" in str(info.value)
    assert server.hits["/v1/orders"] == 2  # a read: retried, as after a read timeout
    assert client.stats.retries == 1


def test_a_dripping_answer_to_a_non_idempotent_post_is_in_doubt_not_repeated(server: HostileServer) -> None:
    """Exactly what a read timeout on such a POST gives: ``request_sent``, one attempt only."""
    server.drip("/v1/things", 201, every=0.25, seconds=30)
    transport = HttpTransport(
        TransportSettings(
            timeout=(1.0, 1.5),
            max_retries=3,
            backoff=BackoffPolicy(0.001, 0.01),
            user_agent="test",
            request_id_header="X-Request-Id",
            response_deadline=2.0,
        ),
        FP_ERRORS,
        stats=CallStats(),
        log=logging.getLogger("test.http.limits"),
    )
    started = time.monotonic()
    with pytest.raises(fp.TransportError) as info:
        transport.request("POST", f"{server.url}/v1/things", kind="things.create", json_body={"a": 1})
    transport.close()
    assert time.monotonic() - started < 6
    assert info.value.request_sent is True
    assert info.value.final
    assert server.hits["/v1/things"] == 1


def test_a_dripping_error_body_does_not_hold_the_call(server: HostileServer) -> None:
    server.drip("/v1/orders/9", 404, every=0.25, seconds=30)
    client = fp_client(server, timeout=(1.0, 1.5), response_deadline=2.0)
    started = time.monotonic()
    with client, pytest.raises(fp.NotFoundError):
        client.get_order("9")
    assert time.monotonic() - started < 6


def _transport(**kw: Any) -> HttpTransport:
    """The shared transport with FreshPortal's error classes, as the client builds it."""
    opts: dict[str, Any] = {
        "timeout": (1.0, 1.5),
        "max_retries": 3,
        "backoff": BackoffPolicy(0.001, 0.01),
        "user_agent": "test",
        "request_id_header": "X-Request-Id",
    }
    opts.update(kw)
    return HttpTransport(
        TransportSettings(**opts), FP_ERRORS, stats=CallStats(), log=logging.getLogger("test.http.limits")
    )


def test_an_error_body_abandoned_half_read_takes_its_connection_with_it(server: HostileServer) -> None:
    """A dripping 500 body is abandoned at the deadline; its connection must not go back to the
    pool with the rest unread: the next request on it (here the next call, on a one-connection
    pool) was written to the wire and failed as "sent, no answer" -- for a POST, in doubt."""

    def half(h: BaseHTTPRequestHandler) -> None:
        h.send_response(500)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(12):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)
        h.close_connection = True

    server.routes["/v1/orders/9"] = half
    server.json("/v1/orders/10", {"id": "10"})
    transport = _transport(timeout=(1.0, 0.25), response_deadline=0.3, max_retries=0)
    try:
        with pytest.raises(fp.FreshPortalError) as first:
            transport.request("GET", f"{server.url}/v1/orders/9", kind="orders.get")
        assert first.value.status == 500
        second = transport.request("GET", f"{server.url}/v1/orders/10", kind="orders.get")
    finally:
        transport.close()
    assert second.status_code == 200


def test_a_compressed_answer_is_refused_since_identity_is_asked(server: HostileServer) -> None:
    """Decoding inside urllib3 reads on until the decoder gives out a byte, so gzip header bytes
    dripped one by one held a call past any deadline. Every API call asks for identity, and an
    answer compressed anyway is a transport error, never read on."""
    seen: list[str] = []

    def gzipped(h: BaseHTTPRequestHandler) -> None:
        seen.append(h.headers.get("Accept-Encoding", ""))
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.write(b"a\r\n\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03\r\n")  # FNAME: a name follows
        h.wfile.flush()
        for _ in range(30):
            time.sleep(0.1)
            h.wfile.write(b"1\r\nx\r\n")
            h.wfile.flush()
        h.close_connection = True

    server.routes["/v1/orders/9"] = gzipped
    transport = _transport(timeout=(1.0, 0.5), response_deadline=0.6, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(fp.FreshPortalError):
            transport.request("GET", f"{server.url}/v1/orders/9", kind="orders.get")
    finally:
        transport.close()
    assert time.monotonic() - started < 2.5
    assert seen == ["identity"]


def test_an_oversized_answer_to_a_write_is_in_doubt_not_refused(server: HostileServer) -> None:
    """A write answered 2xx took effect; only its answer is too large to read. Filed as a
    permanent refusal, the status push recorded FreshPortal as having rejected it."""
    server.huge("/v1/things", 200, 4 * MiB, declared=True)
    transport = _transport(max_response_bytes=1 * MiB)
    try:
        with pytest.raises(fp.TransportError) as info:
            transport.request("POST", f"{server.url}/v1/things", kind="things.create", json_body={})
    finally:
        transport.close()
    assert info.value.request_sent is True
    assert not is_permanent(info.value)


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_response_bytes", 0, "max_response_bytes must be a positive integer"),
        ("max_response_bytes", 1.5, "max_response_bytes must be a positive integer"),
        ("response_deadline", 30.0, "must be larger than the read timeout"),
        ("response_deadline", 10, "must be larger than the read timeout"),
    ],
)
def test_both_clients_refuse_a_bad_cap_or_deadline(field: str, value: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        FreshPortalSettings(base_url="http://127.0.0.1:1", api_key="k", **{field: value})
    with pytest.raises(SettingsError, match=message):
        CheckoutSettings(base_url="http://127.0.0.1:1", secret_key=KEY, timeout=(5, 30), **{field: value})


def test_the_defaults_fit_the_largest_pages_and_outlast_the_read_timeouts() -> None:
    for settings in (
        FreshPortalSettings(base_url="http://127.0.0.1:1", api_key="k"),
        CheckoutSettings(base_url="http://127.0.0.1:1", secret_key=KEY),
    ):
        assert settings.max_response_bytes == 32 * MiB
        assert settings.response_deadline == 120.0 > settings.timeout[1]


def test_airflow_connection_extras_set_the_cap_and_the_deadline() -> None:
    from cfp_airflow.hooks.checkout import settings_kwargs_from_connection as checkout_kwargs
    from cfp_airflow.hooks.freshportal import settings_kwargs_from_connection as freshportal_kwargs

    extra = {"max_response_bytes": 1000, "response_deadline": "90"}
    kw = freshportal_kwargs("http://127.0.0.1:8200", "k3y", extra)
    assert FreshPortalSettings(**kw).max_response_bytes == 1000
    assert FreshPortalSettings(**kw).response_deadline == 90.0
    kw = checkout_kwargs("http://127.0.0.1:8100", None, KEY, extra)
    assert (CheckoutSettings(**kw).max_response_bytes, CheckoutSettings(**kw).response_deadline) == (
        1000,
        90.0,
    )
    with pytest.raises(ValueError, match="max_response_bytes"):
        freshportal_kwargs("http://127.0.0.1:8200", "k3y", {"max_response_bytes": 0})
