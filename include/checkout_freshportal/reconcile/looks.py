"""Which orders of the run each detector of orders looks at, and the small tables of them.

The detectors of orders (detect_orders.py, detect_unconfirmed.py) each ask their own conditions
of the scratch table ``order`` (facts.build_orders: a million rows in a full run). Asked there,
each was a scan of the million orders. The orders meeting any of their conditions are written
to a small scratch table first (:func:`questioned`, one scan), and each detector asks its own
conditions again there: it finds exactly what it found in ``order``, since every row it could
find is in the table, whatever else the others put there.

The matches whose payment is in another currency than its order are picked the same way, once
(:func:`across`), for the two kinds that read them (``currency_mismatch``, and
``unconfirmed_order_paid`` for money kept in another currency).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx


def missing_when(ctx: Ctx, t: Any) -> list[Any]:
    """``missing_payment``: confirmed, past its due time, nothing captured, and something due
    (an order of 0, a voucher or a free replacement, gets no payment link and needs none)."""
    return [
        t.c.confirmed.is_(True),
        t.c.amount_minor > 0,
        t.c.confirmed_at <= ctx.cutoff(ctx.settings.payment_due),
        sa.func.coalesce(t.c.g_n_captured_any, 0) == 0,
    ]


def mismatch_when(_ctx: Ctx, t: Any) -> list[Any]:
    """``amount_mismatch`` (detect_orders.amount_mismatch says why each condition)."""
    captured, due, invoiced = t.c.g_captured_same, t.c.g_orders_amount, t.c.g_invoiced_amount
    kept = t.c.g_net_same
    return [
        t.c.confirmed.is_(True),
        t.c.currency == t.c.g_currency,
        captured > 0,
        sa.or_(captured < due, kept > invoiced),
        t.c.g_available_same == 0,
        ~sa.and_(t.c.g_n_captured_same >= 2, kept > invoiced),
    ]


def duplicate_when(_ctx: Ctx, t: Any) -> list[Any]:
    """``duplicate_payment``: several payments captured, more kept than every invoice."""
    return [
        t.c.confirmed.is_(True),
        t.c.currency == t.c.g_currency,
        t.c.g_n_captured_same >= 2,
        t.c.g_net_same > t.c.g_invoiced_amount,
    ]


def refund_limit(t: Any) -> Any:
    """What may be refunded: the smaller of every invoice of the group and what it captured."""
    ordered, captured = t.c.g_invoiced_amount, t.c.g_captured_same
    return sa.case((ordered < captured, ordered), else_=captured)


def over_refund_when(_ctx: Ctx, t: Any) -> list[Any]:
    """``over_refund``: refunded more than :func:`refund_limit`."""
    return [t.c.confirmed.is_(True), t.c.currency == t.c.g_currency, t.c.g_refunded_same > refund_limit(t)]


def keeps_money_when(_ctx: Ctx, t: Any) -> list[Any]:
    """``unconfirmed_order_paid``'s candidates: a group keeping money, and the order not
    confirmed or one of several in its group (detect_unconfirmed)."""
    return [t.c.g_net_same > 0, sa.or_(t.c.confirmed.is_not(True), t.c.g_n_orders > 1)]


def short_when(_ctx: Ctx, t: Any) -> list[Any]:
    """A group short of every invoice (``payment_failed`` reports a declined payment of it)."""
    return [t.c.g_captured_same < t.c.g_invoiced_amount]


_CONDITIONS = (missing_when, mismatch_when, duplicate_when, over_refund_when, keeps_money_when, short_when)


def questioned(ctx: Ctx) -> Any:
    """The orders of the run some detector of orders looks at (any of the conditions above), with
    every column of ``order``. One scan of the million orders for six readers, each then reading
    a few tens of thousands of rows (six scans took about 1 s of a full run at a million orders).
    Written at the first call, once per run."""
    if "questioned" not in ctx.tmp:
        t = ctx.tmp["order"]
        q = sqlbits.scratch(ctx.conn, "recon_tmp_questioned", *[sa.Column(c.name, c.type) for c in t.c])
        looked_at = sa.or_(*[sa.and_(*when(ctx, t)) for when in _CONDITIONS])
        sqlbits.fill(ctx.conn, q, sa.select(*t.c).where(looked_at))
        sqlbits.analyze(ctx.conn, q)
        ctx.tmp["questioned"] = q
    return ctx.tmp["questioned"]


def across(ctx: Ctx) -> Any:
    """The run's confirmed matches whose payment is in another currency than its order (few),
    with what their readers need of the pair: one scan of ``match`` for both readers."""
    if "across" not in ctx.tmp:
        m = ctx.tmp["match"]
        t = sqlbits.scratch(
            ctx.conn,
            "recon_tmp_across",
            sa.Column("order_id", sa.Text()),
            sa.Column("payment_id", sa.Text()),
            sa.Column("order_number", sa.Text()),
            sa.Column("o_currency", sa.String(3)),
            sa.Column("o_amount", sa.BigInteger()),
            sa.Column("o_confirmed", sa.Boolean()),
            sa.Column("currency", sa.String(3)),
            sa.Column("net", sa.BigInteger()),
            index=("payment_id", "order_id"),
        )
        sel = sa.select(
            m.c.order_id,
            m.c.payment_id,
            m.c.order_number,
            m.c.o_currency,
            m.c.o_amount,
            m.c.o_confirmed,
            m.c.currency,
            (m.c.captured - m.c.refunded).label("net"),
        ).where(m.c.confirmed.is_(True), m.c.currency.is_distinct_from(m.c.o_currency))
        sqlbits.fill(ctx.conn, t, sel)
        sqlbits.analyze(ctx.conn, t)
        ctx.tmp["across"] = t
    return ctx.tmp["across"]
