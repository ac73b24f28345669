"""Fixtures for the Checkout.com sandbox tests: servers on 127.0.0.1, sessions, a receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer

FIXED_NOW = "2026-03-02T10:30:00Z"


def make_session(key: str = DEFAULT_SECRET_KEY) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {key}"
    return s


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    """A default world (read-mostly tests); the clock starts at a fixed instant."""
    # a (practically) frozen clock: planned history steps cannot fire between a call and a check
    with SandboxServer(SandboxConfig(now=FIXED_NOW, read_rps=0, write_rps=0, clock_speed=1e-9)) as sb:
        yield sb


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    """Start servers with custom settings; all are stopped after the test."""
    started: list[SandboxServer] = []

    def start(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("now", FIXED_NOW)
        kwargs.setdefault("read_rps", 0)
        kwargs.setdefault("write_rps", 0)
        sb = SandboxServer(SandboxConfig(**kwargs)).start()
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture
def api(shared_sandbox: SandboxServer) -> Iterator[requests.Session]:
    s = make_session()
    yield s
    s.close()


CARD = {"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvv": "100"}


def pay(
    session: requests.Session, base: str, amount: int = 10_000, currency: str = "EUR", **extra: Any
) -> dict:
    body = {"source": dict(CARD), "amount": amount, "currency": currency, "reference": "FP-TEST", **extra}
    r = session.post(f"{base}/payments", json=body)
    assert r.status_code in (201, 202), r.text
    return r.json()


# ------------------------------------------------------------------ webhook receiver
@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    status: int


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.received if r.status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            rec = state["r"]
            with rec.lock:
                status = 500 if rec.fail_first > 0 else 200
                if rec.fail_first > 0:
                    rec.fail_first -= 1
                rec.received.append(Received(body, dict(self.headers.items()), status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()
