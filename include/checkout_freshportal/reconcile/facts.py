"""The money facts the detectors compare, as scratch tables filled by ``INSERT ... SELECT``.

* ``pay`` (:func:`payment_facts`, a subquery matching reads once): one row per payment of the
  run: captured(p) = the payment's ``total_captured`` balance, else the sum of its approved
  Capture actions (a balance is NULL when unknown, never 0); refunded(p) likewise from Refund
  actions; what is left to capture; the keys matching uses.
* ``group``: one row per R3 match group (matching.py; one payment for several orders): the
  orders' amount and the payment's money in its currency (another currency is
  ``currency_mismatch``'s).
* ``order``: one row per order of the run, with the figures of its confirmed group (if any):
  an R1/R2 group (the order's payments) is summed there, an R3 group read from ``group``.

The kept order facts and the order naming a payment are order_facts.py's; the kept tables
derived from staged data alone (invoice numbers, the paid-out set) inputs.py's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.warehouse.schema import stg_orders, stg_payment_actions, stg_payments

#: Dispute statuses where the money went back to the cardholder for good.
LOST_DISPUTE_STATUSES = ("lost", "accepted", "expired", "arbitration_lost")
#: Dispute statuses still waiting for evidence or a decision.
OPEN_DISPUTE_STATUSES = ("evidence_required", "evidence_under_review", "arbitration_under_review")

_BIG = sa.BigInteger


#: Checkout.com payment statuses under which more of the authorised amount may be captured.
STILL_CAPTURABLE = ("Authorized", "Partially Captured")


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


def payment_columns() -> list[sa.Column[Any]]:
    """What the run knows of a payment (:func:`payment_facts`), as scratch-table columns: the
    matches carry them (matching.py), and so do the payments R1/R2 did not place."""
    p = stg_payments
    return [
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
    ]


def payment_facts(ctx: Ctx) -> sa.Subquery:
    """One row per payment of the run (all, or the scope), the columns of
    :func:`payment_columns`: never written down on its own. Matching reads it once, joined to
    the orders by R1, and keeps every payment's row there or among the payments R1 did not
    place (a table of the 1.1M payments, then R1's pairs and the unplaced payments each taken
    from it, cost a full run about 1.5 s more at a million orders)."""
    p = stg_payments
    captured = sa.func.coalesce(p.c.total_captured_minor, _action_sum("Capture"), 0)
    # unreported (GET /payments often leaves balances out): what the status says may still be
    # captured, the amount less what was captured, so a capture in parts is no amount_mismatch
    # before it ends -- until the authorisation expires, when the rest lapses (captures'
    # validate._expired reads it alike); a balance reported is taken as it is (COALESCE reads no
    # further then)
    uncaptured = sa.func.coalesce(p.c.amount_minor, 0) - captured
    capturable = sa.and_(
        p.c.status.in_(STILL_CAPTURABLE),
        sa.or_(p.c.expires_on.is_(None), p.c.expires_on > sa.literal(ctx.as_of, p.c.expires_on.type)),
        uncaptured > 0,
    )
    unknown_available = sa.case((capturable, uncaptured), else_=0)
    sel = sa.select(
        p.c.payment_id,
        p.c.currency,
        p.c.status,
        p.c.amount_minor,
        captured.label("captured"),
        sa.func.coalesce(p.c.total_refunded_minor, _action_sum("Refund"), 0).label("refunded"),
        sa.func.coalesce(p.c.available_to_capture_minor, unknown_available).label("available"),
        p.c.reference,
        p.c.metadata["order_id"].as_string().label("meta_order_id"),
        p.c.customer_email_hash.label("email_hash"),
        p.c.requested_on,
    ).where(ctx.in_scope("payments", p.c.payment_id))
    return sel.subquery("pay")


def build_groups(ctx: Ctx) -> sa.Table:
    """The R3 groups (``payment:<payment_id>``, the payments listing invoices of shared orders;
    few): the orders' amount and the payments' money. The R1/R2 groups (``order:<order_id>``,
    one order each, a million of them) are summed where the orders are read (:func:`build_orders`)
    instead of being written here and joined back by their text key (``'order:' || id``).

    The group figures read the R3 pairs three times (currency, orders, payments): from the small
    scratch table matching keeps them in (``r3_pairs``, all confirmed), each a scan of the
    million matches otherwise."""
    r3, conn = ctx.tmp["r3_pairs"], ctx.conn
    g = sqlbits.scratch(
        conn,
        "recon_tmp_group",
        sa.Column("match_group", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("orders_amount", _BIG(), nullable=False),
        sa.Column("invoiced_amount", _BIG(), nullable=False),
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
    sqlbits.fill(conn, g, _invoice_groups(r3, ctx.confirmed_statuses, ctx.settings.credit_statuses))
    sqlbits.analyze(conn, g)
    ctx.tmp["group"] = g
    return g


def _zero(expr: Any) -> Any:
    return sa.func.coalesce(expr, 0)


def _order_matches(conn: sa.Connection, m: sa.Table, *where: Any) -> sa.Subquery:
    """Per order with a confirmed match, in one aggregate over ``match``: the order's columns
    and the figures of its R1/R2 group (``order:<order_id>``: the order's currency and amount
    are the group key's, copied into each of its pairs, no aggregate state for them, a million
    groups must fit the hash table; the payments' money summed where the payment's currency is
    the order's) and its R3 group (``r3_group``, the other kind: an order has R1/R2 matches or
    R3 ones, never both; the group of its pairs in its own currency if any).

    The order's other columns (number, confirmed, confirmation time, FreshPortal payment
    status) are aggregated, not grouped by: its pairs are written by several statements (R1,
    R2, R3), each reading the staged orders when it runs, and a load changing the order in
    between would otherwise split it into two rows of ``order`` (the run then failed on the
    order facts' key; a review's probe). All of its pairs agree whenever nothing changed."""
    own = m.c.rule != "invoice_reference"
    same = sa.and_(own, m.c.currency == m.c.o_currency)

    def s(expr: Any) -> Any:
        return _zero(sqlbits.int_sum(conn, sa.case((same, expr), else_=0)))

    def n(cond: Any) -> Any:
        return _zero(sa.func.sum(sa.case((cond, 1), else_=0)))

    captured, refunded = s(m.c.captured), s(m.c.refunded)
    # NULL where the order's status is (``status IN (...)`` of a NULL status)
    flag = sa.case((m.c.o_confirmed.is_(True), 1), (m.c.o_confirmed.is_(False), 0), else_=None)
    confirmed = sa.func.max(flag) == 1
    return (
        sa.select(
            m.c.order_id,
            # an order's R3 group: the one of its pairs in its own currency (all in one group,
            # matching.join_shared_groups), else its lowest (a currency_mismatch only)
            sa.func.coalesce(
                sa.func.min(
                    sa.case((sa.and_(~own, m.c.currency == m.c.o_currency), m.c.match_group), else_=None)
                ),
                sa.func.min(sa.case((own, None), else_=m.c.match_group)),
            ).label("r3_group"),
            n(own).label("n_own"),
            sa.func.max(m.c.order_number).label("order_number"),
            m.c.o_amount,
            confirmed.label("o_confirmed"),
            sa.func.max(m.c.o_confirmed_at).label("o_confirmed_at"),
            sa.func.max(m.c.o_payment_status).label("o_payment_status"),
            m.c.o_currency.label("currency"),
            m.c.o_amount.label("orders_amount"),
            m.c.o_amount.label("invoiced_amount"),
            sa.literal(1, sa.BigInteger).label("n_orders"),
            m.c.order_id.label("first_order"),
            n(sa.and_(own, m.c.captured > 0)).label("n_captured_any"),
            n(sa.and_(same, m.c.captured > 0)).label("n_captured_same"),
            captured.label("captured_same"),
            refunded.label("refunded_same"),
            s(m.c.available).label("available_same"),
            (captured - refunded).label("net_same"),
        )
        .where(m.c.confirmed.is_(True), *where)
        .group_by(m.c.order_id, m.c.o_currency, m.c.o_amount)
        .subquery("order_matches")
    )


def _invoice_groups(m: sa.Table, confirmed: tuple[str, ...], credit: tuple[str, ...]) -> sa.Select[Any]:
    """R3 groups (``payment:<payment_id>``, few; matching.join_shared_groups: the payments listing
    an invoice of the same order are one group): the group's currency is that of the payment it
    is named after (its lowest); the amounts of its orders in that currency are summed against
    the money of its payments in that currency. A listed order or a payment in another currency
    is a ``currency_mismatch`` of its own and adds nothing (a GBP invoice must never be added to
    EUR ones). Each order and each payment counts once, however many pairs it is in. ``m``
    holds the confirmed R3 pairs only (:func:`build_groups`)."""
    po, pays = _group_orders(m, confirmed, credit), _group_payments(m)
    in_ccy = pays.c.currency == po.c.currency

    def money(expr: Any) -> Any:
        """Σ over the group's payments in its currency, if an order is in that currency."""
        return sa.case((po.c.same == 1, _zero(sa.func.sum(sa.case((in_ccy, expr), else_=0)))), else_=0)

    def n(cond: Any) -> Any:
        return _zero(sa.func.sum(sa.case((cond, 1), else_=0)))

    same_captured = sa.case((po.c.same == 1, n(sa.and_(in_ccy, pays.c.captured > 0))), else_=0)
    keys = ("match_group", "currency", "orders_amount", "invoiced_amount", "n_orders", "first_order")
    per_group = [po.c[c] for c in keys]
    return (
        sa.select(
            *per_group,
            n(pays.c.captured > 0).label("n_captured_any"),
            same_captured.label("n_captured_same"),
            money(pays.c.captured).label("captured_same"),
            money(pays.c.refunded).label("refunded_same"),
            money(pays.c.available).label("available_same"),
            money(pays.c.captured - pays.c.refunded).label("net_same"),
        )
        .select_from(po.join(pays, pays.c.match_group == po.c.match_group))
        .group_by(*per_group, po.c.same)
    )


