"""Detectors of the exceptions about orders and their payments (one SELECT each).

They read the scratch tables of facts.py: ``order`` (orders of the run with their confirmed
group's figures: the orders' amount and the payments' money in the group's currency), ``group``
(the R3 groups alone), and matching.py's ``match`` (with each pair's payment columns) and
``loose``. A group is the unit amounts are compared in: one order with its payments (R1/R2), or
one payment with the orders whose invoices it lists (R3); the exception is still one per order
(the spec's keys), naming the group's figures.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import looks, sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.detect_unconfirmed import unconfirmed_order_paid
from checkout_freshportal.reconcile.found import add, add_found_beside, key, row, text
from checkout_freshportal.warehouse.schema import (
    stg_orders,
    stg_payment_status,
    stg_payments,
    sync_status_outbox,
)

DECLINED = "Declined"


def _orders(ctx: Ctx) -> Any:
    """The orders of the run with their group's figures (``g_*``; facts.build_orders)."""
    return ctx.tmp["order"]


def _suggestion(ctx: Ctx, *, by: str) -> Any:
    """The suggested counterpart (lowest id) per order or per payment, as a subquery."""
    m = ctx.tmp["match"]
    col, other = (m.c.order_id, m.c.payment_id) if by == "order" else (m.c.payment_id, m.c.order_id)
    return (
        sa.select(col.label("subject"), sa.func.min(other).label("suggested"))
        .where(m.c.confirmed.is_(False))
        .group_by(col)
        .subquery()
    )


def _with_suggestion(detail: Any, sug: Any, what: str) -> Any:
    return detail + sa.func.coalesce(
        sa.literal(f"; suggested {what} (same customer, amount): ") + sug.c.suggested, ""
    )


def missing_payment(ctx: Ctx) -> int:
    t = looks.questioned(ctx)
    sug = _suggestion(ctx, by="order")
    detail = _with_suggestion(sa.literal("Confirmed order with nothing captured"), sug, "payment")
    sel = (
        sa.select(
            *row(
                "missing_payment",
                key("missing_payment", ("order", t.c.order_id)),
                order_id=t.c.order_id,
                order_number=t.c.order_number,
                currency=t.c.currency,
                expected_minor=t.c.amount_minor,
                actual_minor=sa.literal(0),
                detail=detail,
            )
        )
        .select_from(t.outerjoin(sug, sug.c.subject == t.c.order_id))
        .where(*looks.missing_when(ctx, t))
    )
    return add(ctx, sel)


def _group_detail(t: Any, what: str) -> Any:
    return sa.literal(what) + sa.case(
        (
            t.c.g_n_orders > 1,
            sa.literal(" (one payment for ") + text(t.c.g_n_orders) + sa.literal(" orders)"),
        ),
        else_="",
    )


def amount_mismatch(ctx: Ctx) -> int:
    """The group's money captured is not what its due orders amount to. In a group with invoices
    nothing is due on (cancelled, draft; R3), money between the due amount and every invoice is
    kept for those (``unconfirmed_order_paid``), not a mismatch: the group is short below the
    due amount and over beyond every invoice (then expected = every invoice).

    Short is judged on the money captured (a refund does not make a payment short), over on the
    money kept, net of refunds: refunding the excess is the remedy, so it closes the exception,
    as it does a ``duplicate_payment``'s."""
    t = looks.questioned(ctx)
    captured, due, invoiced = t.c.g_captured_same, t.c.g_orders_amount, t.c.g_invoiced_amount
    kept = t.c.g_net_same
    over = sa.and_(kept > invoiced, captured >= due)
    sel = (
        sa.select(
            *row(
                "amount_mismatch",
                key("amount_mismatch", ("order", t.c.order_id)),
                order_id=t.c.order_id,
                order_number=t.c.order_number,
                currency=t.c.currency,
                expected_minor=sa.case((over, invoiced), else_=due),
                actual_minor=sa.case((over, kept), else_=captured),
                detail=_group_detail(t, "Captured amount differs from the ordered amount"),
            )
        )
        .select_from(t)
        .where(*looks.mismatch_when(ctx, t))
    )
    return add(ctx, sel)


def duplicate_payment(ctx: Ctx) -> int:
    """Several payments captured and, net of refunds, more kept than every invoice of the group
    (its orders' amount; money up to every invoice is kept for invoices nothing is due on:
    ``unconfirmed_order_paid``)."""
    t = looks.questioned(ctx)
    sel = (
        sa.select(
            *row(
                "duplicate_payment",
                key("duplicate_payment", ("order", t.c.order_id)),
                order_id=t.c.order_id,
                order_number=t.c.order_number,
                currency=t.c.currency,
                expected_minor=t.c.g_invoiced_amount,
                actual_minor=t.c.g_net_same,
                detail=sa.literal("Captured through ")
                + text(t.c.g_n_captured_same)
                + sa.literal(" payments, more than ordered (net of refunds)"),
            )
        )
        .select_from(t)
        .where(*looks.duplicate_when(ctx, t))
    )
    return add(ctx, sel)


