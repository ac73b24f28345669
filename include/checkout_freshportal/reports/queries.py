"""Report queries, part 1: the run, headline figures, match rate over time, exceptions by kind
and age, data quality. SQL aggregates in the warehouse; Python receives small typed rows.

Every figure here is read from tables reconciliation (``recon_*``) or ingestion (``stg_*``)
wrote; nothing is recomputed differently from reconciliation, so the report and the exceptions
never disagree (docs/reports.md says where each figure comes from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.logsafe import mask_text
from checkout_freshportal.reconcile.fees import CATEGORIES, FEE_CATEGORIES, fee_category_sql
from checkout_freshportal.reports.sqlparts import (
    BUCKET_LABELS,
    age_bucket,
    day_of,
    minor_from_e8,
)
from checkout_freshportal.warehouse.schema import recon, stg

#: The fee Checkout.com deducts from each payout (Payouts report "Merchant Payout Fees"): shown
#: as one more fee category, after those of reconcile/fees.py.
PAYOUT_FEE = "payout_fee"


@dataclass(frozen=True)
class RunInfo:
    """The reconciliation run a report describes (``None`` fields before any run)."""

    run_id: str
    as_of: datetime
    mode: str
    status: str
    dq_status: str | None
    finished_at: datetime | None


@dataclass
class CurrencyHeadline:
    """Headline figures of one currency; amounts are integer minor units of ``currency``."""

    currency: str
    orders: int = 0  # confirmed orders in scope (latest run)
    orders_matched: int = 0  # confirmed orders fully paid through a confirmed match
    ordered_minor: int = 0
    matched_minor: int = 0
    paid_minor: int = 0  # captured (latest run)
    refunded_minor: int = 0
    chargeback_minor: int = 0
    open_exceptions: int = 0
    gross_minor: int = 0  # financial-action lines of category gross (settled captures - refunds)
    fees_minor: dict[str, int] = field(default_factory=dict)  # fee category -> signed sum (< 0: cost)
    fees_total_minor: int = 0
    # Every other category of lines (chargebacks, reserve, deposits, top ups, ...): not a fee,
    # but money that moved through the balance, so gross + fees + these = what the lines net to.
    movements_minor: dict[str, int] = field(default_factory=dict)
    paid_out_minor: int = 0  # Σ payouts up to as_of
    payouts: int = 0

    @property
    def match_rate_count(self) -> Decimal | None:
        return _rate(self.orders_matched, self.orders)

    @property
    def match_rate_amount(self) -> Decimal | None:
        return _rate(self.matched_minor, self.ordered_minor)


def _rate(part: int, whole: int) -> Decimal | None:
    """Percent with one decimal, exact (Decimal), None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def latest_run(conn: Connection, as_of: datetime | None = None, run_id: str | None = None) -> RunInfo | None:
    """The run ``run_id``, else the newest succeeded run at or before ``as_of`` (any time if None)."""
    r = recon.recon_runs
    q = sa.select(r.c.run_id, r.c.as_of, r.c.mode, r.c.status, r.c.dq_status, r.c.finished_at)
    if run_id is not None:
        q = q.where(r.c.run_id == run_id)
    else:
        q = q.where(r.c.status == "succeeded")
        if as_of is not None:
            q = q.where(r.c.as_of <= as_of)
    row = conn.execute(q.order_by(r.c.as_of.desc(), r.c.started_at.desc()).limit(1)).first()
    return RunInfo(*row) if row is not None else None


