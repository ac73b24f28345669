"""``headline(engine, as_of)``: the report's headline figures per currency, for callers that want
the numbers without the files (``make demo`` prints them, the DAG logs them).

The same query as the report's first section (reports/queries.py), so the demo, the log and the
page never disagree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from checkout_freshportal.reports.queries import CurrencyHeadline, headlines, latest_run
from checkout_freshportal.reports.sqlparts import major_text
from checkout_freshportal.timeutil import utcnow

__all__ = ["CurrencyHeadline", "headline", "headline_lines"]


def headline(
    engine: Engine, as_of: datetime | None = None, run_id: str | None = None
) -> list[CurrencyHeadline]:
    """Headline figures per currency of run ``run_id`` (default: the newest succeeded run at or
    before ``as_of``); gross, fees and payouts up to ``as_of`` (default: that run's as_of, else now)."""
    with engine.connect() as conn:
        run = latest_run(conn, as_of, run_id)
        at = as_of or (run.as_of if run else utcnow())
        return headlines(conn, at, run)


def headline_lines(rows: list[CurrencyHeadline]) -> list[str]:
    """One line per currency for a terminal: exact amounts in major units."""
    out = []
    for h in rows:
        c = h.currency
        rate = "-" if h.match_rate_amount is None else f"{h.match_rate_amount}%"
        out.append(
            f"{c}: {h.orders} orders {major_text(h.ordered_minor, c)}, matched {h.orders_matched} "
            f"({major_text(h.matched_minor, c)}, {rate} by amount), paid {major_text(h.paid_minor, c)}, "
            f"refunded {major_text(h.refunded_minor, c)}, chargebacks {major_text(h.chargeback_minor, c)}, "
            f"open exceptions {h.open_exceptions}, gross {major_text(h.gross_minor, c)}, "
            f"fees {major_text(h.fees_total_minor, c)}, paid out {major_text(h.paid_out_minor, c)}"
        )
    return out
