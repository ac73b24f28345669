"""Headline figures per run and currency (``recon_run_totals``) and the run's counts.

Per order currency, over every confirmed order (``recon_order_facts``, kept current by full and
incremental runs alike, so an incremental run's totals equal a full run's): orders, orders
matched (a confirmed match and the same-currency captured amount equal to the order amount),
their amounts, captured, refunded, lost chargebacks; and the open exceptions in that currency.
Each is one ``GROUP BY`` returning one row per currency.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.warehouse.schema import recon_exceptions, recon_matches, recon_run_totals
from checkout_freshportal.warehouse.schema.recon import recon_order_facts

_FIGURES = (
    "orders",
    "orders_matched",
    "ordered_minor",
    "matched_minor",
    "captured_minor",
    "refunded_minor",
    "chargeback_minor",
    "open_exceptions",
)


def write_totals(ctx: Ctx) -> list[dict[str, Any]]:
    of, e = recon_order_facts, recon_exceptions
    by_ccy: dict[str, dict[str, Any]] = {}

    def slot(ccy: str | None) -> dict[str, Any]:
        code = ccy or "XXX"  # an exception without a currency (status drift) counts under XXX
        return by_ccy.setdefault(code, {"currency": code, **dict.fromkeys(_FIGURES, 0)})

    def total(col: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(col), 0)

    orders = sa.select(
        of.c.currency,
        sa.func.count(),
        total(sa.case((of.c.matched.is_(True), 1), else_=0)),
        total(of.c.amount_minor),
        total(sa.case((of.c.matched.is_(True), of.c.amount_minor), else_=0)),
        total(of.c.captured_minor),
        total(of.c.refunded_minor),
        total(of.c.chargeback_minor),
    ).group_by(of.c.currency)
    for ccy, *figs in ctx.conn.execute(orders):
        s = slot(ccy)
        for name, value in zip(_FIGURES[:7], figs, strict=True):
            s[name] = int(value)
    opened = sa.select(e.c.currency, sa.func.count()).where(e.c.status == "open").group_by(e.c.currency)
    for ccy, n in ctx.conn.execute(opened):
        slot(ccy)["open_exceptions"] = int(n)
    rows = [{"run_id": ctx.run_id, "as_of": ctx.as_of, **s} for _, s in sorted(by_ccy.items())]
    ctx.conn.execute(recon_run_totals.delete().where(recon_run_totals.c.run_id == ctx.run_id))
    if rows:
        ctx.conn.execute(recon_run_totals.insert(), rows)
    return rows


def exception_counts(ctx: Ctx) -> dict[str, dict[str, int]]:
    """Exceptions by kind and status (all of them, not only this run's scope)."""
    e = recon_exceptions
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in ctx.conn.execute(
        sa.select(e.c.kind, e.c.status, sa.func.count()).group_by(e.c.kind, e.c.status)
    ):
        out.setdefault(kind, {})[status] = int(n)
    return out


def match_counts(ctx: Ctx) -> dict[str, int]:
    m = recon_matches
    rows = ctx.conn.execute(sa.select(m.c.rule, sa.func.count()).group_by(m.c.rule))
    return {str(rule): int(n) for rule, n in rows}