def headlines(conn: Connection, as_of: datetime, run: RunInfo | None) -> list[CurrencyHeadline]:
    """Headline figures per currency, sorted by currency code.

    Order, match, capture, refund, chargeback and open-exception figures are the run's
    ``recon_run_totals``; gross and fees are the financial-action lines processed up to
    ``as_of``; paid out is the payouts dated up to ``as_of``.
    """
    out: dict[str, CurrencyHeadline] = {}

    def get(ccy: str) -> CurrencyHeadline:
        return out.setdefault(ccy, CurrencyHeadline(currency=ccy))

    if run is not None:
        t = recon.recon_run_totals
        for r in conn.execute(sa.select(t).where(t.c.run_id == run.run_id)):
            h = get(r.currency)
            h.orders, h.orders_matched = int(r.orders), int(r.orders_matched)
            h.ordered_minor, h.matched_minor = int(r.ordered_minor), int(r.matched_minor)
            h.paid_minor, h.refunded_minor = int(r.captured_minor), int(r.refunded_minor)
            h.chargeback_minor, h.open_exceptions = int(r.chargeback_minor), int(r.open_exceptions)
    for ccy, cat, total_e8 in _category_sums(conn, as_of):
        h = get(ccy)
        minor = minor_from_e8(total_e8, ccy)
        if cat == "gross":
            h.gross_minor += minor
        elif cat in FEE_CATEGORIES:
            h.fees_minor[cat] = h.fees_minor.get(cat, 0) + minor
            h.fees_total_minor += minor
        else:
            h.movements_minor[cat] = h.movements_minor.get(cat, 0) + minor
    p = stg.stg_payouts
    q = (
        sa.select(
            p.c.currency,
            sa.func.count(),
            sa.func.sum(p.c.payout_amount_minor),
            sa.func.sum(p.c.merchant_payout_fees_minor),
        )
        .where(p.c.payout_date <= as_of.date())
        .group_by(p.c.currency)
    )
    for ccy, n, total, payout_fees in conn.execute(q):
        h = get(ccy)
        h.payouts, h.paid_out_minor = int(n), int(total or 0)
        if payout_fees:  # Checkout.com's fee per payout: no financial-action line, a fee all the same
            h.fees_minor[PAYOUT_FEE] = int(payout_fees)
            h.fees_total_minor += int(payout_fees)
    return [out[k] for k in sorted(out)]


def _category_sums(conn: Connection, as_of: datetime) -> list[tuple[str, str, int]]:
    """(holding currency, fee category, Σ exact e8) of every line processed up to ``as_of``."""
    lines = stg.financial_action_lines().subquery()
    cat = fee_category_sql(lines.c.action_type, lines.c.breakdown_type).label("category")
    q = (
        sa.select(lines.c.holding_currency, cat, sa.func.sum(lines.c.holding_amount_e8))
        .where(lines.c.processed_on <= as_of)
        .group_by(lines.c.holding_currency, cat)
    )
    return [(c, k, int(s or 0)) for c, k, s in conn.execute(q)]


@dataclass(frozen=True)
class MatchRatePoint:
    """One run's match figures in one currency ("match rate over time")."""

    run_id: str
    as_of: datetime
    currency: str
    orders: int
    orders_matched: int
    ordered_minor: int
    matched_minor: int

    @property
    def rate_count(self) -> Decimal | None:
        return _rate(self.orders_matched, self.orders)

    @property
    def rate_amount(self) -> Decimal | None:
        return _rate(self.matched_minor, self.ordered_minor)


def match_rate_history(conn: Connection, as_of: datetime, days: int) -> list[MatchRatePoint]:
    """The last succeeded run of each UTC day in the ``days`` days up to ``as_of``, oldest first.

    One point per day, not per run: the DAG also runs whenever an input table changes (a dozen
    times on a busy day), and a count of runs would show hours, not months. The day's last run is
    the figure that day ended with.
    """
    r, t = recon.recon_runs, recon.recon_run_totals
    day = day_of(r.c.as_of, conn.dialect.name)
    ranked = (
        sa.select(
            r.c.run_id,
            sa.func.row_number()
            .over(partition_by=day, order_by=(r.c.as_of.desc(), r.c.run_id.desc()))
            .label("nth"),
        )
        .where(r.c.status == "succeeded", r.c.as_of <= as_of, r.c.as_of > as_of - timedelta(days=days))
        .subquery()
    )
    q = (
        sa.select(t.c.run_id, t.c.as_of, t.c.currency, t.c.orders, t.c.orders_matched)
        .add_columns(t.c.ordered_minor, t.c.matched_minor)
        .where(t.c.run_id.in_(sa.select(ranked.c.run_id).where(ranked.c.nth == 1)))
        .order_by(t.c.as_of, t.c.run_id, t.c.currency)
    )
    return [
        MatchRatePoint(a, b, c, int(d), int(e), int(f), int(g)) for a, b, c, d, e, f, g in conn.execute(q)
    ]


