"""Report queries, part 2: payouts with their breakdown, cash on its way (captured, not yet paid
out), the capture-to-payout lag, and payment failures for risk control.

Payout lines are summed exactly (``holding_amount_e8``) per category in the warehouse and
rounded half-even to minor units once per sum, as the payout tie-out does (reconcile/).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.reconcile.fees import CATEGORIES, fee_category_sql
from checkout_freshportal.reports.queries import PAYOUT_FEE
from checkout_freshportal.reports.sqlparts import (
    BUCKET_LABELS,
    age_bucket,
    day_of,
    day_text,
    days_between,
    minor_from_e8,
)
from checkout_freshportal.warehouse.schema import ops, stg

STREAM = {"stream_results": True, "yield_per": 2000}


@dataclass
class PayoutRow:
    """One payout and its lines; amounts in minor units of the payout's currency."""

    payout_id: str
    payout_date: date
    currency: str
    payout_minor: int
    lines_minor: int  # Σ lines in the payout's currency, exact then rounded half-even
    line_count: int
    other_currency_lines: int  # lines of another currency (a payout_mismatch)
    by_category: dict[str, int] = field(default_factory=dict)  # lines by category, and the payout fee
    # Checkout.com's fee for making the payout (Payouts report "Merchant Payout Fees", negative):
    # deducted from the payout but not a financial-action line (docs/sandbox.md, payout ids).
    payout_fee_minor: int = 0
    # Σ lines + payout fee, summed exactly in e8 and rounded once (half-even at the currency's
    # exponent): the payout tie-out's own figure (reconcile/detect_money.py). Rounding lines and
    # fee separately can differ by a minor unit and show a difference the engine does not see.
    lines_and_fee_minor: int = 0

    @property
    def difference_minor(self) -> int:
        """Paid out minus what lines and payout fee add up to: 0 when the payout ties out."""
        return self.payout_minor - self.lines_and_fee_minor


def _payout_query(as_of: datetime) -> sa.Select[Any]:
    lines = stg.financial_action_lines().subquery()
    p = stg.stg_payouts
    cat = fee_category_sql(lines.c.action_type, lines.c.breakdown_type)
    same = lines.c.holding_currency == p.c.currency
    e8 = lines.c.holding_amount_e8
    agg = (
        sa.select(
            lines.c.payout_id.label("payout_id"),
            sa.func.count().label("n"),
            sa.func.sum(sa.case((same, 0), else_=1)).label("other_ccy"),
            sa.func.sum(sa.case((same, e8), else_=0)).label("total_e8"),
            *[
                sa.func.sum(sa.case((sa.and_(same, cat == c), e8), else_=0)).label(f"c_{c}")
                for c in CATEGORIES
            ],
        )
        .select_from(lines.join(p, p.c.payout_id == lines.c.payout_id))
        .group_by(lines.c.payout_id)
        .subquery()
    )
    return (
        sa.select(
            p.c.payout_id,
            p.c.payout_date,
            p.c.currency,
            p.c.payout_amount_minor,
            p.c.merchant_payout_fees_minor,
            p.c.merchant_payout_fees_e8,
        )
        .add_columns(*[c for c in agg.c if c.name != "payout_id"])
        .select_from(p.outerjoin(agg, agg.c.payout_id == p.c.payout_id))
        .where(p.c.payout_date <= as_of.date())
        .order_by(p.c.payout_date.desc(), p.c.payout_id)
    )


def _payout_row(r: Any) -> PayoutRow:
    m = r._mapping
    ccy = m["currency"]
    cats = {c: minor_from_e8(m[f"c_{c}"], ccy) for c in CATEGORIES if m[f"c_{c}"]}
    fee = int(m["merchant_payout_fees_minor"] or 0)
    fee_e8 = int(m["merchant_payout_fees_e8"] or 0)  # as the engine: a missing fee is none
    return PayoutRow(
        payout_id=m["payout_id"],
        payout_date=m["payout_date"],
        currency=ccy,
        payout_minor=int(m["payout_amount_minor"]),
        lines_minor=minor_from_e8(m["total_e8"], ccy),
        line_count=int(m["n"] or 0),
        other_currency_lines=int(m["other_ccy"] or 0),
        by_category={**cats, **({PAYOUT_FEE: fee} if fee else {})},
        payout_fee_minor=fee,
        lines_and_fee_minor=minor_from_e8(int(m["total_e8"] or 0) + fee_e8, ccy),
    )


def payouts(conn: Connection, as_of: datetime, limit: int | None = None) -> list[PayoutRow]:
    """The newest ``limit`` payouts dated up to ``as_of``, newest first, with their breakdown."""
    q = _payout_query(as_of)
    if limit is not None:
        q = q.limit(limit)
    return [_payout_row(r) for r in conn.execute(q)]


def iter_payouts(conn: Connection, as_of: datetime) -> Iterator[PayoutRow]:
    """Every payout up to ``as_of``, streamed (payouts.csv)."""
    for r in conn.execution_options(**STREAM).execute(_payout_query(as_of)):
        yield _payout_row(r)


def _captures(as_of: datetime) -> tuple[Any, sa.Subquery]:
    """Approved captures processed up to ``as_of`` and, per action id, its earliest payout date."""
    a = stg.stg_payment_actions
    lines = stg.financial_action_lines().subquery()
    p = stg.stg_payouts
    # A line naming a payout puts its action in that payout (as for unsettled_capture), even
    # before the payout's own row is loaded (its date, and so the lag, is then unknown).
    paid = (
        sa.select(lines.c.action_id, sa.func.min(p.c.payout_date).label("payout_date"))
        .select_from(lines.outerjoin(p, p.c.payout_id == lines.c.payout_id))
        .where(lines.c.payout_id.is_not(None))
        .group_by(lines.c.action_id)
        .subquery()
    )
    where = sa.and_(
        a.c.action_type == "Capture",
        a.c.approved.is_(True),
        a.c.processed_on.is_not(None),
        a.c.processed_on <= as_of,
    )
    return where, paid


