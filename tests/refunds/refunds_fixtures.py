"""Both real simulators, a webhook receiver that stores like the sidecar, and the refund sync.

Nothing is mocked: payments are made through the Checkout.com simulator's API, refund requests
are created in the FreshPortal simulator as a user would, the refund steps call both over HTTP,
and what Checkout.com executed is counted from its own ``GET /payments/{id}/actions``.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from cfp_dev.sandbox.checkout import SandboxServer
from cfp_dev.sandbox.freshportal import (
    FreshPortalSandboxConfig,
    FreshPortalSandboxServer,
)
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.sync.refunds import service
from checkout_freshportal.sync.refunds.settings import RefundSettings
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

from events_fixtures import (
    CARD,
    StoringReceiver,
    checkout_client,
    checkout_sandbox,
    register_workflow,
    session,
    wait_for_deliveries,
    wait_until,
)


def order(number: str, currency: str, amount_minor: int) -> dict[str, Any]:
    return {"order_number": number, "currency": currency, "amount_minor": amount_minor, "status": "invoiced"}


@dataclass
class RefundWorld:
    cko_sb: SandboxServer
    fp_sb: FreshPortalSandboxServer
    cko: CheckoutClient
    fp: FreshPortalClient
    engine: sa.Engine
    receiver: StoringReceiver
    payments: dict[str, str] = field(default_factory=dict)  # order number -> payment id

    # ------------------------------------------------------------------ Checkout.com side
    def pay(self, number: str, amount: int, currency: str = "EUR", *, capture: bool = True) -> str:
        body = {
            "source": dict(CARD),
            "amount": amount,
            "currency": currency,
            "reference": number,
            "capture": capture,
        }
        r = session().post(f"{self.cko_sb.base_url}/payments", json=body)
        assert r.status_code in (201, 202), r.text
        pid = str(r.json()["id"])
        self.payments[number] = pid
        return pid

    def payment(self, payment_id: str) -> dict[str, Any]:
        r = session().get(f"{self.cko_sb.base_url}/payments/{payment_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def actions(self, payment_id: str, action_type: str) -> list[dict[str, Any]]:
        r = session().get(f"{self.cko_sb.base_url}/payments/{payment_id}/actions")
        assert r.status_code == 200, r.text
        return [a for a in r.json() if a.get("type") == action_type]

    def wait_event(self, event_type: str, count: int = 1) -> None:
        """Until ``count`` webhooks of ``event_type`` are stored (an action lands after a delay)."""
        t = schema.raw_webhook_events

        def stored() -> bool:
            with self.engine.connect() as conn:
                q = sa.select(sa.func.count()).where(t.c.event_type == event_type)
                return int(conn.execute(q).scalar_one()) >= count

        wait_until(stored, what=f"{count} {event_type} webhook(s)")

    def settle(self) -> None:
        """Every due webhook delivered and stored (the simulator's clock runs fast)."""
        wait_for_deliveries(self.cko_sb, self.receiver)

    # ------------------------------------------------------------------ FreshPortal side
    def request_refund(
        self, number: str, amount_minor: int, reason: str = "damaged_goods", **extra: Any
    ) -> str:
        body = {"order_number": number, "amount_minor": amount_minor, "reason": reason, **extra}
        r = requests.post(f"{self.fp_sb.base_url}/_sandbox/refund-requests", json=body, timeout=10)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def fp_requests_state(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.fp_sb.base_url}/_sandbox/state", timeout=10).json())

    def fp_requests(self) -> dict[str, dict[str, Any]]:
        return {str(r["id"]): r for r in self.fp_requests_state()["refund_requests"]}

    # ------------------------------------------------------------------ the sync
    def run(self, settings: RefundSettings | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return service.run_all(
            fp=self.fp, cko=self.cko, engine=self.engine, settings=settings or fast_settings(), **kwargs
        )

    def intents(self) -> dict[str, dict[str, Any]]:
        t = schema.sync_money_intents
        with self.engine.connect() as conn:
            return {r.request_key.split(":", 1)[1]: dict(r._mapping) for r in conn.execute(sa.select(t))}

    def now(self) -> datetime:
        return self.cko_sb.state.clock.now()


def fast_settings(**overrides: Any) -> RefundSettings:
    """No waiting in tests: an unanswered request is looked up at once."""
    base: dict[str, Any] = {"in_doubt_after": "0s", "outcome_timeout": "0s"}
    base.update(overrides)
    return RefundSettings(**base)


def executed(world: RefundWorld) -> Counter[str]:
    """Refund and void actions Checkout.com holds, per order number (its own truth)."""
    out: Counter[str] = Counter()
    for number, pid in world.payments.items():
        out[number] += len(world.actions(pid, "Refund")) + len(world.actions(pid, "Void"))
    return out


@pytest.fixture
def refund_world(
    request: pytest.FixtureRequest, migrated_warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RefundWorld]:
    """``indirect`` parametrisation gives the FreshPortal orders (default: DEFAULT_ORDERS)."""
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)
    orders = getattr(request, "param", None)
    engine = make_engine(migrated_warehouse_url)
    upgrade(engine)
    receiver = StoringReceiver(engine)
    fp_sb = FreshPortalSandboxServer(
        FreshPortalSandboxConfig(seed=3, orders=orders or DEFAULT_ORDERS, refund_requests=[])
    ).start()
    fp = FreshPortalClient(
        FreshPortalSettings(
            base_url=fp_sb.base_url, api_key=fp_sb.api_key, backoff_base=0.001, backoff_cap=0.01
        )
    )
    with checkout_sandbox() as cko_sb:
        register_workflow(cko_sb, receiver.url)
        cko = checkout_client(cko_sb)
        world = RefundWorld(cko_sb, fp_sb, cko, fp, engine, receiver)
        try:
            yield world
        finally:
            cko.close()
            fp.close()
            fp_sb.stop()
            receiver.close()
            engine.dispose()


DEFAULT_ORDERS = [
    order("FP-400001", "EUR", 10000),  # full refund
    order("FP-400002", "EUR", 5000),  # two partials
    order("FP-400003", "EUR", 5000),  # over-refund
    order("FP-400004", "GBP", 7000),  # paid in EUR: wrong currency
    order("FP-400005", "EUR", 8000),  # authorised only: full refund -> void
    order("FP-400006", "EUR", 8000),  # authorised only: partial refund -> rejected
    order("FP-400007", "EUR", 3000),  # no payment at all
    order("FP-400008", "EUR", 4000),  # duplicate create
]
