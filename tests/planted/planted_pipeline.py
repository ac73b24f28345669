"""The whole pipeline on the planted-anomalies scenario, without Airflow (library calls).

Both simulators run in-process on loopback, loaded from
``examples/scenarios/reconciliation-anomalies.json`` moved to the wall clock
(``cfp_dev.sandbox.planted.rebase``: the status push and ``as_of`` are wall-clock stamps).
Webhooks go to the events tests' storing receiver (the sidecar's own store). The steps are the
DAGs' in the demo's order: ingestion, FreshPortal orders, payment links for the open orders
(their customers pay), events, status push, refunds, events and push again, a second ingestion
(what the refunds moved), orders again (hand-edited statuses), then reconciliation.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from cfp_dev.demo.planted_check import expected_keys
from cfp_dev.paths import REPO_ROOT
from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from cfp_dev.sandbox.planted import rebase
from cfp_dev.sandbox.shared_scenario import checkout_section
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as events
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.orders import sync_orders
from checkout_freshportal.sync.payment_links import service as links
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings
from checkout_freshportal.sync.refunds import service as refunds
from checkout_freshportal.sync.refunds.settings import RefundSettings
from checkout_freshportal.sync.status_push import service as push

from events_fixtures import StoringReceiver, register_workflow, wait_for_deliveries

SCENARIO = REPO_ROOT / "examples" / "scenarios" / "reconciliation-anomalies.json"


@dataclass
class Planted:
    scenario: dict[str, Any]
    cko_sb: SandboxServer
    fp_sb: FreshPortalSandboxServer
    cko: CheckoutClient
    fp: FreshPortalClient
    engine: sa.Engine
    receiver: StoringReceiver
    now: datetime

    # ------------------------------------------------------------------ steps
    def ingest(self) -> None:
        ingest.run_all(self.cko, self.engine, IngestSettings(settle="0s"))

    def orders(self) -> None:
        sync_orders(self.fp, self.engine)

    def events_and_push(self) -> None:
        wait_for_deliveries(self.cko_sb, self.receiver)
        events.apply_events(self.engine, self.cko, load_mapping(environ={}))
        push.push_statuses(self.engine, self.fp)

    def payment_links(self) -> None:
        go_live = self.scenario["demo"]["go_live"]
        links.run_all(self.fp, self.cko, self.engine, PaymentRequestSettings(confirmed_after=go_live))
        state = requests.get(f"{self.fp_sb.base_url}/_sandbox/state", timeout=10).json()
        link_of = {
            o["order_number"]: (o.get("payment") or {}).get("payment_link_id") for o in state["orders"]
        }
        for customer in self.scenario["demo"]["customers"]:
            link = link_of[customer["order_number"]]
            assert link, f"no payment link on {customer['order_number']}"
            r = requests.post(
                f"{self.cko_sb.base_url}/_sandbox/payment-links/{link}/pay",
                json={"card_number": self.scenario["demo"]["approve_card"]},
                timeout=10,
            )
            assert r.status_code == 201, r.text

    def refunds(self) -> None:
        refunds.run_all(
            fp=self.fp,
            cko=self.cko,
            engine=self.engine,
            settings=RefundSettings(in_doubt_after="0s", outcome_timeout="0s"),
        )

    def run_pipeline(self) -> None:
        self.ingest()
        self.orders()
        self.payment_links()
        self.events_and_push()
        self.refunds()
        self.events_and_push()
        self.ingest()
        self.orders()

    # ------------------------------------------------------------------ reading
    def rows(self, table: sa.Table, **where: Any) -> list[dict[str, Any]]:
        q = sa.select(table)
        for col, value in where.items():
            q = q.where(table.c[col] == value)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def expected_keys(self) -> dict[str, str]:
        """exception_key -> planted case, from each case's ``expected_exceptions``."""
        return expected_keys(self.engine, self.scenario)


@contextmanager
def planted_world(warehouse_url: str, now: datetime | None = None) -> Iterator[Planted]:
    """Both simulators on the rebased scenario, a storing receiver, a migrated warehouse."""
    from checkout_freshportal.warehouse.engine import make_engine

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    scenario = rebase(json.loads(SCENARIO.read_text(encoding="utf-8")), now)
    engine = make_engine(warehouse_url)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cfp-planted-") as tmp:
        path = Path(tmp) / "checkout.json"
        path.write_text(json.dumps(checkout_section(scenario)), encoding="utf-8")
        cko_sb = stack.enter_context(
            SandboxServer(
                SandboxConfig(
                    scenario_path=str(path),
                    read_rps=0,
                    write_rps=0,
                    clock_speed=1.0,
                    action_delay_seconds=0.0,
                )
            )
        )
        fp_sb = FreshPortalSandboxServer(FreshPortalSandboxConfig.from_scenario(scenario)).start()
        stack.callback(fp_sb.stop)
        receiver = StoringReceiver(engine)
        stack.callback(receiver.close)
        register_workflow(cko_sb, receiver.url)
        cko = CheckoutClient(CheckoutSettings(base_url=cko_sb.base_url, secret_key=DEFAULT_SECRET_KEY))
        stack.callback(cko.close)
        fp = FreshPortalClient(
            FreshPortalSettings(
                base_url=fp_sb.base_url, api_key=fp_sb.api_key, backoff_base=0.001, backoff_cap=0.01
            )
        )
        stack.callback(fp.close)
        stack.callback(engine.dispose)
        yield Planted(scenario, cko_sb, fp_sb, cko, fp, engine, receiver, now)
