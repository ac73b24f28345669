"""``unconfirmed_order_paid``: money kept for orders nothing is due on (cancelled, draft).

Its own module because it is judged per match group (one order with its payments, or one
transfer for several invoices) rather than per order like the other order kinds in
detect_orders.py, and needs the group's members, their refund requests and lost chargebacks.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.detect_money import WAITING_REFUND_STATES
from checkout_freshportal.reconcile.found import add, key, row, text
from checkout_freshportal.reconcile.looks import keeps_money_when, questioned
from checkout_freshportal.warehouse.schema import stg_orders, stg_refund_requests


def unconfirmed_order_paid(ctx: Ctx) -> int:
    """An order that is not confirmed (cancelled, draft) whose payments keep money: nothing is
    due on it (expected 0), so the money kept is to be given back, or the order confirmed
    again. Its payment matches the order, so it is no ``orphan_payment``, and the other order
    kinds read confirmed orders only: without this kind, the money was in no exception.

    Judged per group, in the group's currency (one order with its payments, or one transfer
    for several invoices, R3). Kept for the group's orders that are not due = the group's money
    captured net of refunds and of lost chargebacks (the cardholder has that back; the order
    facts' own figures, order_facts.build_lost_chargebacks), less the amounts of its orders that are
    due (confirmed, or in the tenant's ``credit_statuses``: a credit note is often settled
    against later invoices, the money rightly stays). When an order of the group is due, what
    is kept for the others is at most their amounts: money beyond every invoice is the group's
    ``amount_mismatch`` or ``duplicate_payment``, not theirs. Raised on the group's lowest order
    that is not due, when FreshPortal refund requests of those orders still waiting (requested,
    processing; ``refund_not_executed`` watches each past its due time) do not cover it all."""
    groups, members = _unconfirmed_groups(ctx)
    o, lost = stg_orders, ctx.tmp["lost"]
    rr = stg_refund_requests
    # Lost chargebacks count on the order that names their payment (order_facts.order_naming: the
    # group's first order for a transfer, the order itself otherwise): summed over the group's
    # orders in the group's currency, each dispute is counted once.
    lost_g = (
        sa.select(members.c.match_group, sa.func.sum(lost.c.amount).label("amount"))
        .select_from(
            members.join(
                lost, sa.and_(lost.c.order_id == members.c.order_id, lost.c.currency == members.c.g_currency)
            )
        )
        .group_by(members.c.match_group)
        .subquery("lost_g")
    )
    its_request = sa.and_(rr.c.order_id == members.c.order_id, rr.c.currency == members.c.currency)
    waiting = (
        sa.select(members.c.match_group, sa.func.sum(rr.c.amount_minor).label("amount"))
        .select_from(members.join(rr, its_request))
        .where(members.c.due == 0, members.c.in_ccy == 1, rr.c.state.in_(WAITING_REFUND_STATES))
        .group_by(members.c.match_group)
        .subquery("waiting")
    )
    g = groups
    left = g.c.net - sa.func.coalesce(lost_g.c.amount, 0) - g.c.due_amount
    kept = sa.case((sa.and_(g.c.n_due > 0, left > g.c.other_amount), g.c.other_amount), else_=left)
    requested = sa.func.coalesce(waiting.c.amount, 0)
    covered = sa.literal("; refund requests waiting for ") + text(requested) + sa.literal(" of it")
    several = (
        sa.literal("; one payment for ")
        + text(g.c.n_orders)
        + sa.literal(" orders, ")
        + text(g.c.n_other)
        + sa.literal(" of them with nothing due")
    )
    detail = (
        sa.literal("Order is ")
        + o.c.status
        + sa.literal(", not confirmed, and keeps money (captured net of refunds and lost chargebacks)")
        + sa.case((g.c.n_orders > 1, several), else_="")
        + sa.case((requested > 0, covered), else_="")
    )
    sel = (
        sa.select(
            *row(
                "unconfirmed_order_paid",
                key("unconfirmed_order_paid", ("order", g.c.order_id)),
                order_id=g.c.order_id,
                order_number=o.c.order_number,
                currency=g.c.currency,
                expected_minor=sa.literal(0),
                actual_minor=kept,
                detail=detail,
            )
        )
        .select_from(
            g.join(o, o.c.order_id == g.c.order_id)
            .outerjoin(lost_g, lost_g.c.match_group == g.c.match_group)
            .outerjoin(waiting, waiting.c.match_group == g.c.match_group)
        )
        .where(kept > requested)
    )
    return add(ctx, sel)


def _unconfirmed_groups(ctx: Ctx) -> tuple[sa.Table, sa.Table]:
    """(groups, members) in two small scratch tables. ``members``: the orders of the run whose
    group keeps money and that are not confirmed, or belong to a group of several orders (few:
    a million confirmed orders of their own groups are left out), each with ``due`` (1:
    confirmed or a credit status) and ``in_ccy`` (1: in the group's currency). ``groups``: per
    group with an order in its currency that is not due, its money, the amounts due and not
    due in its currency, and whether any order is due (in any currency: the money of a due
    order in another currency is its ``currency_mismatch``, and caps what is kept for the
    others), named after its lowest order not due.
    Their refund requests and lost chargebacks are then looked up by index, not probed once per
    order of the run (SQLite)."""
    t, o, conn = questioned(ctx), stg_orders, ctx.conn
    members = sqlbits.scratch(
        conn,
        "recon_tmp_unconfirmed_members",
        sa.Column("match_group", sa.Text()),
        sa.Column("order_id", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("g_currency", sa.String(3)),
        sa.Column("amount", sa.BigInteger()),
        sa.Column("net", sa.BigInteger()),
        sa.Column("n_orders", sa.BigInteger()),
        sa.Column("due", sa.Integer()),
        sa.Column("in_ccy", sa.Integer()),
        index=("order_id", "match_group"),
    )
    sel = (
        sa.select(
            t.c.match_group,
            t.c.order_id,
            t.c.currency,
            t.c.g_currency,
            t.c.amount_minor.label("amount"),
            t.c.g_net_same.label("net"),
            t.c.g_n_orders.label("n_orders"),
            sa.case((t.c.confirmed.is_(True), 1), else_=0).label("due"),
            sa.case((t.c.currency == t.c.g_currency, 1), else_=0).label("in_ccy"),
        )
        .select_from(t)
        .where(*keeps_money_when(ctx, t))
    )
    sqlbits.fill(conn, members, sel)
    sqlbits.analyze(conn, members)
    # the credit statuses afterwards, by the few members' keys: asked in the fill, PostgreSQL
    # hashed the scratch table's rows (estimated at a few percent of a million) and scanned
    # every staged order for them (0.3 s at a million orders)
    credit = sa.exists().where(
        o.c.order_id == members.c.order_id, o.c.status.in_(ctx.settings.credit_statuses)
    )
    conn.execute(members.update().where(members.c.due == 0, credit).values(due=1))
    m = members
    groups = sqlbits.scratch(
        conn,
        "recon_tmp_unconfirmed_paid",
        sa.Column("match_group", sa.Text()),
        sa.Column("order_id", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("net", sa.BigInteger()),
        sa.Column("n_orders", sa.BigInteger()),
        sa.Column("n_due", sa.BigInteger()),
        sa.Column("n_other", sa.BigInteger()),
        sa.Column("due_amount", sa.BigInteger()),
        sa.Column("other_amount", sa.BigInteger()),
        index=("match_group", "order_id"),
    )

    def total(value: Any, *cond: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*cond), value), else_=0)), 0)

    here, other = m.c.in_ccy == 1, m.c.due == 0
    per_group = (
        sa.select(
            m.c.match_group,
            sa.func.min(sa.case((sa.and_(here, other), m.c.order_id), else_=None)).label("order_id"),
            sa.func.min(m.c.g_currency).label("currency"),
            sa.func.max(m.c.net).label("net"),
            sa.func.max(m.c.n_orders).label("n_orders"),
            total(1, m.c.due == 1).label("n_due"),
            total(1, here, other).label("n_other"),
            total(m.c.amount, here, m.c.due == 1).label("due_amount"),
            total(m.c.amount, here, other).label("other_amount"),
        )
        .group_by(m.c.match_group)
        .having(total(1, here, other) > 0)
    )
    sqlbits.fill(conn, groups, per_group)
    sqlbits.analyze(conn, groups)
    return groups, members
