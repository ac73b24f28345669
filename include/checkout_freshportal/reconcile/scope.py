"""What an incremental run recomputes: the subjects whose inputs changed, or whose due time fell,
since the last succeeded run, closed over their matches.

Seeds (``updated_at`` after the last run's ``inputs_watermark``, see ``WATERMARK_OVERLAP``):

* orders: changed orders, refund requests, money intents, derived statuses, status-outbox rows;
  orders whose ``payment_due`` or ``status_grace`` ended between the last run's as_of and this one;
* payments: changed payments, actions, disputes, intents, financial-action lines and their payout
  ids; captures whose ``settlement_window`` ended in between; payments with a suggested match;
* refund requests: changed ones and their intents; those whose ``refund_due`` ended in between;
* payouts: changed payouts and payout ids, and the payouts of new lines (a line's amount is part of
  its key, so a line changed in place cannot change its payout's sum); disputes: changed ones and
  those of the payments.

Closure (matching.py needs whole groups): the payments matched to a scoped order (before, or by
its order number / invoice numbers now) join the scope, the orders matched to a scoped payment
(before, or now) too, until nothing is added; so do the payments the last run left unmatched
(an open ``orphan_payment``/``payment_failed``) that a scoped order may match now. Every step
reads indexes (migration 0009); the order numbers and invoice numbers of the scope go through a
small analysed scratch table first, so the payments naming them are looked up by index, never
hashed whole.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import SUBJECTS, Ctx
from checkout_freshportal.reconcile.matching import build_matches, split_references, whole_references
from checkout_freshportal.warehouse.schema import (
    recon_exceptions,
    recon_matches,
    stg_disputes,
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
    stg_payment_actions,
    stg_payment_status,
    stg_payments,
    stg_payouts,
    stg_refund_requests,
    sync_money_intents,
    sync_status_outbox,
)
from checkout_freshportal.warehouse.schema.recon import recon_order_invoices

#: Rows stamped up to this long before the last watermark are looked at again. Zero: the DAG runs
#: after the loads that trigger it, not beside them, and any positive overlap would re-examine a
#: whole bulk load stamped just before the last run. A row a concurrent writer stamped before the
#: watermark but committed after the run read is picked up by the next full run (``full_every``).
WATERMARK_OVERLAP = timedelta(0)
MAX_CLOSURE_ROUNDS = 6


def make_scope(ctx: Ctx) -> dict[str, sa.Table]:
    """One scratch table per subject: its ids, and the closure round that added each (0: a
    seed; :func:`close` looks up from the ids the last round added only)."""
    tables = {
        subject: sqlbits.scratch(
            ctx.conn,
            f"recon_tmp_sc_{subject}",
            sa.Column(col, sa.Text(), primary_key=True),
            sa.Column("round_no", sa.Integer(), nullable=False),
        )
        for subject, col in SUBJECTS.items()
    }
    ctx.scope = tables
    return tables


def add(ctx: Ctx, subject: str, values: sa.Select[Any], round_no: int = 0) -> int:
    """Adds the ids ``values`` selects (one column) to the scope of ``subject``, as added by
    closure round ``round_no`` (0: a seed); rows added (an id already there keeps its round)."""
    assert ctx.scope is not None
    t = ctx.scope[subject]
    col = t.c[SUBJECTS[subject]]
    src = values.subquery()
    (value,) = src.c
    # ON CONFLICT rather than an anti-join against the scope table: with it in the plan,
    # PostgreSQL drove a seed from the whole input table (a nested loop over 400k lines at 200k
    # orders) instead of from the few changed rows' index
    sel = (
        sa.select(value.label(col.name), sa.literal(round_no).label("round_no"))
        .distinct()
        .where(value.is_not(None))
    )
    return sqlbits.fill_new(ctx.conn, t, sel)


def changed_orders(ctx: Ctx, since: datetime) -> sa.Table:
    """Orders whose own row changed (their invoice numbers may have)."""
    t = sqlbits.scratch(
        ctx.conn, "recon_tmp_changed_orders", sa.Column("order_id", sa.Text(), primary_key=True)
    )
    sqlbits.fill(ctx.conn, t, sa.select(stg_orders.c.order_id).where(stg_orders.c.updated_at > since))
    return t


def seed(ctx: Ctx, since: datetime, prev_as_of: datetime) -> None:
    s, T = ctx.settings, ctx.as_of

    def fell_due(col: Any, due: timedelta) -> Any:
        return sa.and_(col > prev_as_of - due, col <= T - due)

    o, rr, mi, ps, ob = (
        stg_orders,
        stg_refund_requests,
        sync_money_intents,
        stg_payment_status,
        sync_status_outbox,
    )
    add(ctx, "orders", sa.select(o.c.order_id).where(o.c.updated_at > since))
    add(ctx, "orders", sa.select(o.c.order_id).where(fell_due(o.c.confirmed_at, s.payment_due)))
    add(ctx, "orders", sa.select(rr.c.order_id).where(rr.c.updated_at > since))
    add(ctx, "orders", sa.select(mi.c.order_id).where(mi.c.updated_at > since))
    add(ctx, "orders", sa.select(ps.c.order_id).where(ps.c.updated_at > since))
    add(ctx, "orders", sa.select(ps.c.order_id).where(fell_due(ps.c.updated_at, s.status_grace)))
    add(
        ctx,
        "orders",
        sa.select(ob.c.order_id).where(sa.or_(ob.c.created_at > since, ob.c.delivered_at > since)),
    )
    _seed_payments(ctx, since, fell_due)
    add(ctx, "refund_requests", sa.select(rr.c.refund_request_id).where(rr.c.updated_at > since))
    add(
        ctx,
        "refund_requests",
        sa.select(rr.c.refund_request_id).where(fell_due(rr.c.requested_at, s.refund_due)),
    )
    prefix = "refund_request:"
    add(
        ctx,
        "refund_requests",
        sa.select(sa.func.substr(mi.c.request_key, len(prefix) + 1)).where(
            mi.c.updated_at > since, mi.c.request_key.startswith(prefix)
        ),
    )
    _seed_payouts(ctx, since)
    d = stg_disputes
    add(ctx, "disputes", sa.select(d.c.dispute_id).where(d.c.updated_at > since))


def _seed_payments(ctx: Ctx, since: datetime, fell_due: Any) -> None:
    p, a, d, mi, rr = stg_payments, stg_payment_actions, stg_disputes, sync_money_intents, stg_refund_requests
    fa, fap, rm = stg_financial_actions, stg_financial_action_payouts, recon_matches
    add(ctx, "payments", sa.select(p.c.payment_id).where(p.c.updated_at > since))
    add(ctx, "payments", sa.select(a.c.payment_id).where(a.c.updated_at > since))
    add(
        ctx,
        "payments",
        sa.select(a.c.payment_id).where(
            a.c.action_type == "Capture", fell_due(a.c.processed_on, ctx.settings.settlement_window)
        ),
    )
    add(ctx, "payments", sa.select(d.c.payment_id).where(d.c.updated_at > since))
    add(ctx, "payments", sa.select(mi.c.payment_id).where(mi.c.updated_at > since))
    add(
        ctx,
        "payments",
        sa.select(a.c.payment_id)
        .select_from(rr.join(a, a.c.action_id == rr.c.outcome_refund_id))
        .where(rr.c.updated_at > since),
    )
    add(ctx, "payments", sa.select(fa.c.payment_id).where(fa.c.updated_at > since))
    add(
        ctx,
        "payments",
        sa.select(fa.c.payment_id)
        .select_from(
            fap.join(fa, sa.and_(fa.c.processed_on == fap.c.processed_on, fa.c.line_key == fap.c.line_key))
        )
        .where(fap.c.updated_at > since),
    )
    add(ctx, "payments", sa.select(rm.c.payment_id).where(rm.c.confirmed.is_(False)))


def _seed_payouts(ctx: Ctx, since: datetime) -> None:
    p, fa, fap = stg_payouts, stg_financial_actions, stg_financial_action_payouts
    on = sa.and_(fa.c.processed_on == fap.c.processed_on, fa.c.line_key == fap.c.line_key)
    add(ctx, "payouts", sa.select(p.c.payout_id).where(p.c.updated_at > since))
    add(ctx, "payouts", sa.select(fap.c.payout_id).where(fap.c.updated_at > since))
    # New lines only: a line's amount and currency are part of its identity (its key), so a line
    # stamped again for another column (a restated fee detail, a reference) adds nothing new to
    # its payout's sum. ``updated_at`` first, for its index (a new line has both stamps).
    add(
        ctx,
        "payouts",
        sa.select(fap.c.payout_id)
        .select_from(fa.join(fap, on))
        .where(fa.c.updated_at > since, fa.c.first_seen_at > since),
    )


def _r3_tokens(ctx: Ctx, unmatched: sa.Table) -> sa.Table:
    """(payment_id, token) of the references of the payments matched by an invoice list (R3) in
    the last run, and of the ``unmatched`` ones: few, split once per run (their references do
    not change while the scope grows). An order arriving after such a payment joins its group,
    or gives it one, when one of its invoice numbers is a token or the whole trimmed reference
    (matching.split_references, matching.whole_references: the readings R3 itself uses)."""
    rm, p = recon_matches, stg_payments
    t = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_r3_tokens",
        sa.Column("payment_id", sa.Text()),
        sa.Column("token", sa.Text()),
        index=("token",),
    )
    r3 = sa.select(rm.c.payment_id).where(rm.c.rule == "invoice_reference").distinct().subquery()
    u = unmatched
    for src, pid, ref in (
        (r3.join(p, p.c.payment_id == r3.c.payment_id), p.c.payment_id, p.c.reference),
        (u, u.c.payment_id, u.c.reference),
    ):
        for tokens in (split_references, whole_references):
            sqlbits.fill(ctx.conn, t, tokens(ctx.conn, src, pid, ref, ref.is_not(None)))
    sqlbits.analyze(ctx.conn, t)
    return t


def _unmatched(ctx: Ctx) -> sa.Table:
    """The payments the last run left without a confirmed match (an open or explained
    ``orphan_payment`` or ``payment_failed``), with the keys R1-R4 would pair them by.

    Such a payment changes nothing while it stays unmatched, unless an order arrives or changes
    that it matches now: the closure takes it in only then (its reference, metadata order id,
    invoice tokens or customer, currency and amount against the scoped orders), instead of
    recomputing every unmatched payment in every run (the declined attempts alone were 20,000
    payments of each incremental run at a million orders)."""
    e, p = recon_exceptions, stg_payments
    t = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_sc_unmatched",
        sa.Column("payment_id", sa.Text()),
        sa.Column("reference", sa.Text()),
        sa.Column("meta_order_id", sa.Text()),
        sa.Column("email_hash", sa.Text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount_minor", sa.BigInteger()),
        index=("meta_order_id", "email_hash"),
    )
    open_ = sa.and_(e.c.kind.in_(("orphan_payment", "payment_failed")), e.c.status != "resolved")
    sel = sa.select(
        p.c.payment_id,
        p.c.reference,
        p.c.metadata["order_id"].as_string().label("meta_order_id"),
        p.c.customer_email_hash.label("email_hash"),
        p.c.currency,
        p.c.amount_minor,
    ).where(p.c.payment_id.in_(sa.select(e.c.payment_id).where(open_)))
    sqlbits.fill(ctx.conn, t, sel)
    sqlbits.analyze(ctx.conn, t)
    return t


def _seed_shared_numbers(ctx: Ctx, unmatched: sa.Table) -> None:
    """Seeds the ``unmatched`` payments with no confirmed match whose reference is an order's
    number: R1 did not place them at the last run because several orders held that number
    (matching.shared_numbers). When one of those orders changes its number, the number may be
    the other order's alone now, and the payment its R1 match; the closure would not find the
    payment through the changed order (its new number) nor through the other one (unchanged).
    Few: any other payment whose reference is an order's number has its R1 match."""
    u, o, rm = unmatched, stg_orders, recon_matches
    matched = sa.exists().where(rm.c.payment_id == u.c.payment_id, rm.c.confirmed.is_(True))
    add(
        ctx,
        "payments",
        sa.select(u.c.payment_id).where(~matched, u.c.reference.in_(sa.select(o.c.order_number))),
    )


