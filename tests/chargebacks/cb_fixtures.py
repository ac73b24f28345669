"""Shared pieces of the chargeback tests: both simulators over HTTP, and dispute histories.

The Checkout.com sandbox plays each dispute through its admin routes and delivers the real
webhooks to a storing receiver (``events_fixtures.StoringReceiver``, the sidecar's own store);
a test then feeds those bytes to its own warehouse in the order it wants (as delivered,
reversed, duplicated), applies them with the real use case and pushes to the FreshPortal sandbox.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from cfp_dev.sandbox.checkout import SandboxServer
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.status_push import service as push
from checkout_freshportal.warehouse import schema

from events_fixtures import (
    StoringReceiver,
    add_order,
    api_status,
    checkout_client,
    checkout_sandbox,
    migrated,
    pay,
    post,
    register_workflow,
    rows,
    store_bodies,
    wait_for_deliveries,
    wait_until,
)

MAPPING = load_mapping(environ={})
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Played:
    """One order's payment and disputes as the sandbox delivered them."""

    order_id: str
    payment_id: str
    dispute_ids: tuple[str, ...]
    bodies: tuple[bytes, ...]  # in delivery order, each once

    def types(self) -> list[str]:
        return [json.loads(b)["type"] for b in self.bodies]


class World:
    """A module's Checkout.com sandbox, its webhook receiver and a FreshPortal sandbox."""

    def __init__(self, sb: SandboxServer, fp: FreshPortalSandboxServer, collector: sa.Engine) -> None:
        self.sb, self.fp, self.collector = sb, fp, collector
        self.receiver = StoringReceiver(collector)

    def close(self) -> None:
        self.receiver.close()

    def fp_client(self) -> FreshPortalClient:
        settings = FreshPortalSettings(
            base_url=self.fp.base_url,
            api_key=self.fp.api_key,
            max_retries=1,
            backoff_base=0.01,
            backoff_cap=0.02,
        )
        return FreshPortalClient(settings, mapping=MAPPING)

    def captured_payment(self, order_id: str, amount: int) -> str:
        pid = pay(self.sb, amount, f"FP-{order_id}", metadata={"freshportal_order_id": order_id})["id"]
        wait_until(lambda: api_status(self.sb, pid)["balances"]["total_captured"] == amount, what="capture")
        return str(pid)

    def open_dispute(self, pid: str, **body: Any) -> str:
        return str(post(self.sb, f"/_sandbox/payments/{pid}/dispute", body, expect=201)["id"])

    def dispute_events(self, dispute_id: str, events: list[str]) -> None:
        post(self.sb, f"/_sandbox/disputes/{dispute_id}/events", {"events": events}, expect=200)

    def dispute_steps(self, dispute_id: str, events: list[str]) -> None:
        """One event type at a time, each delivered before the next is sent (delivery = life order)."""
        wait_for_deliveries(self.sb, self.receiver)
        for event in events:
            self.dispute_events(dispute_id, [event])
            wait_for_deliveries(self.sb, self.receiver)

    def retrieval(self, pid: str) -> str:
        return str(
            post(self.sb, f"/_sandbox/payments/{pid}/retrieval", {"reason_code": "10.4"}, expect=201)["id"]
        )

    def played(self, order_id: str, pid: str, dispute_ids: tuple[str, ...]) -> Played:
        """Everything delivered about the payment and its disputes, in delivery order, once each."""
        wait_for_deliveries(self.sb, self.receiver)
        t = schema.raw_webhook_events
        with self.collector.connect() as conn:
            found = conn.execute(sa.select(t.c.body).order_by(t.c.received_at, t.c.event_id)).scalars().all()
        mine = []
        for body in found:
            data = json.loads(body)["data"]
            if pid in (data.get("id"), data.get("payment_id")):
                mine.append(bytes(body))
        return Played(order_id, pid, dispute_ids, tuple(mine))


def fresh_warehouse(url: str, played: Played, amount: int) -> sa.Engine:
    from events_fixtures import migrated

    engine = migrated(url)
    add_order(engine, played.order_id, f"FP-{played.order_id}", amount)
    return engine


def apply_each(engine: sa.Engine, bodies: list[bytes], checkout: Any = None) -> list[ev.ApplyResult]:
    """One delivery per run, each received a second after the last (a re-sent id adds nothing)."""
    out = []
    for i, body in enumerate(bodies):
        store_bodies(engine, [body], T0 + timedelta(seconds=i))
        out.append(ev.apply_events(engine, checkout, MAPPING))
    return out


def outbox(engine: sa.Engine, order_id: str) -> list[dict[str, Any]]:
    return [
        r for r in rows(engine, schema.sync_status_outbox, "order_id", "version") if r["order_id"] == order_id
    ]


def signals(engine: sa.Engine, order_id: str) -> list[str | None]:
    """The chargeback status of each outbox version of the order."""
    return [(r["payload"].get("chargeback") or {}).get("status") for r in outbox(engine, order_id)]


def push_and_read(engine: sa.Engine, world: World, order_id: str) -> dict[str, Any]:
    push.push_statuses(engine, world.fp_client())
    with world.fp.state._lock:
        return dict(world.fp.state.orders[int(order_id)].payment or {})


def checkout_of(world: World) -> Any:
    return checkout_client(world.sb)


@contextmanager
def sandbox_world(tmp_dir: Path, order_ids: Sequence[str], amount: int, *, seed: int) -> Iterator[World]:
    """Both simulators with one confirmed EUR order per id, the webhook receiver registered and a
    migrated collector warehouse: the module-scoped world each chargeback test file plays in."""
    orders = [
        {
            "order_id": int(o),
            "order_number": f"FP-{o}",
            "currency": "EUR",
            "amount_minor": amount,
            "status": "confirmed",
        }
        for o in order_ids
    ]
    collector = migrated(f"sqlite:///{tmp_dir / 'collector.sqlite'}")
    with (
        checkout_sandbox() as sb,
        FreshPortalSandboxServer(FreshPortalSandboxConfig(seed=seed, orders=orders, order_count=0)) as fp,
    ):
        w = World(sb, fp, collector)
        register_workflow(sb, w.receiver.url)
        try:
            yield w
        finally:
            w.close()
            collector.dispose()
