"""Fixtures for the capture tests: both real sandboxes on 127.0.0.1, clients, a warehouse.

Nothing is mocked: payments are authorised (``capture: false``) on the Checkout.com simulator,
which executes and counts every capture in its ledger (``/_sandbox/actions``); releases are
made on the FreshPortal simulator as a warehouse user would, and notes are read back from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
from checkout_freshportal.sync.captures import service
from checkout_freshportal.sync.captures.settings import CaptureSettings
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

MANUAL = "pc_manualcapture0001"
AUTO = "pc_autocapture000001"
CARD = {"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvv": "100"}


def order_specs(n: int, amount_minor: int = 10_000) -> list[dict[str, Any]]:
    return [
        {
            "order_number": f"FP-4{i:05d}",
            "currency": "EUR",
            "amount_minor": amount_minor,
            "status": "confirmed",
        }
        for i in range(1, n + 1)
    ]


def settings(**overrides: Any) -> CaptureSettings:
    """Outcomes read from the actions at once (no sidecar runs here), in-doubt resolved at once."""
    values: dict[str, Any] = {
        "manual_capture_channels": [MANUAL],
        "outcome_timeout": "0s",
        "in_doubt_after": "0s",
        **overrides,
    }
    return CaptureSettings.from_mapping(values)


@dataclass
class World:
    cko_sb: SandboxServer
    fp_sb: FreshPortalSandboxServer
    cko: CheckoutClient
    fp: FreshPortalClient
    engine: sa.Engine
    runs: list[list[dict[str, Any]]] = field(default_factory=list)

    def now(self) -> datetime:
        """The Checkout.com simulator's clock: authorisations expire on it."""
        return self.cko_sb.state.clock.now()

    # ------------------------------------------------------------------ Checkout side
    def authorise(self, order_number: str, amount: int = 10_000, *, channel: str = MANUAL) -> str:
        body = {
            "source": CARD,
            "amount": amount,
            "currency": "EUR",
            "reference": order_number,
            "capture": channel != MANUAL,
            "processing_channel_id": channel,
        }
        out = self.cko.request_payment(body, idempotency_key=f"test-pay-{order_number}")
        assert out["approved"] is True, out
        return str(out["id"])

    def cko_admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.cko_sb.base_url}/_sandbox{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None

    def captures(self, payment_id: str | None = None) -> list[dict[str, Any]]:
        """Captures Checkout.com accepted (202), from the simulator's ledger."""
        q = "?type=capture" + (f"&payment_id={payment_id}" if payment_id else "")
        report = self.cko_admin("GET", f"/actions{q}")
        return [e for entries in report["payments"].values() for e in entries]

    def payment(self, payment_id: str) -> dict[str, Any]:
        return dict(self.cko.get_payment(payment_id))

    # ------------------------------------------------------------------ FreshPortal side
    def fp_admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.fp_sb.base_url}/_sandbox{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def release(self, order_number: str, amount_minor: int, *, complete: bool) -> str:
        out = self.fp_admin(
            "POST", f"/orders/{order_number}/releases", {"amount_minor": amount_minor, "complete": complete}
        )
        return str(out.get("release_id", out.get("id")))

    def order_id(self, order_number: str) -> str:
        state = self.fp_admin("GET", "/state")
        return str(next(o for o in state["orders"] if o["order_number"] == order_number)["id"])

    def notes(self, order_number: str) -> list[Any]:
        return self.fp.list_notes(self.order_id(order_number))

    # ------------------------------------------------------------------ warehouse / sync
    def intents(self) -> dict[str, dict[str, Any]]:
        t = schema.sync_money_intents
        with self.engine.connect() as conn:
            return {
                r.request_key: dict(r._mapping)
                for r in conn.execute(sa.select(t).where(t.c.kind == "capture"))
            }

    def sync(self, cfg: CaptureSettings | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        out = service.run_all(
            fp=self.fp, cko=self.cko, engine=self.engine, settings=cfg or settings(), clock=self.now, **kwargs
        )
        self.runs.append(out)
        return out


def checkout_client(server: SandboxServer, **overrides: Any) -> CheckoutClient:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "secret_key": DEFAULT_SECRET_KEY,
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "conflict_wait": 0.01,
        **overrides,
    }
    return CheckoutClient(CheckoutSettings(**options))


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


def make_world(url: str, orders: list[dict[str, Any]], **cko_config: Any) -> World:
    config: dict[str, Any] = {"seed": 11, "days": 1, "payments_per_day": 2, "action_delay_seconds": 0.0}
    config.update(cko_config)
    cko_sb = SandboxServer(SandboxConfig(**config)).start()
    fp_sb = FreshPortalSandboxServer(
        FreshPortalSandboxConfig(seed=5, orders=orders, refund_requests=[], fulfilment_releases=[])
    ).start()
    engine = make_engine(url)
    upgrade(engine)
    return World(cko_sb, fp_sb, checkout_client(cko_sb), freshportal_client(fp_sb), engine)


def close_world(w: World) -> None:
    w.cko.close()
    w.fp.close()
    w.engine.dispose()
    w.fp_sb.stop()
    w.cko_sb.stop()


@pytest.fixture
def world(migrated_warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)
    w = make_world(migrated_warehouse_url, order_specs(6))
    try:
        yield w
    finally:
        close_world(w)
