"""Exceptions kept across runs: what this run found (``found``) merged into ``recon_exceptions``.

The life of an exception (docs/reconciliation.md "Across runs"), each step one set statement:

* new -> ``open`` (state_version 1, audit ``opened``);
* found again -> ``last_seen_at`` and the figures refreshed, status kept (an ``explained`` mark
  survives reruns), ``first_seen_at`` never changes;
* found again while ``explained`` in another currency, with a wider gap between expected and
  actual, or on the other side of it (short became over) -> ``open`` (``reopened``; the
  explanation was about the money it saw), state_version + 1;
* found again after it was ``resolved`` -> ``open`` (``reopened``; the explanation is cleared, it
  was about the earlier occurrence), state_version + 1;
* not found while ``open`` or ``explained`` -> ``resolved`` (``resolved_at`` = the run's as_of,
  audit ``resolved``), state_version + 1 -- in an incremental run only for subjects inside the
  run's scope (outside it, nothing was looked at, so nothing can be concluded).

Every status change appends exactly one ``recon_exception_events`` row, written before the
change from the same condition, so the audit trail and the table never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.found import FOUND_COLUMNS
from checkout_freshportal.warehouse.schema import recon_exception_events, recon_exceptions

ACTOR = "reconciliation"

#: The subject an exception of each kind is about: (scope subject, column of recon_exceptions).
KIND_SUBJECT: dict[str, tuple[str, str]] = {
    "missing_payment": ("orders", "order_id"),
    "amount_mismatch": ("orders", "order_id"),
    "unconfirmed_order_paid": ("orders", "order_id"),
    "currency_mismatch": ("orders", "order_id"),
    "duplicate_payment": ("orders", "order_id"),
    "over_refund": ("orders", "order_id"),
    "status_drift": ("orders", "order_id"),
    "orphan_payment": ("payments", "payment_id"),
    "payment_failed": ("payments", "payment_id"),
    "refund_not_requested": ("payments", "payment_id"),
    "unsettled_capture": ("payments", "payment_id"),
    "refund_not_executed": ("refund_requests", "refund_request_id"),
    "payout_mismatch": ("payouts", "payout_id"),
    "chargeback_open": ("disputes", "dispute_id"),
    "chargeback_lost": ("disputes", "dispute_id"),
}


@dataclass
class Changes:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    refreshed: int = 0


def _event(ctx: Ctx, sel_from: Any, where: Any, action: str, from_status: Any, to_status: str) -> int:
    e, ev = recon_exceptions, recon_exception_events
    sel = (
        sa.select(
            e.c.exception_id,
            sa.literal(ctx.as_of, ev.c.at.type).label("at"),
            sa.literal(ACTOR).label("actor"),
            sa.literal(action).label("action"),
            from_status.label("from_status"),
            sa.literal(to_status).label("to_status"),
            sa.literal(ctx.run_id).label("run_id"),
        )
        .select_from(sel_from)
        .where(where)
    )
    return sqlbits.fill(ctx.conn, ev, sel)


def _gap(t: Any) -> Any:
    """How far apart an exception's expected and actual amounts are (a missing one counts 0)."""
    return sa.func.abs(sa.func.coalesce(t.c.expected_minor, 0) - sa.func.coalesce(t.c.actual_minor, 0))


def _side(t: Any) -> Any:
    """1 when more was expected than found (short), -1 when less (over), 0 when they agree."""
    expected, actual = sa.func.coalesce(t.c.expected_minor, 0), sa.func.coalesce(t.c.actual_minor, 0)
    return sa.case((expected > actual, 1), (expected < actual, -1), else_=0)


def _figures(f: sa.Table) -> dict[str, Any]:
    return {name: f.c[name] for name, _ in FOUND_COLUMNS}


