"""A load committing while a run works (PostgreSQL, READ COMMITTED: each statement of the run
reads the staged tables as they are when it starts). The run answers every question from what
its own statements read, so a row committed between two of them neither splits an order nor
makes the run look at a payment it never matched. Found by a review's probes of the
performance changes of 2026-12-07's seventh session; both failed there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from recon_builders import T, World, exceptions, matches, reconcile

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.warehouse.schema.recon import recon_order_facts


def _after_first_matches(
    monkeypatch: pytest.MonkeyPatch, url: Any, change: Callable[[sa.Connection], None]
) -> None:
    """Commits ``change`` from another session right after the run's first write of ``match``
    (R1's statement), before R2 and R3 read the staged tables."""
    other = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    fill, done = sqlbits.fill, []

    def fill_then_change(conn: sa.Connection, table: sa.Table, select: sa.Select[Any]) -> int:
        n = fill(conn, table, select)
        if table.name == "recon_tmp_match" and not done:
            done.append(True)
            with other.connect() as c:
                change(c)
        return n

    monkeypatch.setattr(sqlbits, "fill", fill_then_change)


def test_an_order_changed_between_r1_and_r2_stays_one_order(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = pg_world
    w.order("o1", 1000, payment_status="Pending")
    w.payment("p1", 500, reference="ORD-o1")  # R1
    w.payment("p2", 500, reference="card", metadata={"order_id": "o1"})  # R2
    _after_first_matches(
        monkeypatch,
        w.engine.url,
        lambda c: c.execute(sa.text("UPDATE stg_orders SET payment_status = 'Paid' WHERE order_id = 'o1'")),
    )
    reconcile(w.engine, "r1", T)  # failed on the order facts' key: o1 twice in `order`
    with w.engine.connect() as conn:
        facts = conn.execute(sa.select(recon_order_facts.c.order_id, recon_order_facts.c.matched)).all()
    assert [tuple(f) for f in facts] == [("o1", True)]
    assert {k for k, r in exceptions(w.engine).items() if r["status"] == "open"} == set()


def test_a_payment_committed_after_r1_does_not_undo_an_invoice_match(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = pg_world
    w.order("o1", 500, invoices=["INV-1"])
    w.order("o2", 500, invoices=["INV-2"])
    w.payment("t1", 1000, reference="INV-1 INV-2")  # one transfer for both invoices (R3)
    _after_first_matches(
        monkeypatch,
        w.engine.url,
        lambda c: c.execute(
            sa.text(
                "INSERT INTO stg_payments (payment_id, status, requested_on, currency, amount_minor, "
                "reference, first_seen_at, updated_at, source) VALUES ('pX', 'Captured', :t, 'EUR', "
                "500, 'ORD-o2', :t, :t, 'test')"
            ),
            {"t": T},
        ),
    )
    reconcile(w.engine, "r1", T)
    # this run never read pX: o2 is still paid by the transfer, as the run saw it
    assert {(o, p, rule) for o, p, rule, *_ in matches(w.engine)} == {
        ("o1", "t1", "invoice_reference"),
        ("o2", "t1", "invoice_reference"),
    }
    assert {k for k, r in exceptions(w.engine).items() if r["status"] == "open"} == set()