@dataclass
class KindSummary:
    """Exceptions of one kind by status, and the open ones by age bucket (counts)."""

    kind: str
    severity: str
    open: int = 0
    explained: int = 0
    resolved: int = 0
    open_by_age: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKET_LABELS, 0))


def exceptions_by_kind(conn: Connection, as_of: datetime) -> list[KindSummary]:
    """Counts per kind and status; open ones by age (``first_seen`` to ``as_of``); most severe first."""
    e = recon.recon_exceptions
    out: dict[str, KindSummary] = {}
    q = sa.select(e.c.kind, e.c.severity, e.c.status, sa.func.count()).group_by(
        e.c.kind, e.c.severity, e.c.status
    )
    for kind, sev, status, n in conn.execute(q):
        ks = out.setdefault(kind, KindSummary(kind, sev))
        if status in ("open", "explained", "resolved"):
            setattr(ks, status, getattr(ks, status) + int(n))
    bucket = age_bucket(e.c.first_seen_at, as_of).label("bucket")
    q2 = sa.select(e.c.kind, bucket, sa.func.count()).where(e.c.status == "open").group_by(e.c.kind, bucket)
    for kind, label, n in conn.execute(q2):
        if kind in out:
            out[kind].open_by_age[label] += int(n)
    rank = {"high": 0, "medium": 1, "low": 2, "info": 3}
    return sorted(out.values(), key=lambda k: (rank.get(k.severity, 9), -k.open, k.kind))


@dataclass(frozen=True)
class DqResult:
    check_name: str
    table_name: str
    severity: str
    success: bool
    unexpected_count: int | None
    observed: str | None


@dataclass
class DqSummary:
    run_id: str | None
    failed_critical: list[DqResult]
    warnings: list[DqResult]
    passed: list[DqResult]


def dq_results(conn: Connection, run: RunInfo | None) -> DqSummary:
    """The data-quality checks of the run: failed critical, failed warnings, passed."""
    out = DqSummary(run.run_id if run else None, [], [], [])
    if run is None:
        return out
    d = recon.recon_dq_results
    q = (
        sa.select(
            d.c.check_name, d.c.table_name, d.c.severity, d.c.success, d.c.unexpected_count, d.c.observed
        )
        .where(d.c.run_id == run.run_id)
        .order_by(d.c.table_name, d.c.check_name)
    )
    for r in conn.execute(q):
        # ``observed`` quotes what a check found (ids, statuses): masked like every free text
        observed = None if r[5] is None else mask_text(r[5])
        res = DqResult(r[0], r[1], r[2], bool(r[3]), None if r[4] is None else int(r[4]), observed)
        if res.success:
            out.passed.append(res)
        elif res.severity == "critical":
            out.failed_critical.append(res)
        else:
            out.warnings.append(res)
    return out


def open_exception_orders(conn: Connection, limit: int) -> list[str]:
    """Order numbers with open exceptions, most severe then oldest first (the traced orders)."""
    e = recon.recon_exceptions
    rank = sa.case(
        (e.c.severity == "high", 0), (e.c.severity == "medium", 1), (e.c.severity == "low", 2), else_=3
    )
    q = (
        sa.select(e.c.order_number)
        .where(e.c.status == "open", e.c.order_number.is_not(None))
        .group_by(e.c.order_number)
        .order_by(sa.func.min(rank), sa.func.min(e.c.first_seen_at), e.c.order_number)
        .limit(limit)
    )
    return [r[0] for r in conn.execute(q)]


def category_order() -> list[str]:
    """Every category in the order the report shows them (reconcile/fees.py, then the payout fee)."""
    return [*CATEGORIES, PAYOUT_FEE]
