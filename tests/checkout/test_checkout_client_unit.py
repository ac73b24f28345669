"""Client behaviour that needs no Checkout.com simulator: argument checks, link safety, and
transport failures against real local sockets (a closed port, a server that never answers)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from checkout_freshportal.checkout import (
    CheckoutClient,
    CheckoutSettings,
    CheckoutTransportError,
    UnsafeRedirectError,
)
from checkout_freshportal.checkout.client import _seg

KEY = "sk_sbox_" + "m" * 26 + "q"


def _client(base_url: str = "http://127.0.0.1:9", **kw) -> CheckoutClient:
    settings = CheckoutSettings(base_url=base_url, secret_key=KEY, **kw)
    return CheckoutClient(settings, sleep=lambda s: None)


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (kernel backlog) but never answers: every read times out."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(50)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def test_repr_has_no_secret() -> None:
    c = _client()
    assert "sk_" not in repr(c)
    assert "secret_key" in repr(c)


def test_argument_checks_happen_before_any_call() -> None:
    c = _client()
    now = datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="limit"):
        c.search_payments(now, now, limit=1001)
    with pytest.raises(ValueError, match="before"):
        c.search_payments(now, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        c.search_payments(datetime(2026, 1, 1), now)
    with pytest.raises(ValueError, match="limit"):
        c.list_disputes(limit=251)
    with pytest.raises(ValueError, match="argument"):
        c.list_disputes(skip=5)
    with pytest.raises(ValueError, match="limit"):
        c.list_payments_by_reference("ORD-1", limit=0)
    with pytest.raises(ValueError, match="limit"):
        c.list_financial_actions(payment_id="pay_x", limit=101)
    with pytest.raises(ValueError, match="limit"):
        c.list_reports(now, limit=500)
    with pytest.raises(ValueError, match="idempotency_key"):
        c.capture_payment("pay_x", idempotency_key="a\nb")
    assert c.stats.total_calls == 0


def test_ids_are_single_path_segments() -> None:
    assert _seg("pay_abc") == "pay_abc"
    assert _seg("../../admin?x=1") == "..%2F..%2Fadmin%3Fx%3D1"
    with pytest.raises(ValueError, match="non-empty"):
        _seg("")


def test_link_hosts_allowed_and_refused() -> None:
    c = _client("http://127.0.0.1:8100")
    assert c._link_url("/payments/search/s1?token=a") == "http://127.0.0.1:8100/payments/search/s1?token=a"
    assert c._link_url("http://127.0.0.1:8100/reports?x=1") == "http://127.0.0.1:8100/reports?x=1"
    assert c._link_url("https://api.sandbox.checkout.com/reports").startswith("https://api.sandbox")
    for bad in (
        "http://evil.example/reports",
        "http://api.checkout.com/reports",  # plain http: token would travel in clear
        "https://checkout.com.evil.example/x",
        "http://127.0.0.1:8101/reports",  # other port = other origin
    ):
        with pytest.raises(UnsafeRedirectError):
            c._link_url(bad)


def test_connection_refused_is_retried_then_surfaces(closed_port: int) -> None:
    c = _client(f"http://127.0.0.1:{closed_port}", max_retries=2)
    with pytest.raises(CheckoutTransportError) as info:
        c.get_payment("pay_x")
    assert info.value.request_sent is False
    assert info.value.path == "/payments/pay_x"
    assert c.stats.count("payments.get") == 3
    assert c.stats.retries == 2
    # a refused connection never reached the server: even a non-idempotent POST may repeat it
    c.stats.reset()
    with pytest.raises(CheckoutTransportError):
        c.create_payment_link({"amount": 100, "currency": "EUR"})
    assert c.stats.count("payment_links.create") == 3


def test_read_timeout_replays_only_safe_requests(silent_server: int, caplog) -> None:
    c = _client(f"http://127.0.0.1:{silent_server}", max_retries=1, timeout=(1.0, 0.2))
    with (
        caplog.at_level(logging.DEBUG, logger="checkout_freshportal.checkout"),
        pytest.raises(CheckoutTransportError, match="read timeout") as info,
    ):
        c.get_payment("pay_x")
    assert info.value.request_sent is True
    assert c.stats.count("payments.get") == 2  # GET: replayed
    assert KEY not in caplog.text
    assert "Authorization" not in caplog.text

    c.stats.reset()
    with pytest.raises(CheckoutTransportError):
        c.capture_payment("pay_x", {"amount": 5}, idempotency_key="cap-1")
    assert c.stats.count("payments.capture") == 2  # idempotency key: replayed

    c.stats.reset()
    with pytest.raises(CheckoutTransportError):
        c.create_payment_link({"amount": 100, "currency": "EUR"})
    assert c.stats.count("payment_links.create") == 1  # no key: a replay could create a second link


def test_link_read_differently_by_the_sending_parser_is_refused() -> None:
    """``urlsplit`` reads ``evil.example\\`` as user info and the host as Checkout.com's;
    urllib3, which sends the request, connects to evil.example with the bearer token."""
    c = _client("https://api.sandbox.checkout.com")
    for bad in (
        "https://evil.example\\@api.sandbox.checkout.com/financial-actions?pagination_token=t2",
        "https://evil.example%5C@api.sandbox.checkout.com/x",
        "https://user:pw@api.sandbox.checkout.com/x",
        "https://api.sandbox.checkout.com:notaport/x",
        "https://api.sandbox.checkout.com/x y",
        "https://api.sandbox.checkout.com/x\r\nHost: evil.example",
        "https://api.sandbox.checkout.com\t.evil.example/x",
        "https://\u0430pi.checkout.com/x",  # a Cyrillic a
    ):
        with pytest.raises(UnsafeRedirectError):
            c._link_url(bad)
    assert c._link_url("/reports?x=1#frag") == "https://api.sandbox.checkout.com/reports?x=1"
