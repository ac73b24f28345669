"""A lower bound for a full reconciliation run: what its rules must read, with nothing written.

The goal "a full run <= 4x the bare join" compares the run with one read-only join of three key
columns. These four queries are what any design of the rules has to read in a full run, whatever
it keeps or writes, each as one read-only statement with a few rows out (so PostgreSQL may plan
it in parallel, like the bare join):

* ``order_money``: every order with the payments whose reference is its number (R1) or whose
  ``metadata.order_id`` is its id (R2), captured money summed per order in the order's currency
  and compared with the order's amount (``missing_payment``, ``amount_mismatch``,
  ``duplicate_payment``, the totals);
* ``payout_lines``: the financial-action lines joined to their payout ids, summed per payout and
  currency (``payout_mismatch``): the run's own statement (``detect_money.line_sums``);
* ``unsettled``: the approved captures past the settlement window with no line in a payout
  (``unsettled_capture``);
* ``orphans``: the captured payments that neither rule ties to an order (``orphan_payment``).

Left out, so the figure stays low: R3 and R4 (invoice lists, suggestions), refunds, disputes,
status drift, failures, and every write (matches, facts, exceptions). It is the sum of four
separate statements, so it is not a strict bound: ``payout_lines`` and ``unsettled`` both join
the lines to their payout ids, and ``orphans`` reads again the payments-to-orders join that
``order_money`` makes; a design serving them from shared reads could save part of that (about
a second by estimate, the two repeated joins), and a design may also run reads side by side.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.detect_money import line_sums
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.warehouse.schema import (
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
    stg_payment_actions,
    stg_payments,
)

#: The run's default settlement window, read from its settings (not a copy that could drift).
SETTLEMENT_WINDOW = ReconcileSettings().settlement_window


def _captured() -> Any:
    return sa.func.coalesce(stg_payments.c.total_captured_minor, 0)


def _meta_order_id() -> Any:
    return stg_payments.c.metadata["order_id"].as_string()


def order_money() -> sa.Select[Any]:
    o, p = stg_orders, stg_payments

    def pairs(on: Any, *where: Any) -> sa.Select[Any]:
        return (
            sa.select(
                o.c.order_id.label("order_id"),
                o.c.currency.label("o_ccy"),
                p.c.currency.label("p_ccy"),
                _captured().label("cap"),
            )
            .select_from(p.join(o, on))
            .where(*where)
        )

    by_reference = o.alias("by_reference")
    m = sa.union_all(
        pairs(o.c.order_number == p.c.reference),
        pairs(
            o.c.order_id == _meta_order_id(),
            o.c.order_number.is_distinct_from(p.c.reference),
            ~sa.exists().where(by_reference.c.order_number == p.c.reference),
        ),
    ).subquery("m")
    per = (
        sa.select(
            m.c.order_id,
            sa.func.sum(sa.case((m.c.p_ccy == m.c.o_ccy, m.c.cap), else_=0)).label("cap"),
            sa.func.count().label("n"),
        )
        .group_by(m.c.order_id)
        .subquery("per")
    )
    return (
        sa.select(
            o.c.currency,
            sa.func.count(),
            sa.func.sum(sa.case((per.c.order_id.is_(None), 1), else_=0)).label("unpaid"),
            sa.func.sum(sa.case((per.c.cap != o.c.amount_minor, 1), else_=0)).label("mismatch"),
            sa.func.sum(sa.case((per.c.n > 1, 1), else_=0)).label("several"),
        )
        .select_from(o.outerjoin(per, per.c.order_id == o.c.order_id))
        .group_by(o.c.currency)
    )


def unsettled(as_of: datetime) -> sa.Select[Any]:
    a, fa, fap = stg_payment_actions, stg_financial_actions, stg_financial_action_payouts
    on = sa.and_(fa.c.processed_on == fap.c.processed_on, fa.c.line_key == fap.c.line_key)
    paid_out = sa.exists().select_from(fa.join(fap, on)).where(fa.c.action_id == a.c.action_id)
    return sa.select(sa.func.count()).where(
        a.c.action_type == "Capture",
        a.c.approved.is_(True),
        a.c.processed_on <= as_of - SETTLEMENT_WINDOW,
        ~paid_out,
    )


def orphans() -> sa.Select[Any]:
    o, p = stg_orders, stg_payments
    return sa.select(sa.func.count()).where(
        _captured() > 0,
        ~sa.exists().where(o.c.order_number == p.c.reference),
        ~sa.exists().where(o.c.order_id == _meta_order_id()),
    )


def reads(as_of: datetime) -> dict[str, sa.Select[Any]]:
    return {
        "order_money": order_money(),
        "payout_lines": sa.select(sa.func.count()).select_from(line_sums().subquery()),
        "unsettled": unsettled(as_of),
        "orphans": orphans(),
    }


def measure(engine: sa.Engine, as_of: datetime, repeat: int, *, serial: bool = False) -> dict[str, Any]:
    """Each read ``repeat`` times on one connection, with the run's session settings
    (``sqlbits.prepare_connection``: hash memory, no JIT; ``hash_aggregates``: sums per payout
    hashed, not sorted); the medians and their sum. ``serial``: no parallel workers, to compare
    with the bare join planned the same way."""
    out: dict[str, Any] = {}
    for name, sel in reads(as_of).items():
        times, rows = [], []
        for _ in range(repeat):
            with engine.begin() as conn, sqlbits.hash_aggregates(conn):
                sqlbits.prepare_connection(conn)
                if serial and conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
                t0 = time.perf_counter()
                rows = [tuple(str(x) for x in r) for r in conn.execute(sel)]
                times.append(time.perf_counter() - t0)
        out[name] = {"seconds": times, "median": sorted(times)[len(times) // 2], "result": rows}
    out["sum_of_medians"] = sum(v["median"] for v in out.values())
    return out