def _group_orders(m: sa.Table, confirmed: tuple[str, ...], credit: tuple[str, ...]) -> sa.Subquery:
    """Per R3 group: its currency (its named payment's), its orders in that currency summed and
    the lowest of them (the group's money counts on it), how many orders, and ``same`` (1: an
    order is in the group's currency).

    Two sums: ``orders_amount``, the orders that are due (confirmed, or a credit status: the
    money rightly stays), what the group's money is compared with; ``invoiced_amount``, all of
    its orders in the currency, what the payment claims to pay. Between the two lies money kept
    for invoices nothing is due on (cancelled, draft): ``unconfirmed_order_paid``, not a short
    or an excess of the group (detect_orders.amount_mismatch).

    The money counts on the lowest *confirmed* order in the currency when there is one: the
    order facts and the run totals hold confirmed orders only, so a cancelled invoice with the
    lowest id would otherwise carry the group's money out of every total (a transfer for a
    cancelled and a confirmed invoice showed nothing captured). A group with no confirmed order
    names its lowest order (``unconfirmed_order_paid``)."""
    named = sa.literal("payment:") + m.c.payment_id == m.c.match_group
    ccy = (
        sa.select(m.c.match_group, sa.func.max(sa.case((named, m.c.currency), else_=None)).label("currency"))
        .group_by(m.c.match_group)
        .subquery("ccy")
    )
    o = stg_orders
    conf = sa.case((o.c.status.in_(confirmed), 1), else_=0)
    due = sa.case((o.c.status.in_(confirmed), 1), (o.c.status.in_(credit), 1), else_=0)
    orders = (
        sa.select(
            m.c.match_group,
            m.c.order_id,
            m.c.o_currency,
            m.c.o_amount,
            sa.func.max(conf).label("conf"),
            sa.func.max(due).label("due"),
        )
        .select_from(m.join(o, o.c.order_id == m.c.order_id))
        .group_by(m.c.match_group, m.c.order_id, m.c.o_currency, m.c.o_amount)
        .subquery("orders")
    )
    in_ccy = orders.c.o_currency == ccy.c.currency
    confirmed_in_ccy = sa.and_(in_ccy, orders.c.conf == 1)
    lowest_confirmed = sa.func.min(sa.case((confirmed_in_ccy, orders.c.order_id), else_=None))
    lowest = sa.func.min(sa.case((in_ccy, orders.c.order_id), else_=None))
    due_in_ccy = sa.and_(in_ccy, orders.c.due == 1)
    return (
        sa.select(
            orders.c.match_group,
            ccy.c.currency,
            _zero(sa.func.sum(sa.case((due_in_ccy, orders.c.o_amount), else_=0))).label("orders_amount"),
            _zero(sa.func.sum(sa.case((in_ccy, orders.c.o_amount), else_=0))).label("invoiced_amount"),
            sa.func.count().label("n_orders"),
            sa.func.coalesce(lowest_confirmed, lowest).label("first_order"),
            sa.func.max(sa.case((in_ccy, 1), else_=0)).label("same"),
        )
        .select_from(orders.join(ccy, ccy.c.match_group == orders.c.match_group))
        .group_by(orders.c.match_group, ccy.c.currency)
        .subquery("per_orders")
    )


