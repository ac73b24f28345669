"""Report queries, part 3: the row-level tables behind the exports (exceptions, matches),
streamed from the warehouse one batch at a time so an export never holds a whole table.

Free text (an exception's detail, an explanation) went through reconciliation without PII, and
is masked once more here (e-mail addresses, card-number-shaped digits): an export leaves the
warehouse, so it gets a second guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.logsafe import mask_text
from checkout_freshportal.reports.sqlparts import severity_rank
from checkout_freshportal.warehouse.schema import recon, stg

STREAM = {"stream_results": True, "yield_per": 2000}


@dataclass(frozen=True)
class ExceptionRow:
    exception_id: str
    kind: str
    severity: str
    status: str
    order_number: str | None
    order_id: str | None
    payment_id: str | None
    payout_id: str | None
    action_id: str | None
    dispute_id: str | None
    refund_request_id: str | None
    currency: str | None
    expected_minor: int | None
    actual_minor: int | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    explained_by: str | None
    explanation: str | None
    detail: str | None
    age_days: int  # open/explained: first seen to as_of; resolved: first seen to resolution


def _exception_query(statuses: tuple[str, ...] | None) -> sa.Select[Any]:
    e = recon.recon_exceptions
    q = sa.select(
        e.c.exception_id,
        e.c.kind,
        e.c.severity,
        e.c.status,
        e.c.order_number,
        e.c.order_id,
        e.c.payment_id,
        e.c.payout_id,
        e.c.action_id,
        e.c.dispute_id,
        e.c.refund_request_id,
        e.c.currency,
        e.c.expected_minor,
        e.c.actual_minor,
        e.c.first_seen_at,
        e.c.last_seen_at,
        e.c.resolved_at,
        e.c.explained_by,
        e.c.explanation,
        e.c.detail,
    )
    if statuses is not None:
        q = q.where(e.c.status.in_(statuses))
    status_rank = sa.case((e.c.status == "open", 0), (e.c.status == "explained", 1), else_=2)
    return q.order_by(status_rank, severity_rank(e.c.severity), e.c.first_seen_at, e.c.exception_key)


def _exception_row(r: Any, as_of: datetime) -> ExceptionRow:
    end = r.resolved_at if r.status == "resolved" and r.resolved_at is not None else as_of
    age = max(0, (end - r.first_seen_at).days)
    m = r._mapping
    return ExceptionRow(
        exception_id=m["exception_id"],
        kind=m["kind"],
        severity=m["severity"],
        status=m["status"],
        order_number=m["order_number"],
        order_id=m["order_id"],
        payment_id=m["payment_id"],
        payout_id=m["payout_id"],
        action_id=m["action_id"],
        dispute_id=m["dispute_id"],
        refund_request_id=m["refund_request_id"],
        currency=m["currency"],
        expected_minor=_int(m["expected_minor"]),
        actual_minor=_int(m["actual_minor"]),
        first_seen=m["first_seen_at"],
        last_seen=m["last_seen_at"],
        resolved_at=m["resolved_at"],
        explained_by=m["explained_by"],
        explanation=mask_text(m["explanation"]) if m["explanation"] else None,
        detail=mask_text(m["detail"]) if m["detail"] else None,
        age_days=age,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def iter_exceptions(
    conn: Connection, as_of: datetime, statuses: tuple[str, ...] | None = None, limit: int | None = None
) -> Iterator[ExceptionRow]:
    """Exceptions, open first, then most severe and oldest first; streamed."""
    q = _exception_query(statuses)
    if limit is not None:
        q = q.limit(limit)
    for r in conn.execution_options(**STREAM).execute(q):
        yield _exception_row(r, as_of)


@dataclass(frozen=True)
class MatchRow:
    order_id: str
    order_number: str | None
    payment_id: str
    rule: str
    confirmed: bool
    match_group: str
    order_currency: str | None
    order_minor: int | None
    payment_currency: str | None
    payment_minor: int | None
    captured_minor: int | None
    refunded_minor: int | None
    payment_status: str | None
    first_matched_at: datetime


def _match_query() -> sa.Select[Any]:
    m, o, p, a = recon.recon_matches, stg.stg_orders, stg.stg_payments, stg.stg_payment_actions
    approved = sa.and_(a.c.approved.is_(True))
    sums = (
        sa.select(
            a.c.payment_id,
            sa.func.sum(
                sa.case((sa.and_(approved, a.c.action_type == "Capture"), a.c.amount_minor), else_=0)
            ).label("cap"),
            sa.func.sum(
                sa.case((sa.and_(approved, a.c.action_type == "Refund"), a.c.amount_minor), else_=0)
            ).label("ref"),
        )
        .group_by(a.c.payment_id)
        .subquery()
    )
    return (
        sa.select(
            m.c.order_id,
            sa.func.coalesce(m.c.order_number, o.c.order_number),
            m.c.payment_id,
            m.c.rule,
            m.c.confirmed,
            m.c.match_group,
            o.c.currency,
            o.c.amount_minor,
            p.c.currency,
            p.c.amount_minor,
            sa.func.coalesce(p.c.total_captured_minor, sums.c.cap),
            sa.func.coalesce(p.c.total_refunded_minor, sums.c.ref),
            p.c.status,
            m.c.first_matched_at,
        )
        .select_from(
            m.outerjoin(o, o.c.order_id == m.c.order_id)
            .outerjoin(p, p.c.payment_id == m.c.payment_id)
            .outerjoin(sums, sums.c.payment_id == m.c.payment_id)
        )
        .order_by(m.c.match_group, m.c.order_id, m.c.payment_id)
    )


def iter_matches(conn: Connection) -> Iterator[MatchRow]:
    """Every order-payment match (confirmed and suggested), by match group; streamed.

    Captured/refunded are the payment's balances, else the sum of its approved actions: the
    same rule as reconciliation's ``captured(p)`` and ``refunded(p)``.
    """
    for r in conn.execution_options(**STREAM).execute(_match_query()):
        vals = list(r)
        for i in (7, 9, 10, 11):
            vals[i] = None if vals[i] is None else int(vals[i])
        vals[4] = bool(vals[4])
        yield MatchRow(*vals)