def over_refund(ctx: Ctx) -> int:
    """Refunded more than the smaller of every invoice of the group and what it captured."""
    t = looks.questioned(ctx)
    limit = looks.refund_limit(t)
    sel = (
        sa.select(
            *row(
                "over_refund",
                key("over_refund", ("order", t.c.order_id)),
                order_id=t.c.order_id,
                order_number=t.c.order_number,
                currency=t.c.currency,
                expected_minor=limit,
                actual_minor=t.c.g_refunded_same,
                detail=_group_detail(t, "Refunded more than the smaller of ordered and captured"),
            )
        )
        .select_from(t)
        .where(*looks.over_refund_when(ctx, t))
    )
    return add(ctx, sel)


def currency_mismatch(ctx: Ctx) -> int:
    """Confirmed matches whose payment is in another currency than its order (a declined
    attempt aside): the pairs across currencies (looks.across, few) joined to the staged order
    and payment by their keys. Joined to the run's order and payment tables instead, each
    million-row table was hashed whole for them (0.5 s of a full run)."""
    pairs, o, p = looks.across(ctx), stg_orders, stg_payments
    sel = (
        sa.select(
            *row(
                "currency_mismatch",
                key("currency_mismatch", ("order", pairs.c.order_id), ("payment", pairs.c.payment_id)),
                order_id=pairs.c.order_id,
                order_number=pairs.c.order_number,
                payment_id=pairs.c.payment_id,
                currency=pairs.c.o_currency,
                expected_minor=pairs.c.o_amount,
                detail=sa.literal("Payment is ")
                + text(p.c.amount_minor)
                + sa.literal(" minor units of ")
                + text(p.c.currency)
                + sa.literal(", the order is in ")
                + text(pairs.c.o_currency),
            )
        )
        .select_from(
            pairs.join(o, o.c.order_id == pairs.c.order_id).join(p, p.c.payment_id == pairs.c.payment_id)
        )
        .where(o.c.status.in_(ctx.confirmed_statuses), p.c.status.is_distinct_from(DECLINED))
    )
    return add(ctx, sel)


def orphan_payment(ctx: Ctx) -> int:
    """Captured payments with no confirmed match (``unmatched``, matching.py: the payment's columns)."""
    pay = ctx.tmp["unmatched"]
    sug = _suggestion(ctx, by="payment")
    detail = _with_suggestion(sa.literal("Captured payment that matches no order"), sug, "order")
    sel = sa.select(
        *row(
            "orphan_payment",
            key("orphan_payment", ("payment", pay.c.payment_id)),
            payment_id=pay.c.payment_id,
            currency=pay.c.currency,
            actual_minor=pay.c.captured,
            detail=detail,
        )
    ).select_from(pay.outerjoin(sug, sug.c.subject == pay.c.payment_id))
    return add(ctx, sel)


def payment_failed(ctx: Ctx) -> int:
    """Declined payments with no confirmed match, or with one in a group short of its orders'
    amount, every invoice of an R3 group counted (informational: the money may still come
    through another attempt). The short groups are the orders' (``order`` carries each R1/R2
    group's figures) and the R3 ones.

    A payment R1/R2 placed has its pairs as confirmed matches (R3 takes only the payments they
    left), so its declined rows of ``match`` and their groups say it in one scan. Any other
    payment is ``loose`` (matching.py): it has no confirmed match unless R3 took it, and then
    its R3 pairs (``r3_pairs``, few) name its groups. Asking the million matches of every short
    group for each declined payment instead cost 0.5 s of a full run at a million orders."""
    m, g, loose, r3 = (ctx.tmp[k] for k in ("match", "group", "loose", "r3_pairs"))
    t = looks.questioned(ctx)
    short_groups = sa.union(
        sa.select(t.c.match_group).where(*looks.short_when(ctx, t)),
        sa.select(g.c.match_group).where(g.c.captured_same < g.c.invoiced_amount),
    )
    cols = ("payment_id", "currency", "amount_minor")
    placed = sa.select(*[m.c[c] for c in cols]).where(
        m.c.rule.in_(("reference", "metadata_order_id")),
        m.c.status == DECLINED,
        m.c.match_group.in_(short_groups),
    )
    by_invoice = sa.select(r3.c.payment_id)
    unplaced = sa.select(*[loose.c[c] for c in cols]).where(
        loose.c.status == DECLINED,
        sa.or_(
            loose.c.payment_id.not_in(by_invoice),
            loose.c.payment_id.in_(by_invoice.where(r3.c.match_group.in_(short_groups))),
        ),
    )
    # a payment whose reference names several orders has a pair for each: the union keeps one
    pay = sa.union(placed, unplaced).subquery("declined")
    sel = sa.select(
        *row(
            "payment_failed",
            key("payment_failed", ("payment", pay.c.payment_id)),
            payment_id=pay.c.payment_id,
            currency=pay.c.currency,
            expected_minor=pay.c.amount_minor,
            actual_minor=sa.literal(0),
            detail=sa.literal("Payment declined"),
        )
    )
    return add(ctx, sel)


