"""Every planted anomaly is found, exactly, and nothing else (docs/scenario-format.md, planting).

One pipeline run per warehouse (module-scoped: the simulators and the ingestion are the
expensive part), then reconciliation on it: the planted exception keys and no others; money per
order currency to the minor unit; a rerun changes nothing; resolving an anomaly in the
simulators closes its exception with ``resolved_at`` on the next run; an explained exception
stays explained.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from planted_pipeline import Planted, planted_world

from cfp_dev.demo.planted_check import control_orders
from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from checkout_freshportal.reconcile import service
from checkout_freshportal.warehouse import schema

from events_fixtures import CARD


def reconcile(world: Planted, run: str, minutes: int = 1) -> Any:
    from checkout_freshportal.reconcile.settings import ReconcileSettings

    settings = ReconcileSettings.from_mapping(world.scenario["demo"]["reconciliation"]["settings"])
    return service.run_reconciliation(
        world.engine, settings, run_id=run, as_of=world.now + timedelta(minutes=minutes), full=True
    )


def exceptions(world: Planted) -> dict[str, dict[str, Any]]:
    return {r["exception_key"]: r for r in world.rows(schema.recon_exceptions)}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    """One pipeline run per warehouse kind, shared by the tests below (in file order)."""
    import shutil

    if request.param == "sqlite":
        db = tmp_path_factory.mktemp("planted") / "warehouse.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_migrated_template"), db)
        url = f"sqlite:///{db}"
    else:
        scratch = request.getfixturevalue("module_pg_databases")
        url = scratch.new(template=request.getfixturevalue("pg_migrated_template"))
    with planted_world(url) as w:
        w.run_pipeline()
        reconcile(w, "planted-1")
        yield w


def test_exactly_the_planted_exceptions(world: Planted) -> None:
    found = {k for k, r in exceptions(world).items() if r["status"] == "open"}
    expected = world.expected_keys()
    assert sorted(found - set(expected)) == [], "found but not planted"
    assert sorted(set(expected) - found) == [], "planted but not found"
    kinds = {k.split(":", 1)[0] for k in expected}
    assert len(kinds) == 15


def test_control_orders_have_no_exception(world: Planted) -> None:
    controls = set(control_orders(world.scenario))
    on_controls = [r["exception_key"] for r in exceptions(world).values() if r["order_number"] in controls]
    assert on_controls == []


def truth_totals(world: Planted) -> dict[str, dict[str, int]]:
    """Per order currency, from the scenario's orders and the Checkout.com simulator's own
    payments (not the warehouse): what the run totals must say, to the minor unit.

    A payment pays the order its reference names, else the one its metadata names, else the
    orders whose invoice numbers its reference lists (one transfer for several invoices: its
    money counts once, on the lowest confirmed order among them in its currency, and each
    confirmed order of it is matched when what was captured reaches the confirmed orders' amount,
    what was kept after refunds is at most every invoice's, and no more was refunded than the
    smaller of every invoice and what was captured)."""
    confirmed = {"confirmed", "picking", "delivered", "invoiced"}
    orders = world.scenario["freshportal"]["orders"]
    by_number = {o["order_number"]: o for o in orders}
    by_id = {str(o["order_id"]): o for o in orders}
    by_invoice = {i["invoice_number"]: o for o in orders for i in o.get("invoices", [])}
    out: dict[str, dict[str, int]] = {}

    def totals(currency: str) -> dict[str, int]:
        return out.setdefault(currency, dict.fromkeys(FIGURES, 0))

    money: dict[str, list[Any]] = {}  # order number -> payments whose money counts on it
    # transfers: payments listing invoices, joined into one group when they list a same order
    groups: list[tuple[dict[str, dict[str, Any]], list[Any]]] = []
    for p in world.cko_sb.world.payments.values():
        if p.reference in by_number:
            money.setdefault(p.reference, []).append(p)
        elif str(p.metadata.get("order_id")) in by_id:
            money.setdefault(by_id[str(p.metadata["order_id"])]["order_number"], []).append(p)
        else:
            tokens = re.split(r"[,;\s]+", p.reference or "")
            listed = {by_invoice[t]["order_number"]: by_invoice[t] for t in tokens if t in by_invoice}
            listed = {n: o for n, o in listed.items() if o["currency"] == p.currency}
            if not listed:
                continue
            shared = [g for g in groups if set(g[0]) & set(listed)]
            for g in shared:
                groups.remove(g)
                listed.update(g[0])
            groups.append((listed, [p, *(q for g in shared for q in g[1])]))
    in_groups = {n for listed, _ in groups for n in listed}
    for listed, pays in groups:
        due = [o for o in listed.values() if o["status"] in confirmed]
        if not due:
            continue
        t = totals(pays[0].currency)
        captured = sum(p.total_captured for p in pays)
        t["captured_minor"] += captured
        t["refunded_minor"] += sum(p.total_refunded for p in pays)
        lo, hi = sum(o["amount_minor"] for o in due), sum(o["amount_minor"] for o in listed.values())
        for o in due:
            t["orders"] += 1
            t["ordered_minor"] += o["amount_minor"]
            refunded = sum(p.total_refunded for p in pays)
            if lo <= captured and captured - refunded <= hi and refunded <= min(hi, captured):
                t["orders_matched"] += 1
                t["matched_minor"] += o["amount_minor"]
    for o in orders:
        if o["status"] not in confirmed or o["order_number"] in in_groups:
            continue
        mine = [p for p in money.get(o["order_number"], []) if p.currency == o["currency"]]
        captured = sum(p.total_captured for p in mine)
        t = totals(o["currency"])
        t["orders"] += 1
        t["ordered_minor"] += o["amount_minor"]
        t["captured_minor"] += captured
        t["refunded_minor"] += sum(p.total_refunded for p in mine)
        refunded, amount = sum(p.total_refunded for p in mine), o["amount_minor"]
        if (
            mine
            and amount <= captured
            and captured - refunded <= amount
            and refunded <= min(amount, captured)
        ):
            t["orders_matched"] += 1
            t["matched_minor"] += o["amount_minor"]
    return out


FIGURES = ("orders", "orders_matched", "ordered_minor", "matched_minor", "captured_minor", "refunded_minor")


def test_money_ties_out_per_currency_to_the_minor_unit(world: Planted) -> None:
    t = schema.recon_run_totals
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.run_id == "planted-1")).mappings()
        totals = {r["currency"]: {f: int(r[f]) for f in FIGURES} for r in rows}
    want = truth_totals(world)
    assert {"JPY", "EUR", "GBP", "KWD"} <= set(want)
    assert {c: totals.get(c) for c in want} == want


def test_rerun_changes_nothing(world: Planted) -> None:
    def snapshot() -> list[tuple[Any, ...]]:
        return sorted(
            (r["exception_key"], r["status"], r["state_version"], r["expected_minor"], r["actual_minor"])
            for r in exceptions(world).values()
        )

    before, events = snapshot(), len(world.rows(schema.recon_exception_events))
    reconcile(world, "planted-2", minutes=2)
    assert snapshot() == before
    assert len(world.rows(schema.recon_exception_events)) == events


def test_resolved_in_the_simulators_closes_and_explained_stays(world: Planted) -> None:
    """The customer pays the missing order, Checkout.com corrects the payout, a FreshPortal user
    cancels the forgotten refund request: those three close with resolved_at; the explained
    open chargeback stays explained; every other exception stays as it was."""
    from checkout_freshportal.reconcile.explain import explain

    expected = world.expected_keys()
    by_case = {case: key for key, case in expected.items()}
    explain(world.engine, by_case["chargeback_open"], note="evidence sent on 12-03", author="finance-test")

    r = requests.post(
        f"{world.cko_sb.base_url}/payments",
        json={"source": CARD, "amount": 48_000, "currency": "JPY", "reference": "FP-810001"},
        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
        timeout=10,
    )
    assert r.status_code in (201, 202), r.text
    payout_id = by_case["payout_mismatch"].rsplit(":", 1)[1]
    r = requests.post(f"{world.cko_sb.base_url}/_sandbox/payouts/{payout_id}/correct", timeout=10)
    assert r.status_code == 200, r.text
    (rr,) = [
        x
        for x in requests.get(f"{world.fp_sb.base_url}/_sandbox/state", timeout=10).json()["refund_requests"]
        if x["order_number"] == "FP-810008"
    ]
    r = requests.patch(
        f"{world.fp_sb.base_url}/_sandbox/refund-requests/{rr['id']}",
        json={"status": "cancelled"},
        timeout=10,
    )
    assert r.status_code == 200, r.text

    world.ingest()
    refunds_pull(world)
    reconcile(world, "planted-3", minutes=3)
    after = exceptions(world)
    closed = {by_case[c] for c in ("missing_payment", "payout_mismatch", "refund_not_executed")}
    for key in closed:
        assert after[key]["status"] == "resolved", key
        assert after[key]["resolved_at"] is not None, key
    assert after[by_case["chargeback_open"]]["status"] == "explained"
    still_open = {k for k, row in after.items() if row["status"] == "open"}
    assert still_open == set(expected) - closed - {by_case["chargeback_open"]}


def refunds_pull(world: Planted) -> None:
    """Only the refund-request feed (what ``freshportal_refunds`` stages first): the cancel."""
    from checkout_freshportal.sync.refunds import service as refunds

    refunds.run_step("pull", fp=world.fp, cko=world.cko, engine=world.engine)