@dataclass
class CashPosition:
    """Captured money of one currency not yet in a payout, by capture age; and the observed lag."""

    currency: str
    captures: int = 0
    amount_minor: int = 0
    by_age_minor: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKET_LABELS, 0))
    by_age_count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKET_LABELS, 0))
    lag_samples: int = 0  # captures already paid out, behind the lag figures
    lag_median_days: int | None = None
    lag_p90_days: int | None = None


def cash_position(conn: Connection, as_of: datetime) -> list[CashPosition]:
    """Per currency: captures with no payout yet (by age) and the capture-to-payout lag."""
    a = stg.stg_payment_actions
    where, paid = _captures(as_of)
    out: dict[str, CashPosition] = {}
    bucket = age_bucket(a.c.processed_on, as_of).label("bucket")
    q = (
        sa.select(a.c.currency, bucket, sa.func.count(), sa.func.sum(a.c.amount_minor))
        .select_from(a.outerjoin(paid, paid.c.action_id == a.c.action_id))
        .where(where, sa.or_(paid.c.action_id.is_(None), paid.c.payout_date > as_of.date()))
        .group_by(a.c.currency, bucket)
    )
    for ccy, label, n, total in conn.execute(q):
        cp = out.setdefault(ccy or "", CashPosition(ccy or ""))
        cp.captures += int(n)
        cp.amount_minor += int(total or 0)
        cp.by_age_minor[label] += int(total or 0)
        cp.by_age_count[label] += int(n)
    lag = days_between(paid.c.payout_date, a.c.processed_on, conn.dialect.name).label("lag")
    q2 = (
        sa.select(a.c.currency, lag, sa.func.count())
        .select_from(a.join(paid, paid.c.action_id == a.c.action_id))
        .where(where, paid.c.payout_date <= as_of.date())
        .group_by(a.c.currency, lag)
    )
    hist: dict[str, list[tuple[int, int]]] = {}
    for ccy, days, n in conn.execute(q2):
        hist.setdefault(ccy or "", []).append((int(days), int(n)))
    for ccy, counts in hist.items():
        cp = out.setdefault(ccy, CashPosition(ccy))
        cp.lag_samples = sum(n for _, n in counts)
        cp.lag_median_days = percentile(counts, 50)
        cp.lag_p90_days = percentile(counts, 90)
    return [out[k] for k in sorted(out)]


def percentile(histogram: list[tuple[int, int]], pct: int) -> int | None:
    """Nearest-rank percentile of whole-day values given as (value, count) pairs.

    The smallest value whose cumulative count reaches ``ceil(pct% of n)``: always an observed
    lag, never interpolated (finance reads "90% of captures were paid out within N days").
    """
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    rank = max(1, -(-total * pct // 100))
    seen = 0
    for value, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return value
    return None  # pragma: no cover - unreachable: seen reaches total


@dataclass
class Declines:
    """Payment failures in the window, aggregated three ways and per day by response code."""

    since: datetime
    by_day_code: list[tuple[str, str, int]] = field(default_factory=list)  # (day, code, count)
    by_code: list[tuple[str, str, int]] = field(default_factory=list)  # (code, summary, count)
    by_card_type: list[tuple[str, int]] = field(default_factory=list)
    by_channel: list[tuple[str, int]] = field(default_factory=list)
    by_kind: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.by_kind)


def declines(conn: Connection, as_of: datetime, days: int) -> Declines:
    """Declines logged in ``ops_payment_declines`` over ``days`` days up to ``as_of``, joined to
    the payment for its card type and processing channel (never its card number)."""
    d, p = ops.ops_payment_declines, stg.stg_payments
    since = as_of - timedelta(days=days)
    when = sa.func.coalesce(d.c.occurred_at, d.c.first_seen_at)
    base = d.outerjoin(p, p.c.payment_id == d.c.payment_id)
    window = sa.and_(when > since, when <= as_of)
    code = sa.func.coalesce(d.c.response_code, sa.literal("(none)")).label("code")
    out = Declines(since=since)

    def grouped(*cols: Any) -> list[Any]:
        q = sa.select(*cols, sa.func.count()).select_from(base).where(window).group_by(*cols)
        return list(conn.execute(q))

    day = day_of(when, conn.dialect.name).label("day")
    out.by_day_code = sorted((day_text(dy), c, int(n)) for dy, c, n in grouped(day, code))
    summary = sa.func.max(d.c.response_summary)
    q = (
        sa.select(code, summary, sa.func.count())
        .select_from(base)
        .where(window)
        .group_by(code)
        .order_by(sa.func.count().desc(), code)
    )
    out.by_code = [(c, s or "", int(n)) for c, s, n in conn.execute(q)]
    ctype = sa.func.coalesce(p.c.card_type, p.c.source_type, sa.literal("(unknown)")).label("ctype")
    out.by_card_type = sorted(((t, int(n)) for t, n in grouped(ctype)), key=lambda x: (-x[1], x[0]))
    channel = sa.func.coalesce(p.c.processing_channel_id, sa.literal("(unknown)")).label("channel")
    out.by_channel = sorted(((c, int(n)) for c, n in grouped(channel)), key=lambda x: (-x[1], x[0]))
    out.by_kind = sorted(((k, int(n)) for k, n in grouped(d.c.kind)), key=lambda x: (-x[1], x[0]))
    return out
