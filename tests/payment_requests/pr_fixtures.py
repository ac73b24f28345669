"""Fixtures for the payment-request tests: both real sandboxes on 127.0.0.1, clients, a warehouse.

Nothing is mocked: the Checkout.com simulator creates real links (counted in its world), the
FreshPortal simulator serves the changed-orders feed and takes the write-backs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

#: The shared scenario: order numbers are the Checkout.com references.
ORDERS: list[dict[str, Any]] = [
    {
        "order_number": "FP-300001",
        "currency": "EUR",
        "status": "confirmed",
        "lines": [
            {
                "product_code": "ROS-NAO-60",
                "description": "Rosa Red Naomi 60cm",
                "quantity": 100,
                "unit_price_minor": 62,
            },
            {"product_code": "TUL-MIX", "description": "Tulip mix", "quantity": 50, "unit_price_minor": 35},
        ],
        "customer": {"name": "Bloemenhuis Jansen", "email": "inkoop@jansen.example", "country": "NL"},
    },
    {"order_number": "FP-300002", "currency": "GBP", "amount_minor": 45000, "status": "picking"},
    {"order_number": "FP-300003", "currency": "JPY", "amount_minor": 14000, "status": "invoiced"},
    {"order_number": "FP-300004", "currency": "KWD", "amount_minor": 12345, "status": "confirmed"},
    {"order_number": "FP-300005", "currency": "EUR", "amount_minor": 9900, "status": "draft"},
    {"order_number": "FP-300006", "currency": "SEK", "amount_minor": 250000, "status": "cancelled"},
]
CONFIRMED = ("FP-300001", "FP-300002", "FP-300003", "FP-300004")


def fast_settings(**overrides: Any) -> PaymentRequestSettings:
    return PaymentRequestSettings(**overrides)


@dataclass
class World:
    """Both sandboxes, clients pointed at them, and the warehouse engine."""

    cko_sb: SandboxServer
    fp_sb: FreshPortalSandboxServer
    cko: CheckoutClient
    fp: FreshPortalClient
    engine: sa.Engine

    # ------------------------------------------------------------------ Checkout side
    def links(self) -> list[dict[str, Any]]:
        world = self.cko_sb.world
        with world.lock:
            now = world.now
            return [
                {
                    "id": link.id,
                    "reference": link.reference,
                    "amount": link.amount,
                    "currency": link.currency,
                    "metadata": dict(link.metadata),
                    "status": link.status(now),
                    "products": list(link.products),
                    "customer": dict(link.customer or {}),
                    "billing": dict(link.billing or {}),
                    "expires_on": link.expires_on,
                }
                for link in world.links.values()
            ]

    def links_by_reference(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for link in self.links():
            out.setdefault(link["reference"], []).append(link)
        return out

    def pay(self, link_id: str) -> dict[str, Any]:
        resp = requests.post(
            f"{self.cko_sb.base_url}/_sandbox/payment-links/{link_id}/pay", json={}, timeout=10
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def now(self) -> datetime:
        """The simulator's clock, to pass as the sync's ``clock``: links expire on it, so a test
        that moves it forward (``advance``) moves both sides and never sleeps for an expiry."""
        return self.cko_sb.state.clock.now()

    def advance(self, seconds: int) -> None:
        """``POST /_sandbox/advance``: jump the simulator's clock, with no new payments."""
        resp = requests.post(
            f"{self.cko_sb.base_url}/_sandbox/advance",
            json={"hours": seconds / 3600, "payments_per_hour": 0},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text

    # ------------------------------------------------------------------ FreshPortal side
    def fp_state(self) -> dict[str, Any]:
        return requests.get(f"{self.fp_sb.base_url}/_sandbox/state", timeout=10).json()

    def fp_order(self, number: str) -> dict[str, Any]:
        return next(o for o in self.fp_state()["orders"] if o["order_number"] == number)

    def fp_admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp = requests.request(method, f"{self.fp_sb.base_url}/_sandbox{path}", json=body, timeout=10)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def queue_fp_fault(self, fault: str, method: str, path: str, count: int) -> None:
        self.fp_admin(
            "POST", "/faults/next", {"fault": fault, "method": method, "path": path, "count": count}
        )

    # ------------------------------------------------------------------ warehouse
    def intents(self) -> list[dict[str, Any]]:
        t = schema.sync_payment_link_intents
        with self.engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c.created_at, t.c.intent_id))
            ]

    def orders(self) -> dict[str, dict[str, Any]]:
        t = schema.stg_orders
        with self.engine.connect() as conn:
            return {r.order_number: dict(r._mapping) for r in conn.execute(sa.select(t))}


def checkout_client(server: SandboxServer) -> CheckoutClient:
    return CheckoutClient(
        CheckoutSettings(
            base_url=server.base_url, secret_key=DEFAULT_SECRET_KEY, backoff_base=0.001, backoff_cap=0.01
        )
    )


def freshportal_client(server: FreshPortalSandboxServer, **overrides: Any) -> FreshPortalClient:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": server.api_key,
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "timeout": (2.0, 5.0),
        **overrides,
    }
    return FreshPortalClient(FreshPortalSettings(**options))


def checkout_sandbox() -> SandboxServer:
    # A tiny generated history (the links are what matters); the clock runs in real time so
    # links expire when their expires_in has passed, as our own clock sees it.
    return SandboxServer(SandboxConfig(seed=11, days=1, payments_per_day=2))


def freshportal_sandbox(**overrides: Any) -> FreshPortalSandboxServer:
    config: dict[str, Any] = {"seed": 5, "orders": [dict(o) for o in ORDERS], "refund_requests": []}
    config.update(overrides)
    return FreshPortalSandboxServer(FreshPortalSandboxConfig(**config)).start()


@pytest.fixture
def world(migrated_warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)
    cko_sb = checkout_sandbox().start()
    fp_sb = freshportal_sandbox()
    engine = make_engine(migrated_warehouse_url)
    upgrade(engine)
    w = World(cko_sb, fp_sb, checkout_client(cko_sb), freshportal_client(fp_sb), engine)
    try:
        yield w
    finally:
        w.cko.close()
        w.fp.close()
        engine.dispose()
        fp_sb.stop()
        cko_sb.stop()