def _drift_candidates(ctx: Ctx, o: Any) -> sa.Table:
    """The orders that can drift: one of their derived-status rows differs from what FreshPortal
    shows, or they have status-outbox rows (whose payment may be another order's).

    Exact, not a heuristic: an order outside both has no outbox row, so its newest derived-status
    row speaks for it, and that row, like all of its rows, agrees with FreshPortal. One hash join
    of the derived statuses with the run's orders finds them; the "newest row per order" windows
    then sort only these orders' rows instead of every order's. The gain is small where many
    orders have a declined attempt besides their paid payment (80,000 candidates of 1M orders in
    the benchmark's data: 9.2 s against 10.1 s, medians of three on a busy machine)."""
    ps, ob = stg_payment_status, sync_status_outbox
    t = sqlbits.scratch(
        ctx.conn, "recon_tmp_drift_orders", sa.Column("order_id", sa.Text()), index=("order_id",)
    )
    differs = (
        sa.select(o.c.order_id)
        .select_from(o.join(ps, ps.c.order_id == o.c.order_id))
        .where(ps.c.freshportal_status.is_distinct_from(o.c.payment_status))
    )
    outbox = sa.select(o.c.order_id).where(sa.exists().where(ob.c.order_id == o.c.order_id))
    both = sa.union(differs, outbox).subquery()
    sqlbits.fill(ctx.conn, t, sa.select(both.c.order_id))
    sqlbits.analyze(ctx.conn, t)
    return t


def status_drift(ctx: Ctx) -> int:
    """The payment that speaks for an order: the one of its newest status-outbox row, else its
    newest derived-status row; its FreshPortal status against what FreshPortal shows.

    Staged data alone decides it (the orders' FreshPortal status, the derived statuses, the
    outbox), so a full run on PostgreSQL finds these rows beside (reconcile/inputs.py)."""
    return add_found_beside(ctx, "status_drift", lambda: drift_select(ctx, _orders(ctx)))


def drift_select(ctx: Ctx, o: Any) -> sa.Select[Any]:
    """The ``status_drift`` rows of the orders ``o`` (the run's scratch table, or
    ``stg_orders``: the columns read are the staged order's)."""
    ps, ob = stg_payment_status, sync_status_outbox
    cand = _drift_candidates(ctx, o)
    candidates = sa.select(cand.c.order_id)
    newest_ob = (
        sa.select(
            ob.c.order_id,
            ob.c.payment_id,
            sa.func.row_number().over(partition_by=ob.c.order_id, order_by=ob.c.version.desc()).label("rn"),
        )
        .where(ob.c.order_id.in_(candidates))
        .subquery()
    )
    newest_ps = (
        sa.select(
            ps.c.order_id,
            ps.c.payment_id,
            sa.func.row_number()
            .over(partition_by=ps.c.order_id, order_by=(ps.c.updated_at.desc(), ps.c.payment_id.desc()))
            .label("rn"),
        )
        .where(ps.c.order_id.in_(candidates))
        .subquery()
    )
    a, b = newest_ob.alias("nob"), newest_ps.alias("nps")
    speaker = sa.func.coalesce(a.c.payment_id, b.c.payment_id)
    delivered = sa.exists().where(ob.c.order_id == o.c.order_id, ob.c.outcome == "delivered")
    sel = (
        sa.select(
            *row(
                "status_drift",
                key("status_drift", ("order", o.c.order_id)),
                order_id=o.c.order_id,
                order_number=o.c.order_number,
                payment_id=ps.c.payment_id,
                currency=o.c.currency,  # the order's: counted under it in the run totals
                detail=sa.literal("FreshPortal shows ")
                + sa.func.coalesce(o.c.payment_status, "nothing")
                + sa.literal(", derived ")
                + sa.func.coalesce(ps.c.freshportal_status, "nothing"),
            )
        )
        .select_from(
            cand.join(o, o.c.order_id == cand.c.order_id)
            .outerjoin(a, sa.and_(a.c.order_id == o.c.order_id, a.c.rn == 1))
            .outerjoin(b, sa.and_(b.c.order_id == o.c.order_id, b.c.rn == 1))
            .join(ps, ps.c.payment_id == speaker)
        )
        .where(
            ps.c.freshportal_status.is_distinct_from(o.c.payment_status),
            ps.c.updated_at <= ctx.cutoff(ctx.settings.status_grace),
            sa.or_(o.c.payment_status.is_not(None), delivered),
        )
    )
    return sel


DETECTORS = (
    missing_payment,
    amount_mismatch,
    unconfirmed_order_paid,
    duplicate_payment,
    over_refund,
    currency_mismatch,
    orphan_payment,
    payment_failed,
    status_drift,
)