def _unmatched_now_matching(ctx: Ctx, unmatched: sa.Table, scoped: sa.Select[Any], round_no: int) -> int:
    """Adds the ``unmatched`` payments a scoped order may match now: R2 (the order's id in the
    payment's metadata) and R4 (the customer, currency and amount; the time window is left to
    matching, a superset is safe). R1 and R3 come through the scoped order and invoice numbers
    (``close``), which every payment is looked up by."""
    u, o = unmatched, stg_orders
    added = add(ctx, "payments", sa.select(u.c.payment_id).where(u.c.meta_order_id.in_(scoped)), round_no)
    same_customer = sa.and_(
        o.c.customer_email_hash == u.c.email_hash,
        o.c.currency == u.c.currency,
        o.c.amount_minor == u.c.amount_minor,
    )
    return added + add(
        ctx,
        "payments",
        sa.select(u.c.payment_id).select_from(u.join(o, same_customer)).where(o.c.order_id.in_(scoped)),
        round_no,
    )


def _scoped_references(ctx: Ctx, scoped: sa.Select[Any]) -> sa.Table:
    """The order numbers and invoice numbers of the ``scoped`` orders, in a small analysed table:
    the payments naming them are then looked up through the index on ``stg_payments.reference``
    (joined straight to the order tables, PostgreSQL misjudged the scoped share and hashed the
    whole payments table, once per closure round)."""
    o, oi = stg_orders, recon_order_invoices
    t = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_sc_refs",
        sa.Column("ref", sa.Text()),
        sa.Column("invoice", sa.Boolean()),
        index=("ref",),
    )
    sqlbits.fill(
        ctx.conn,
        t,
        sa.select(o.c.order_number.label("ref"), sa.literal(False).label("invoice")).where(
            o.c.order_id.in_(scoped), o.c.order_number.is_not(None)
        ),
    )
    sqlbits.fill(
        ctx.conn,
        t,
        sa.select(oi.c.invoice_number.label("ref"), sa.literal(True).label("invoice")).where(
            oi.c.order_id.in_(scoped)
        ),
    )
    sqlbits.analyze(ctx.conn, t)
    return t