def merge(ctx: Ctx) -> Changes:
    e, f, conn = recon_exceptions, ctx.tmp["found"], ctx.conn
    ch = Changes()
    now = {"last_seen_at": ctx.as_of, "updated_at": ctx.as_of, "run_id": ctx.run_id}
    same_key = e.c.exception_key == f.c.exception_key

    # found again after it was resolved -> reopened
    was_resolved = sa.and_(e.c.status == "resolved", sa.exists().where(same_key))
    _event(ctx, e, was_resolved, "reopened", e.c.status, "open")
    ch.reopened = conn.execute(
        e.update()
        .where(same_key, e.c.status == "resolved")
        .values(
            status="open",
            resolved_at=None,
            explained_at=None,
            explained_by=None,
            explanation=None,
            state_version=e.c.state_version + 1,
            **_figures(f),
            **now,
        )
    ).rowcount
    # found again while explained, in another currency or with a wider gap between expected and
    # actual -> reopened: the explanation was given for the money it saw (a 0.01 write-off must
    # not hide a 40.01 shortfall found later under the same key); the event and the new
    # state_version tell FreshPortal and the reports, and the audit trail keeps the explanation.
    # A narrower gap (report lines still landing on a payout, a refund under way) keeps it.
    other_money = sa.or_(
        e.c.currency.is_distinct_from(f.c.currency),
        _gap(f) > _gap(e),
        _side(f) * _side(e) < 0,  # a shortfall turned into an excess, or back
    )
    money_changed = sa.and_(same_key, e.c.status == "explained", other_money)
    _event(
        ctx, e, sa.and_(e.c.status == "explained", sa.exists().where(same_key, other_money)), "reopened",
        e.c.status, "open",
    )  # fmt: skip
    ch.reopened += conn.execute(
        e.update()
        .where(money_changed)
        .values(
            status="open",
            explained_at=None,
            explained_by=None,
            explanation=None,
            state_version=e.c.state_version + 1,
            **_figures(f),
            **now,
        )
    ).rowcount
    # found again, open or explained -> figures refreshed, status kept
    ch.refreshed = conn.execute(
        e.update().where(same_key, e.c.status.in_(("open", "explained"))).values(**_figures(f), **now)
    ).rowcount
    ch.opened = _insert_new(ctx)
    ch.resolved = _resolve_missing(ctx)
    return ch


def _insert_new(ctx: Ctx) -> int:
    e, f, ev = recon_exceptions, ctx.tmp["found"], recon_exception_events
    # The new keys go to a scratch table first: ``INSERT INTO recon_exceptions ... WHERE NOT
    # EXISTS (SELECT FROM recon_exceptions)`` may be planned as a nested loop over the table it
    # grows (quadratic when the empty table was analysed).
    fresh = sqlbits.scratch(ctx.conn, "recon_tmp_new_keys", sa.Column("exception_key", sa.Text()))
    sqlbits.fill(
        ctx.conn,
        fresh,
        sa.select(f.c.exception_key).where(~sa.exists().where(e.c.exception_key == f.c.exception_key)),
    )
    sqlbits.analyze(ctx.conn, fresh)
    new = f.c.exception_key.in_(sa.select(fresh.c.exception_key))
    eid = sqlbits.exception_id_sql(f.c.exception_key)
    events = sa.select(
        eid.label("exception_id"),
        sa.literal(ctx.as_of, ev.c.at.type).label("at"),
        sa.literal(ACTOR).label("actor"),
        sa.literal("opened").label("action"),
        sa.null().cast(sa.Text).label("from_status"),
        sa.literal("open").label("to_status"),
        sa.literal(ctx.run_id).label("run_id"),
    ).where(new)
    sqlbits.fill(ctx.conn, ev, events)
    ts = e.c.first_seen_at.type
    rows = sa.select(
        eid.label("exception_id"),
        f.c.exception_key,
        f.c.kind,
        f.c.severity,
        sa.literal("open").label("status"),
        *[f.c[name] for name, _ in FOUND_COLUMNS],
        sa.literal(ctx.as_of, ts).label("first_seen_at"),
        sa.literal(ctx.as_of, ts).label("last_seen_at"),
        sa.literal(1).label("state_version"),
        sa.literal(ctx.as_of, ts).label("updated_at"),
        sa.literal(ctx.run_id).label("run_id"),
    ).where(new)
    return sqlbits.fill(ctx.conn, e, rows)


def _in_scope(ctx: Ctx) -> Any:
    """The exception's subject is inside this run's scope (always, in a full run)."""
    e = recon_exceptions
    if not ctx.incremental:
        return sa.true()
    by_kind = []
    for kind, (subject, column) in KIND_SUBJECT.items():
        by_kind.append(sa.and_(e.c.kind == kind, ctx.in_scope(subject, e.c[column])))
    return sa.or_(*by_kind)


def _resolve_missing(ctx: Ctx) -> int:
    e, f = recon_exceptions, ctx.tmp["found"]
    gone = sa.and_(
        e.c.status.in_(("open", "explained")),
        ~sa.exists().where(f.c.exception_key == e.c.exception_key),
        _in_scope(ctx),
    )
    _event(ctx, e, gone, "resolved", e.c.status, "resolved")
    return ctx.conn.execute(
        e.update()
        .where(gone)
        .values(
            status="resolved",
            resolved_at=ctx.as_of,
            state_version=e.c.state_version + 1,
            updated_at=ctx.as_of,
            run_id=ctx.run_id,
        )
    ).rowcount
