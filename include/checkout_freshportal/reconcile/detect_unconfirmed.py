"""``unconfirmed_order_paid``: money kept for orders nothing is due on (cancelled, draft).

Its own module because it is judged per match group (one order with its payments, or one
transfer for several invoices) rather than per order like the other order kinds in
detect_orders.py, and needs the group's members, their refund requests and lost chargebacks.
Two parts: the group's money in its own currency (:func:`unconfirmed_order_paid`), and money a
group's payments keep in another currency than any of its orders (:func:`_kept_in_another_currency`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.detect_money import WAITING_REFUND_STATES
from checkout_freshportal.reconcile.facts import LOST_DISPUTE_STATUSES
from checkout_freshportal.reconcile.found import add, key, row, text
from checkout_freshportal.reconcile.looks import across, keeps_money_when, questioned
from checkout_freshportal.reconcile.matching import lower_groups
from checkout_freshportal.warehouse.schema import (
    recon_matches,
    stg_disputes,
    stg_orders,
    stg_refund_requests,
)


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
    # orders in the group's currency, each dispute is counted once. A member in another currency
    # names no payment of this group (its first order is in the group's currency), but may name
    # a payment of its own listing it in that currency, whose chargeback is not this group's
    # money (it hid another order's money kept: a review's probe).
    lost_g = (
        sa.select(members.c.match_group, sa.func.sum(lost.c.amount).label("amount"))
        .select_from(
            members.join(
                lost, sa.and_(lost.c.order_id == members.c.order_id, lost.c.currency == members.c.g_currency)
            )
        )
        .where(members.c.in_ccy == 1)
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
    return add(ctx, sel) + _kept_in_another_currency(ctx)


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


def _kept_in_another_currency(ctx: Ctx) -> int:
    """Money payments keep in a currency none of their orders is in, when no order of theirs is
    due: a USD payment kept for a cancelled EUR order. A group's figures sum its money in its
    own currency only, and ``currency_mismatch`` reads confirmed orders, so this money was in no
    exception (a gap until engine version 6).

    Judged per set of such payments in one currency and their orders, connected through shared
    orders or payments (:func:`_foreign_pairs`; two payments for one order, one transfer for
    several invoices, one reference naming two orders), each payment and each order counted
    once: kept = the payments' captured money net of refunds and of lost chargebacks in that
    currency, raised when the orders' FreshPortal refund requests still waiting in that currency
    do not cover it, once, on the lowest order, keyed
    ``unconfirmed_order_paid:order:<id>:currency:<ccy>``: another problem than the money kept in
    the order's own currency, and than a confirmed pair's ``currency_mismatch`` (an explanation
    of that one does not carry over when the order is cancelled)."""
    return add(ctx, _foreign_select(ctx, _foreign_pairs(ctx)))


def _foreign_pairs(ctx: Ctx) -> sa.Table:
    """The pairs across currencies (looks.across) whose payment's money counts on no order, in
    a scratch table whose ``match_group`` is the lowest payment id of the set each belongs to.

    A payment is left out when any of its matches is with an order in its own currency (its
    money is that group's figures': :func:`unconfirmed_order_paid`) or with a due order
    (confirmed: that pair's ``currency_mismatch``; or a credit status, where the money rightly
    stays). Its matches are looked up in the kept matches by payment id, which store_matches has
    made equal to this run's for the run's payments. The sets are joined like the R3 groups
    (matching.lower_groups): through an order among the pairs in one payment currency, and
    through a payment."""
    conn, pairs = ctx.conn, across(ctx)
    t = sqlbits.scratch(
        conn,
        "recon_tmp_foreign_kept",
        sa.Column("match_group", sa.Text()),  # the set's label, from the lowest payment id
        *[sa.Column(c.name, c.type) for c in pairs.c],
        index=("payment_id", "order_id"),
    )
    sel = sa.select(pairs.c.payment_id.label("match_group"), *pairs.c)
    sqlbits.fill(conn, t, sel.where(pairs.c.o_confirmed.is_not(True)))
    rm, o = recon_matches, stg_orders
    due = (*ctx.confirmed_statuses, *ctx.settings.credit_statuses)
    counted_elsewhere = sa.exists().where(
        rm.c.payment_id == t.c.payment_id,
        rm.c.confirmed.is_(True),
        o.c.order_id == rm.c.order_id,
        sa.or_(o.c.currency == t.c.currency, o.c.status.in_(due)),
    )
    conn.execute(t.delete().where(counted_elsewhere))
    other = t.alias("other")
    anyway = (sa.true(), sa.true())
    lower_groups(conn, t, other, [(("order_id", "currency"), *anyway), (("payment_id",), *anyway)])
    sqlbits.analyze(conn, t)
    return t


def _foreign_select(ctx: Ctx, t: sa.Table) -> sa.Select[Any]:
    """The rows of :func:`_kept_in_another_currency`, one per set (``match_group``, currency)."""
    money, orders, lost, waiting = _set_figures(t)
    o = stg_orders

    def on_set(a: Any) -> Any:
        return sa.and_(a.c.match_group == money.c.match_group, a.c.currency == money.c.currency)

    kept = money.c.net - sa.func.coalesce(lost.c.amount, 0)
    requested = sa.func.coalesce(waiting.c.amount, 0)
    return (
        sa.select(
            *row(
                "unconfirmed_order_paid",
                key("unconfirmed_order_paid", ("order", orders.c.order_id), ("currency", money.c.currency)),
                order_id=orders.c.order_id,
                order_number=o.c.order_number,
                payment_id=money.c.payment_id,
                currency=money.c.currency,
                expected_minor=sa.literal(0),
                actual_minor=kept,
                detail=_foreign_detail(o, money, orders, requested),
            )
        )
        .select_from(
            money.join(orders, on_set(orders))
            .join(o, o.c.order_id == orders.c.order_id)
            .outerjoin(lost, on_set(lost))
            .outerjoin(waiting, on_set(waiting))
        )
        .where(kept > requested)
    )


def _set_figures(t: sa.Table) -> tuple[Any, Any, Any, Any]:
    """Per set (``match_group``, currency) of :func:`_foreign_pairs`, as subqueries: its money
    (each payment once; named after the lowest payment keeping money), its orders (the lowest
    names the set), its payments' lost chargebacks and its orders' refund requests still
    waiting, both in the set's currency."""
    unit = (t.c.match_group, t.c.currency)
    pays = sa.select(*unit, t.c.payment_id, t.c.net).distinct().subquery("pays")
    ords = sa.select(*unit, t.c.order_id).distinct().subquery("ords")
    d, rr = stg_disputes, stg_refund_requests

    def keys(sub: Any) -> list[Any]:
        return [sub.c.match_group, sub.c.currency]

    def summed(sub: Any, table: sa.Table, on: Any, where: Any, name: str) -> Any:
        return (
            sa.select(*keys(sub), sa.func.sum(table.c.amount_minor).label("amount"))
            .select_from(sub.join(table, on))
            .where(table.c.currency == sub.c.currency, where)
            .group_by(*keys(sub))
            .subquery(name)
        )

    keeps = pays.c.net > 0  # a declined attempt, a payment refunded in full: not named, not counted
    money = (
        sa.select(
            *keys(pays),
            sa.func.sum(pays.c.net).label("net"),
            sa.func.sum(sa.case((keeps, 1), else_=0)).label("n_payments"),
            sa.func.min(sa.case((keeps, pays.c.payment_id), else_=None)).label("payment_id"),
        )
        .group_by(*keys(pays))
        .subquery("money")
    )
    orders = (
        sa.select(
            *keys(ords), sa.func.count().label("n_orders"), sa.func.min(ords.c.order_id).label("order_id")
        )
        .group_by(*keys(ords))
        .subquery("orders")
    )
    lost = summed(pays, d, d.c.payment_id == pays.c.payment_id, d.c.status.in_(LOST_DISPUTE_STATUSES), "lost")
    waiting_state = rr.c.state.in_(WAITING_REFUND_STATES)
    waiting = summed(ords, rr, rr.c.order_id == ords.c.order_id, waiting_state, "waiting")
    return money, orders, lost, waiting


def _foreign_detail(o: Any, money: Any, orders: Any, requested: Any) -> Any:
    def when(cond: Any, before: str, value: Any, after: str) -> Any:
        return sa.case((cond, sa.literal(before) + text(value) + sa.literal(after)), else_="")

    return (
        sa.literal("Order is ")
        + o.c.status
        + sa.literal(", not confirmed, and keeps money paid in ")
        + money.c.currency
        + sa.literal(", another currency than its own (")
        + o.c.currency
        + sa.literal("; captured net of refunds and lost chargebacks)")
        + when(money.c.n_payments > 1, "; ", money.c.n_payments, " payments")
        + when(orders.c.n_orders > 1, "; one payment for ", orders.c.n_orders, " orders")
        + when(requested > 0, "; refund requests waiting for ", requested, " of it")
    )