def close(ctx: Ctx) -> bool:
    """Grows the order and payment scope over matches until stable; leaves ``match`` (and
    ``loose``) built for the final scope. False when it is still growing after ``MAX_CLOSURE_ROUNDS``
    (a long chain of payments whose invoice lists overlap, each round one link further): the
    group figures need whole groups, so the caller reconciles everything instead.

    ``match`` depends on the scoped payments alone (R1-R4 pair them with any staged order), so
    it is rebuilt only in a round that added payments: the last round, which
    typically adds nothing, then costs a few index lookups instead of matching again."""
    assert ctx.scope is not None
    so, sp = ctx.scope["orders"], ctx.scope["payments"]
    rm, p = recon_matches, stg_payments
    unmatched = _unmatched(ctx)
    _seed_shared_numbers(ctx, unmatched)
    r3_tokens = _r3_tokens(ctx, unmatched)
    built = False
    for k in range(1, MAX_CLOSURE_ROUNDS + 1):
        # the scope's real size lets the planner look its few ids up by index instead of
        # hash-joining them against whole input tables
        for t in ctx.scope.values():
            sqlbits.analyze(ctx.conn, t)
        # Each round looks up from what the round before added (the seeds in the first): every
        # lookup is per order or per payment, so an id already looked up adds nothing new. Asked
        # of the whole scope each round, the last round, which adds nothing, cost about as much
        # as the first (0.5 s of a 4 s rerun at a million orders, 1 % changed).
        orders_new = sa.select(so.c.order_id).where(so.c.round_no == k - 1)
        refs = _scoped_references(ctx, orders_new)
        payments = add(ctx, "payments", sa.select(rm.c.payment_id).where(rm.c.order_id.in_(orders_new)), k)
        # R1 (the order number) and R3 (an invoice number as the whole reference)
        payments += add(
            ctx,
            "payments",
            sa.select(p.c.payment_id).select_from(refs.join(p, p.c.reference == refs.c.ref)),
            k,
        )
        # R3 payments (and unmatched ones) listing an invoice of a scoped order among others
        payments += add(
            ctx,
            "payments",
            sa.select(r3_tokens.c.payment_id).select_from(
                refs.join(r3_tokens, sa.and_(r3_tokens.c.token == refs.c.ref, refs.c.invoice.is_(True)))
            ),
            k,
        )
        payments += _unmatched_now_matching(ctx, unmatched, orders_new, k)
        # the payments this round added, and the seeds in the first
        payments_new = sa.select(sp.c.payment_id).where(sp.c.round_no >= (0 if k == 1 else k))
        added = payments + add(
            ctx, "orders", sa.select(rm.c.order_id).where(rm.c.payment_id.in_(payments_new)), k
        )
        if payments or not built:
            m = build_matches(ctx)
            built = True
            added += add(ctx, "orders", sa.select(m.c.order_id), k)
        if added == 0:
            break
    else:  # still growing after the last round: a partial group would be compared as a whole
        return False
    d = stg_disputes
    add(ctx, "disputes", sa.select(d.c.dispute_id).where(d.c.payment_id.in_(sa.select(sp.c.payment_id))))
    for t in ctx.scope.values():
        sqlbits.analyze(ctx.conn, t)
    return True
