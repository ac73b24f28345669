"""Detectors of refunds, captures without settlement, chargebacks and payouts.

The exceptions about a payment's actions and disputes are found without their order; the run
names it afterwards for all of them at once (``found.name_orders``). Payout tie-out sums the
lines in SQL (one row per payout: payouts are few) and compares in Python with the project's
rounding rule: Σ ``holding_amount_e8`` of the payout's lines in the payout's currency plus the
payout's ``merchant_payout_fees_e8`` (Checkout.com's payout fee, negative, deducted with no line
of its own), rounded half-even to the currency's minor unit, against ``payout_amount_minor``, in
exact integers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.money import MoneyError, e8_to_minor
from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.facts import LOST_DISPUTE_STATUSES, OPEN_DISPUTE_STATUSES
from checkout_freshportal.reconcile.found import add, add_found_beside, add_rows, key, row
from checkout_freshportal.reconcile.kinds import KINDS
from checkout_freshportal.warehouse.schema import (
    stg_disputes,
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_payment_actions,
    stg_payouts,
    stg_refund_requests,
    sync_money_intents,
)
from checkout_freshportal.warehouse.schema.recon import recon_paid_out_actions

#: Refund-request states still waiting for the refund at Checkout.com.
WAITING_REFUND_STATES = ("requested", "processing")


def refund_not_executed(ctx: Ctx) -> int:
    rr, mi = stg_refund_requests, sync_money_intents
    done = sa.exists().where(
        mi.c.request_key == sa.literal("refund_request:") + rr.c.refund_request_id,
        mi.c.state == "succeeded",
    )
    sel = sa.select(
        *row(
            "refund_not_executed",
            key("refund_not_executed", ("refund_request", rr.c.refund_request_id)),
            order_id=rr.c.order_id,
            order_number=rr.c.order_number,
            refund_request_id=rr.c.refund_request_id,
            currency=rr.c.currency,
            expected_minor=rr.c.amount_minor,
            actual_minor=sa.literal(0),
            detail=sa.literal("FreshPortal refund request still ") + rr.c.state,
        )
    ).where(
        ctx.in_scope("refund_requests", rr.c.refund_request_id),
        rr.c.state.in_(WAITING_REFUND_STATES),
        rr.c.requested_at <= ctx.cutoff(ctx.settings.refund_due),
        ~done,
    )
    return add(ctx, sel)


def _action_rows(kind: str, detail: Any, expected: Any, actual: Any) -> list[Any]:
    a = stg_payment_actions
    return row(
        kind,
        key(kind, ("action", a.c.action_id)),
        payment_id=a.c.payment_id,
        action_id=a.c.action_id,
        currency=a.c.currency,
        expected_minor=expected,
        actual_minor=actual,
        detail=detail,
    )


def refund_not_requested(ctx: Ctx) -> int:
    a, mi, rr = stg_payment_actions, sync_money_intents, stg_refund_requests
    sel = sa.select(
        *_action_rows(
            "refund_not_requested",
            sa.literal("Refund at Checkout.com that no FreshPortal refund request asked for"),
            sa.literal(0),
            a.c.amount_minor,
        )
    ).where(
        ctx.in_scope("payments", a.c.payment_id),
        a.c.action_type == "Refund",
        a.c.approved.is_(True),
        ~sa.exists().where(mi.c.action_id == a.c.action_id),
        ~sa.exists().where(rr.c.outcome_refund_id == a.c.action_id),
    )
    return add(ctx, sel)


def unsettled_capture(ctx: Ctx) -> int:
    """Approved captures past the settlement window with no line in a payout. Staged data and
    the paid-out set alone decide it, so a full run on PostgreSQL finds them beside
    (reconcile/inputs.py); the order naming the payment is added afterwards either way."""
    return add_found_beside(ctx, "unsettled_capture", lambda: unsettled_select(ctx))


def unsettled_select(ctx: Ctx) -> sa.Select[Any]:
    a, paid = stg_payment_actions, recon_paid_out_actions
    ctx.wait_for("paid_out")  # read below; a full run refreshes it beside (reconcile/inputs.py)
    return sa.select(
        *_action_rows(
            "unsettled_capture",
            # No timestamp in the text: its rendering differs between SQLite and PostgreSQL
            # (and with the session's time zone); the capture's time is on the action.
            sa.literal("Capture not in any payout after the settlement window"),
            a.c.amount_minor,
            sa.literal(0),
        )
    ).where(
        ctx.in_scope("payments", a.c.payment_id),
        a.c.action_type == "Capture",
        a.c.approved.is_(True),
        a.c.processed_on <= ctx.cutoff(ctx.settings.settlement_window),
        ~sa.exists().where(paid.c.action_id == a.c.action_id),
    )


def _chargebacks(ctx: Ctx, kind: str, statuses: tuple[str, ...]) -> int:
    d = stg_disputes
    sel = sa.select(
        *row(
            kind,
            key(kind, ("dispute", d.c.dispute_id)),
            payment_id=d.c.payment_id,
            dispute_id=d.c.dispute_id,
            action_id=d.c.payment_action_id,
            currency=d.c.currency,
            expected_minor=sa.literal(0),
            actual_minor=d.c.amount_minor,
            detail=sa.literal("Chargeback ")
            + d.c.status
            + sa.func.coalesce(sa.literal(", reason ") + d.c.reason_code, ""),
        )
    ).where(ctx.in_scope("disputes", d.c.dispute_id), d.c.status.in_(statuses))
    return add(ctx, sel)


def chargeback_open(ctx: Ctx) -> int:
    return _chargebacks(ctx, "chargeback_open", OPEN_DISPUTE_STATUSES)


def chargeback_lost(ctx: Ctx) -> int:
    return _chargebacks(ctx, "chargeback_lost", LOST_DISPUTE_STATUSES)


def line_sums() -> sa.Select[Any]:
    """Σ e8 and the number of lines per payout id and line currency."""
    fa, fap = stg_financial_actions, stg_financial_action_payouts
    on = sa.and_(fa.c.processed_on == fap.c.processed_on, fa.c.line_key == fap.c.line_key)
    return (
        sa.select(
            fap.c.payout_id,
            fa.c.holding_currency,
            sa.cast(sa.func.sum(fa.c.holding_amount_e8), sa.BigInteger).label("e8"),
            sa.func.count().label("lines"),
        )
        .select_from(fap.join(fa, on))
        .group_by(fap.c.payout_id, fa.c.holding_currency)
    )


def payout_sums(ctx: Ctx) -> sa.Select[Any]:
    """Per payout of the run and line currency: Σ e8 and the number of lines.

    The lines are summed per payout into an analysed scratch table first and joined to
    ``stg_payouts`` after: in one statement PostgreSQL estimates the two-column line join at one
    row and loops (seconds per hundred thousand lines instead of a fraction of one). A full run
    on PostgreSQL summed them on its second connection already (reconcile/inputs.py)."""
    p = stg_payouts
    per = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_payout_sums",
        sa.Column("payout_id", sa.Text()),
        sa.Column("holding_currency", sa.Text()),
        # An integer, not Numeric: SQLAlchemy reads a SQLite Numeric through a float, which
        # loses the last digits of a large e8 sum and could flip the half-even rounding.
        sa.Column("e8", sa.BigInteger()),
        sa.Column("lines", sa.BigInteger()),
    )
    summed = ctx.wait_for("payout_line_sums")
    if summed is not None:
        if summed:
            names = [c.name for c in per.c]
            ctx.conn.execute(per.insert(), [dict(zip(names, r, strict=True)) for r in summed])
    else:
        _sum_lines(ctx, per)
    sqlbits.analyze(ctx.conn, per)
    return (
        sa.select(
            p.c.payout_id,
            p.c.currency,
            p.c.payout_amount_minor,
            p.c.merchant_payout_fees_e8,
            per.c.holding_currency,
            per.c.e8,
            per.c.lines,
        )
        .select_from(p.outerjoin(per, per.c.payout_id == p.c.payout_id))
        .where(ctx.in_scope("payouts", p.c.payout_id))
        .order_by(p.c.payout_id)
    )


def _sum_lines(ctx: Ctx, per: sa.Table) -> None:
    sums, fap = line_sums(), stg_financial_action_payouts
    # All payouts' lines when many payouts are compared: restricted to the scope, PostgreSQL
    # probes the line key index once per line (1.7 s) where one hash join over all lines takes
    # 0.25 s (100k orders). An incremental run comparing no payout sums nothing, and one
    # comparing a few sums only their lines (found through the payout id's index).
    scoped = _scoped_share(ctx)
    if scoped is not None and scoped < _FEW_PAYOUTS:
        sums = sums.where(ctx.in_scope("payouts", fap.c.payout_id))
    if scoped != 0.0:
        with sqlbits.hash_aggregates(ctx.conn):
            sqlbits.fill(ctx.conn, per, sums)


#: Below this share of all payouts in an incremental run's scope, only their lines are summed.
_FEW_PAYOUTS = 0.1


def _scoped_share(ctx: Ctx) -> float | None:
    """The share of all payouts an incremental run compares (None: a full run, all of them)."""
    if ctx.scope is None:
        return None
    scoped = sqlbits.count(ctx.conn, ctx.scope["payouts"])
    if scoped == 0:
        return 0.0
    return scoped / max(sqlbits.count(ctx.conn, stg_payouts), 1)


def payout_mismatch(ctx: Ctx) -> int:
    sums: dict[str, dict[str, Any]] = {}
    for payout_id, ccy, amount, fee_e8, line_ccy, e8, lines in ctx.conn.execute(payout_sums(ctx)):
        # Checkout.com's payout fee (negative) is taken from the payout with no line for it.
        s = sums.setdefault(
            payout_id, {"ccy": ccy, "amount": amount, "e8": int(fee_e8 or 0), "other": 0, "lines": 0}
        )
        if line_ccy is None:
            continue
        s["lines"] += int(lines)
        if line_ccy == ccy:
            s["e8"] += int(e8)
        else:
            s["other"] += int(lines)
    rows: list[dict[str, Any]] = []
    for payout_id, s in sums.items():
        try:
            total: int | None = e8_to_minor(s["e8"], s["ccy"])
        except MoneyError:
            total = None
        reason = _payout_reason(total, s["amount"], s["other"], s["lines"])
        if reason is None:
            continue
        rows.append(
            {
                "exception_key": f"payout_mismatch:payout:{payout_id}",
                "kind": "payout_mismatch",
                "severity": KINDS["payout_mismatch"].severity,
                "payout_id": payout_id,
                "currency": s["ccy"],
                "expected_minor": s["amount"],
                "actual_minor": total,
                "detail": reason,
            }
        )
    return add_rows(ctx, rows)


def _payout_reason(total: int | None, amount: int, other: int, lines: int) -> str | None:
    if lines == 0:
        return "No financial-action line names this payout"
    if other:
        return f"{other} line(s) of the payout are in another currency than the payout"
    if total is None:
        return "The payout's currency is not an ISO 4217 currency with a minor unit"
    if total != amount:
        return "The payout's lines do not sum to its amount"
    return None


DETECTORS = (
    refund_not_executed,
    refund_not_requested,
    unsettled_capture,
    chargeback_open,
    chargeback_lost,
    payout_mismatch,
)