def _group_payments(m: sa.Table) -> sa.Subquery:
    """Each payment of each R3 group once, with its money (a payment is in one pair per order)."""
    cols = (m.c.match_group, m.c.payment_id, m.c.currency, m.c.captured, m.c.refunded, m.c.available)
    return sa.select(*cols).group_by(*cols).subquery("pays")


#: The figures of a confirmed match group, as columns ``g_*`` of the scratch table ``order``.
GROUP_COLUMNS = (
    "currency",
    "orders_amount",
    "invoiced_amount",
    "n_orders",
    "first_order",
    "n_captured_any",
    "n_captured_same",
    "captured_same",
    "refunded_same",
    "available_same",
    "net_same",
)


def build_orders(ctx: Ctx) -> sa.Table:
    """The orders of the run, each with what the detectors read of it and of its confirmed group
    (``g_*``, NULL: no confirmed match), in one table: the detectors and the order facts then
    scan it alone instead of joining orders and groups again each.

    An order's group is ``order:<order_id>`` when it has R1/R2 matches (then never an R3 one),
    summed here from the matches; else the lowest of its R3 groups (few orders), from
    :func:`build_groups`.

    The orders with a confirmed match are written from their matches alone (each pair carries
    its order's columns), the others from the staged orders, by an anti-join with the matches:
    joining the million staged orders to the million-group aggregate cost a full run about
    0.5 s more at a million orders."""
    m, g, conn = ctx.tmp["match"], ctx.tmp["group"], ctx.conn
    t = sqlbits.scratch(
        conn,
        "recon_tmp_order",
        sa.Column("order_id", sa.Text()),
        sa.Column("order_number", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount_minor", _BIG()),
        sa.Column("confirmed", sa.Boolean()),
        sa.Column("confirmed_at", stg_orders.c.confirmed_at.type),
        sa.Column("payment_status", sa.Text()),
        sa.Column("match_group", sa.Text()),
        *[sa.Column(f"g_{c}", g.c[c].type) for c in GROUP_COLUMNS],
        index=("order_id", "match_group"),
    )
    scoped = ctx.in_scope("orders", m.c.order_id)
    om = _order_matches(conn, m, scoped)
    by_payment = om.c.r3_group.is_not(None)

    def pick(col: str) -> Any:
        return sa.case((by_payment, g.c[col]), else_=om.c[col]).label(f"g_{col}")

    own_group = sa.case((om.c.n_own > 0, sa.literal("order:") + om.c.order_id), else_=None)
    matched = sa.select(
        om.c.order_id,
        om.c.order_number,
        om.c.currency,
        om.c.o_amount.label("amount_minor"),
        om.c.o_confirmed.label("confirmed"),
        om.c.o_confirmed_at.label("confirmed_at"),
        om.c.o_payment_status.label("payment_status"),
        sa.case((by_payment, g.c.match_group), else_=own_group).label("match_group"),
        *[pick(c) for c in GROUP_COLUMNS],
    ).select_from(om.outerjoin(g, g.c.match_group == om.c.r3_group))
    sqlbits.fill(conn, t, matched)
    sqlbits.fill(conn, t, _orders_without_match(ctx, m))
    sqlbits.analyze(conn, t)
    ctx.tmp["order"] = t
    return t


def _orders_without_match(ctx: Ctx, m: sa.Table) -> sa.Select[Any]:
    """The orders of the run with no confirmed match, from the staged orders (no group)."""
    o = stg_orders
    return sa.select(
        o.c.order_id,
        o.c.order_number,
        o.c.currency,
        o.c.amount_minor,
        o.c.status.in_(ctx.confirmed_statuses).label("confirmed"),
        o.c.confirmed_at,
        o.c.payment_status,
    ).where(
        ctx.in_scope("orders", o.c.order_id),
        ~sa.exists().where(m.c.order_id == o.c.order_id, m.c.confirmed.is_(True)),
    )
