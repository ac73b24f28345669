"""The kept order facts (``recon_order_facts``) and the order a payment's money counts on.

* :func:`store_order_facts`: per confirmed order of the run, from the scratch table ``order``
  (facts.build_orders), the figures the run totals sum: matched, captured, refunded, lost
  chargebacks; a group's money counted once, on its first order.
* :func:`build_lost_chargebacks`: the lost disputes summed per order naming their payment.
* :func:`order_naming`: for the payments asked about, the order that names each in exceptions
  and chargeback figures (the order its money counts on).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import looks, sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.facts import LOST_DISPUTE_STATUSES
from checkout_freshportal.warehouse.schema import stg_disputes, stg_orders
from checkout_freshportal.warehouse.schema.recon import recon_matches, recon_order_facts

_BIG = sa.BigInteger


def order_naming(ctx: Ctx, payment_ids: sa.Select[Any]) -> sa.Table:
    """A scratch table (payment_id, order_id, order_number) of the order that names each of
    ``payment_ids`` in exceptions and chargeback figures: the order its money counts on. For
    a payment of several invoices (R3) that is its group's first order (facts._group_orders:
    the lowest confirmed order in the group's currency, else the lowest in it), which may be an
    order another payment of the group lists, so a chargeback lost on a transfer stays in the
    order facts beside the money it takes back; else (R1/R2, or a group with no order in its
    currency) its confirmed match with the lowest order id. A payment with no confirmed match
    has no row.

    Asked for the few payments that need it (disputes, the exceptions found) rather than
    written down for every matched payment: a table of the million matched payments cost a
    full run 1.4 s (an anti-join of the matches with themselves) for a few thousand lookups.
    Their matches are picked into an analysed scratch table first, and the lowest kept there:
    the self anti-join then reads a few rows, not the million matches. They are read from the
    kept matches, which store_matches has made equal to this run's for the run's payments, by
    their payment id's index: the unindexed scratch table ``match`` was scanned whole for each
    call (0.17-0.26 s at a million orders)."""
    rm, g, o, conn = recon_matches, ctx.tmp["group"], stg_orders, ctx.conn
    m = sa.select(rm).where(ctx.in_scope("payments", rm.c.payment_id)).subquery("run_matches")
    cols = (
        sa.Column("payment_id", sa.Text()),
        sa.Column("order_id", sa.Text()),
        sa.Column("order_number", sa.Text()),
    )
    t = sqlbits.scratch(conn, "recon_tmp_naming", *cols, index=("payment_id", "order_id"))
    named = sa.func.coalesce(g.c.first_order, m.c.order_id)
    # the number where the named order is the match's own; else looked up below (R3, few)
    number = sa.case((named == m.c.order_id, m.c.order_number), else_=None)
    sel = (
        sa.select(m.c.payment_id, named.label("order_id"), sa.func.max(number).label("order_number"))
        .select_from(m.outerjoin(g, g.c.match_group == m.c.match_group))
        .where(m.c.confirmed.is_(True), m.c.payment_id.in_(payment_ids))
        .group_by(m.c.payment_id, named)
    )
    sqlbits.fill(conn, t, sel)
    lower = t.alias("lower")
    conn.execute(
        t.delete().where(
            sa.exists().where(lower.c.payment_id == t.c.payment_id, lower.c.order_id < t.c.order_id)
        )
    )
    its_number = sa.select(o.c.order_number).where(o.c.order_id == t.c.order_id).scalar_subquery()
    conn.execute(t.update().where(t.c.order_number.is_(None)).values(order_number=its_number))
    sqlbits.analyze(conn, t)
    return t


def store_order_facts(ctx: Ctx) -> None:
    """``recon_order_facts`` for the confirmed orders of the run (all of them in a full run),
    writing only the orders whose figures changed.

    A group's money is counted once, on its first order (a payment of several invoices is not
    counted once per invoice); chargebacks count on the order that names their payment."""
    of, t = recon_order_facts, ctx.tmp["order"]
    cb = build_lost_chargebacks(ctx)
    captured = sa.func.coalesce(t.c.g_captured_same, 0)
    same_ccy = t.c.g_currency == t.c.currency
    counts = sa.and_(same_ccy, t.c.g_first_order == t.c.order_id)
    # paid what is due; money between that and every invoice is kept for invoices nothing is due
    # on (unconfirmed_order_paid), not this order's. Judged as the detectors judge: short on what
    # was captured, over on what was kept after refunds (refunding an excess is the remedy of
    # amount_mismatch), and not while more was refunded than may be (over_refund). An order of 0
    # with nothing captured owes nothing.
    refunded = sa.func.coalesce(t.c.g_refunded_same, 0)
    matched = sa.or_(
        sa.and_(
            t.c.match_group.is_not(None),
            same_ccy,
            captured >= t.c.g_orders_amount,
            captured - refunded <= t.c.g_invoiced_amount,
            refunded <= looks.refund_limit(t),
        ),
        sa.and_(t.c.amount_minor == 0, sa.func.coalesce(t.c.g_n_captured_any, 0) == 0),
    )
    sel = (
        sa.select(
            t.c.order_id,
            t.c.currency,
            t.c.amount_minor,
            sa.case((matched, True), else_=False).label("matched"),
            sa.case((counts, captured), else_=0).label("captured_minor"),
            sa.case((counts, sa.func.coalesce(t.c.g_refunded_same, 0)), else_=0).label("refunded_minor"),
            sa.func.coalesce(cb.c.amount, 0).label("chargeback_minor"),
        )
        .select_from(t.outerjoin(cb, sa.and_(cb.c.order_id == t.c.order_id, cb.c.currency == t.c.currency)))
        .where(t.c.confirmed.is_(True))
    )
    scope = ctx.in_scope("orders", of.c.order_id)
    written = sqlbits.sync_rows(
        ctx.conn, of, sel, keys=("order_id",), scope=scope, extra={"run_id": ctx.run_id}
    )
    sqlbits.analyze_if_churned(ctx.conn, of, sum(written))


def build_lost_chargebacks(ctx: Ctx) -> sa.Table:
    """Σ lost disputes per order naming their payment and currency (the scratch table ``lost``,
    few rows): only the disputes in the order's currency count in its figures (a GBP chargeback
    is not EUR money). Read by the order facts and by ``unconfirmed_order_paid``: the money the
    cardholder has back is not kept."""
    d, conn = stg_disputes, ctx.conn
    lost = d.c.status.in_(LOST_DISPUTE_STATUSES)
    po = order_naming(ctx, sa.select(d.c.payment_id).where(lost))
    t = sqlbits.scratch(
        conn,
        "recon_tmp_lost",
        sa.Column("order_id", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount", _BIG()),
        index=("order_id",),
    )
    sel = (
        sa.select(po.c.order_id, d.c.currency, sa.func.sum(d.c.amount_minor).label("amount"))
        .select_from(d.join(po, po.c.payment_id == d.c.payment_id))
        .where(lost)
        .group_by(po.c.order_id, d.c.currency)
    )
    sqlbits.fill(conn, t, sel)
    sqlbits.analyze(conn, t)
    ctx.tmp["lost"] = t
    return t
