"""Shared pieces of the events tests: sandboxes, a sidecar-like receiver, orders, snapshots.

The receiver stores each delivery exactly as the sidecar does (``sidecar.store.record_from_body``
and ``insert_batch``: same row, same ``received_at`` stamping per commit), so the use case reads
what production would give it. Signatures are the sidecar's concern and are not re-checked here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
import sqlalchemy as sa

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.sidecar.store import insert_batch, record_from_body
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

SIGNING_KEY = "events-test-signing-key"
CARD = {"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvv": "100"}
# 20051 Insufficient Funds (docs/checkout-com.md#sandbox-test-data)
DECLINE_CARD = {**CARD, "number": "4544249167673670"}


def migrated(url: str) -> sa.Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def store_bodies(engine: sa.Engine, bodies: list[bytes], received_at: datetime | None = None) -> set[str]:
    """Insert raw bodies as one sidecar commit (duplicates of a stored id add nothing)."""
    records: dict[str, Any] = {}
    for raw in bodies:
        rec = record_from_body(raw, 0)
        records.setdefault(rec.event_id, rec)
    with engine.begin() as conn:
        return insert_batch(conn, list(records.values()), received_at or datetime.now(UTC))


class StoringReceiver:
    """A local webhook endpoint that commits every delivery to ``raw_webhook_events``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0
        self.last_at = time.monotonic()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:  # one writer, like the sidecar's group-commit thread
                    store_bodies(receiver.engine, [body])
                    receiver.count += 1
                    receiver.last_at = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/checkout"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def session(key: str = DEFAULT_SECRET_KEY) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {key}"
    return s


@contextmanager
def checkout_sandbox(**overrides: Any) -> Iterator[SandboxServer]:
    base: dict[str, Any] = {
        "seed": 5,
        "days": 0,
        "payments_per_day": 0,
        "now": "2026-03-02T10:00:00Z",
        "read_rps": 0,
        "write_rps": 0,
        "clock_speed": 60.0,  # reorder hold-backs of 5-60 simulated seconds pass in about a second
        "action_delay_seconds": 1.0,
        "webhook_timestamp_envelope_share": 0.5,
    }
    base.update(overrides)
    with SandboxServer(SandboxConfig(**base)) as sb:
        yield sb


def register_workflow(sb: SandboxServer, url: str) -> str:
    body = {
        "name": "cfp sidecar",
        "actions": [
            {"type": "webhook", "url": url, "signature": {"method": "HMACSHA256", "key": SIGNING_KEY}}
        ],
    }
    r = session().post(f"{sb.base_url}/workflows", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def checkout_client(sb: SandboxServer) -> CheckoutClient:
    return CheckoutClient(CheckoutSettings(base_url=sb.base_url, secret_key=DEFAULT_SECRET_KEY))


def pay(sb: SandboxServer, amount: int, reference: str, **extra: Any) -> dict[str, Any]:
    body = {"source": dict(CARD), "amount": amount, "currency": "EUR", "reference": reference, **extra}
    r = session().post(f"{sb.base_url}/payments", json=body)
    assert r.status_code in (201, 202), r.text
    return r.json()


def post(
    sb: SandboxServer, path: str, body: dict[str, Any] | None = None, expect: int = 202
) -> dict[str, Any]:
    r = session().post(f"{sb.base_url}{path}", json=body or {})
    assert r.status_code == expect, (path, r.status_code, r.text)
    return r.json() if r.content else {}


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.02)


def wait_for_deliveries(sb: SandboxServer, receiver: StoringReceiver, quiet: float = 0.3) -> None:
    """Everything due has been delivered and the receiver has been quiet for ``quiet`` seconds."""

    def settled() -> bool:
        return sb.state.webhooks.pending() == 0 and time.monotonic() - receiver.last_at > quiet

    wait_until(settled, timeout=30, what="webhook deliveries")


def api_status(sb: SandboxServer, payment_id: str) -> dict[str, Any]:
    r = session().get(f"{sb.base_url}/payments/{payment_id}")
    assert r.status_code == 200, r.text
    return r.json()


def add_order(
    engine: sa.Engine, order_id: str, order_number: str, amount_minor: int, currency: str = "EUR"
) -> None:
    """A staged FreshPortal order, as the orders feed (sync/orders.py) lands it."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            schema.stg_orders.insert().values(
                order_id=order_id,
                order_number=order_number,
                status="confirmed",
                currency=currency,
                amount_minor=amount_minor,
                line_count=1,
                first_seen_at=now,
                updated_at=now,
                source="test",
            )
        )


def rows(engine: sa.Engine, table: sa.Table, *order_by: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        q = sa.select(table).order_by(*[table.c[c] for c in order_by])
        return [dict(r._mapping) for r in conn.execute(q)]


def status_snapshot(engine: sa.Engine) -> list[tuple]:
    """stg_payment_status without bookkeeping, plus the outbox: what a re-apply must not change."""
    skip = {"first_seen_at", "updated_at", "events_applied", "truth_fetched_at"}
    out = []
    for r in rows(engine, schema.stg_payment_status, "payment_id"):
        out.append(tuple(sorted((k, str(v)) for k, v in r.items() if k not in skip)))
    for r in rows(engine, schema.sync_status_outbox, "order_id", "version"):
        out.append(("outbox", r["order_id"], r["version"], str(r["payload"])))
    return out
