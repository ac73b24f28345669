"""The money facts the detectors compare, as scratch tables filled by ``INSERT ... SELECT``.

* ``pay``: one row per payment of the run: captured(p) = the payment's ``total_captured`` balance,
  else the sum of its approved Capture actions (a balance is NULL when unknown, never 0);
  refunded(p) likewise from Refund actions; what is left to capture; the keys matching uses.
* ``group``: one row per confirmed match group (matching.py): the group's orders' amount and
  its payments' money in the orders' currency (another currency is ``currency_mismatch``'s).
* ``order``: one row per order of the run, with its group (if any).
* ``payorder``: for each matched payment, the order that names it in exceptions (the lowest
  order id of its confirmed matches: a payment of several invoices names the first).

Also maintained here: ``recon_order_invoices`` (the invoice numbers of orders, rule R3) and
``recon_order_facts`` (per confirmed order, the source of the run totals).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.warehouse.schema import stg_disputes, stg_orders, stg_payment_actions, stg_payments
from checkout_freshportal.warehouse.schema.recon import recon_order_facts, recon_order_invoices

#: Dispute statuses where the money went back to the cardholder for good.
LOST_DISPUTE_STATUSES = ("lost", "accepted", "expired", "arbitration_lost")
#: Dispute statuses still waiting for evidence or a decision.
OPEN_DISPUTE_STATUSES = ("evidence_required", "evidence_under_review", "arbitration_under_review")

_BIG = sa.BigInteger


def _action_sum(action_type: str) -> Any:
    a = stg_payment_actions
    return (
        sa.select(sa.func.sum(a.c.amount_minor))
        .where(
            a.c.payment_id == stg_payments.c.payment_id,
            a.c.action_type == action_type,
            a.c.approved.is_(True),
        )
        .scalar_subquery()
    )


def build_payments(ctx: Ctx) -> sa.Table:
    p = stg_payments
    t = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_pay",
        sa.Column("payment_id", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("status", sa.Text()),
        sa.Column("amount_minor", _BIG()),
        sa.Column("captured", _BIG(), nullable=False),
        sa.Column("refunded", _BIG(), nullable=False),
        sa.Column("available", _BIG(), nullable=False),
        sa.Column("reference", sa.Text()),
        sa.Column("meta_order_id", sa.Text()),
        sa.Column("email_hash", sa.Text()),
        sa.Column("requested_on", p.c.requested_on.type),
        index=("payment_id", "reference", "meta_order_id", "email_hash"),
    )
    sel = sa.select(
        p.c.payment_id,
        p.c.currency,
        p.c.status,
        p.c.amount_minor,
        sa.func.coalesce(p.c.total_captured_minor, _action_sum("Capture"), 0).label("captured"),
        sa.func.coalesce(p.c.total_refunded_minor, _action_sum("Refund"), 0).label("refunded"),
        sa.func.coalesce(p.c.available_to_capture_minor, 0).label("available"),
        p.c.reference,
        p.c.metadata["order_id"].as_string().label("meta_order_id"),
        p.c.customer_email_hash.label("email_hash"),
        p.c.requested_on,
    ).where(ctx.in_scope("payments", p.c.payment_id))
    sqlbits.fill(ctx.conn, t, sel)
    sqlbits.analyze(ctx.conn, t)
    ctx.tmp["pay"] = t
    return t


def refresh_order_invoices(ctx: Ctx, changed_orders: sa.Table | None) -> None:
    """``recon_order_invoices`` for every order (full run) or the changed ones, writing only
    what differs."""
    o, oi = stg_orders, recon_order_invoices
    if changed_orders is None:
        where: Any = sa.true()
        scope: Any = sa.true()
    else:
        changed = sa.select(changed_orders.c.order_id)
        where = o.c.order_id.in_(changed)
        scope = oi.c.order_id.in_(changed)
    elems = sqlbits.json_text_elements(ctx.conn, o.c.invoice_numbers)
    sel = (
        sa.select(elems.c.value.label("invoice_number"), o.c.order_id)
        .distinct()
        .select_from(o.join(elems, sa.true()))
        .where(where, o.c.invoice_numbers.is_not(None), elems.c.value.is_not(None), elems.c.value != "")
    )
    sqlbits.sync_rows(ctx.conn, oi, sel, keys=("invoice_number", "order_id"), scope=scope)


def build_groups(ctx: Ctx) -> sa.Table:
    """Per confirmed match group: orders' amount (their currency) and the payments' money."""
    m, o, conn = ctx.tmp["match"], stg_orders, ctx.conn
    gord = sqlbits.scratch(
        conn,
        "recon_tmp_gorders",
        sa.Column("match_group", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("orders_amount", _BIG()),
        sa.Column("n_orders", _BIG()),
        sa.Column("first_order", sa.Text()),
        index=("match_group",),
    )
    pairs = sa.select(m.c.match_group, m.c.order_id).where(m.c.confirmed.is_(True)).distinct().subquery()
    sqlbits.fill(
        conn,
        gord,
        sa.select(
            pairs.c.match_group,
            sa.func.min(o.c.currency).label("currency"),
            sa.func.sum(o.c.amount_minor).label("orders_amount"),
            sa.func.count().label("n_orders"),
            sa.func.min(pairs.c.order_id).label("first_order"),
        )
        .select_from(pairs.join(o, o.c.order_id == pairs.c.order_id))
        .group_by(pairs.c.match_group),
    )
    sqlbits.analyze(conn, gord)
    return _group_money(ctx, gord)


def _group_money(ctx: Ctx, gord: sa.Table) -> sa.Table:
    m, pay, conn = ctx.tmp["match"], ctx.tmp["pay"], ctx.conn
    g = sqlbits.scratch(
        conn,
        "recon_tmp_group",
        sa.Column("match_group", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("orders_amount", _BIG(), nullable=False),
        sa.Column("n_orders", _BIG(), nullable=False),
        sa.Column("first_order", sa.Text()),
        sa.Column("n_captured_any", _BIG(), nullable=False),
        sa.Column("n_captured_same", _BIG(), nullable=False),
        sa.Column("captured_same", _BIG(), nullable=False),
        sa.Column("refunded_same", _BIG(), nullable=False),
        sa.Column("available_same", _BIG(), nullable=False),
        sa.Column("net_same", _BIG(), nullable=False),
        index=("match_group",),
    )
    pp = sa.select(m.c.match_group, m.c.payment_id).where(m.c.confirmed.is_(True)).distinct().subquery()
    same = pay.c.currency == gord.c.currency

    def s(expr: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((same, expr), else_=0)), 0)

    def n(cond: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    sel = (
        sa.select(
            gord.c.match_group,
            gord.c.currency,
            gord.c.orders_amount,
            gord.c.n_orders,
            gord.c.first_order,
            n(pay.c.captured > 0).label("n_captured_any"),
            n(sa.and_(same, pay.c.captured > 0)).label("n_captured_same"),
            s(pay.c.captured).label("captured_same"),
            s(pay.c.refunded).label("refunded_same"),
            s(pay.c.available).label("available_same"),
            s(pay.c.captured - pay.c.refunded).label("net_same"),
        )
        .select_from(
            gord.outerjoin(pp, pp.c.match_group == gord.c.match_group).outerjoin(
                pay, pay.c.payment_id == pp.c.payment_id
            )
        )
        .group_by(
            gord.c.match_group, gord.c.currency, gord.c.orders_amount, gord.c.n_orders, gord.c.first_order
        )
    )
    sqlbits.fill(conn, g, sel)
    sqlbits.analyze(conn, g)
    ctx.tmp["group"] = g
    return g


def build_orders(ctx: Ctx) -> sa.Table:
    """The orders of the run with their confirmed group (NULL: no confirmed match)."""
    o, m, conn = stg_orders, ctx.tmp["match"], ctx.conn
    t = sqlbits.scratch(
        conn,
        "recon_tmp_order",
        sa.Column("order_id", sa.Text()),
        sa.Column("match_group", sa.Text()),
        index=("order_id", "match_group"),
    )
    grp = (
        sa.select(m.c.order_id, sa.func.min(m.c.match_group).label("match_group"))
        .where(m.c.confirmed.is_(True))
        .group_by(m.c.order_id)
        .subquery()
    )
    sel = (
        sa.select(o.c.order_id, grp.c.match_group)
        .select_from(o.outerjoin(grp, grp.c.order_id == o.c.order_id))
        .where(ctx.in_scope("orders", o.c.order_id))
    )
    sqlbits.fill(conn, t, sel)
    sqlbits.analyze(conn, t)
    ctx.tmp["order"] = t
    return t


def build_payorder(ctx: Ctx) -> sa.Table:
    m, conn = ctx.tmp["match"], ctx.conn
    t = sqlbits.scratch(
        conn,
        "recon_tmp_payorder",
        sa.Column("payment_id", sa.Text()),
        sa.Column("order_id", sa.Text()),
        sa.Column("order_number", sa.Text()),
        index=("payment_id", "order_id"),
    )
    first = (
        sa.select(m.c.payment_id, sa.func.min(m.c.order_id).label("order_id"))
        .where(m.c.confirmed.is_(True))
        .group_by(m.c.payment_id)
        .subquery()
    )
    o = stg_orders
    sel = sa.select(first.c.payment_id, first.c.order_id, o.c.order_number).select_from(
        first.join(o, o.c.order_id == first.c.order_id)
    )
    sqlbits.fill(conn, t, sel)
    sqlbits.analyze(conn, t)
    ctx.tmp["payorder"] = t
    return t


def store_order_facts(ctx: Ctx) -> None:
    """``recon_order_facts`` for the confirmed orders of the run (all of them in a full run),
    writing only the orders whose figures changed.

    A group's money is counted once, on its first order (a payment of several invoices is not
    counted once per invoice); chargebacks count on the order that names their payment."""
    of, tord, g, o = recon_order_facts, ctx.tmp["order"], ctx.tmp["group"], stg_orders
    cb = _lost_chargebacks(ctx)
    captured = sa.func.coalesce(g.c.captured_same, 0)
    same_ccy = g.c.currency == o.c.currency
    counts = sa.and_(same_ccy, g.c.first_order == o.c.order_id)
    matched = sa.and_(g.c.match_group.is_not(None), same_ccy, captured == g.c.orders_amount)
    sel = (
        sa.select(
            o.c.order_id,
            o.c.currency,
            o.c.amount_minor,
            sa.case((matched, True), else_=False).label("matched"),
            sa.case((counts, captured), else_=0).label("captured_minor"),
            sa.case((counts, sa.func.coalesce(g.c.refunded_same, 0)), else_=0).label("refunded_minor"),
            sa.func.coalesce(cb.c.amount, 0).label("chargeback_minor"),
        )
        .select_from(
            tord.join(o, o.c.order_id == tord.c.order_id)
            .outerjoin(g, g.c.match_group == tord.c.match_group)
            .outerjoin(cb, cb.c.order_id == o.c.order_id)
        )
        .where(o.c.status.in_(ctx.confirmed_statuses))
    )
    scope = ctx.in_scope("orders", of.c.order_id)
    sqlbits.sync_rows(ctx.conn, of, sel, keys=("order_id",), scope=scope, extra={"run_id": ctx.run_id})


def _lost_chargebacks(ctx: Ctx) -> Any:
    """Σ lost disputes per order naming their payment, in the dispute's = order's currency."""
    po, d = ctx.tmp["payorder"], stg_disputes
    return (
        sa.select(po.c.order_id, sa.func.sum(d.c.amount_minor).label("amount"))
        .select_from(d.join(po, po.c.payment_id == d.c.payment_id))
        .where(d.c.status.in_(LOST_DISPUTE_STATUSES))
        .group_by(po.c.order_id)
        .subquery()
    )
