"""The report's figures, on SQLite and PostgreSQL, against a warehouse planted by hand
(report_world.py says how each expected figure comes about)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import report_world as w
import sqlalchemy as sa

from checkout_freshportal.reports import queries, queries_money, queries_rows
from checkout_freshportal.reports.headline import headline, headline_lines
from checkout_freshportal.reports.queries_money import percentile
from checkout_freshportal.reports.sqlparts import bucket_of_days, major_display, major_text, minor_from_e8
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import recon, stg


@pytest.fixture
def engine(migrated_warehouse_url: str):
    eng = make_engine(migrated_warehouse_url)
    w.plant(eng)
    yield eng
    eng.dispose()


def test_headline_per_currency(engine: sa.Engine) -> None:
    rows = {h.currency: h for h in headline(engine, w.AS_OF)}
    assert sorted(rows) == ["EUR", "JPY", "KWD"]
    eur, jpy, kwd = rows["EUR"], rows["JPY"], rows["KWD"]
    # run-2 is the newest succeeded run (run-3 failed and is never the latest)
    assert (eur.orders, eur.orders_matched, eur.ordered_minor, eur.matched_minor) == (4, 3, 40000, 30050)
    assert (eur.paid_minor, eur.refunded_minor, eur.chargeback_minor, eur.open_exceptions) == (
        31050,
        1000,
        2500,
        2,
    )
    assert eur.match_rate_count == Decimal("75.0")
    assert eur.match_rate_amount == Decimal("75.1")
    # gross: 100.50 of po_eur_1 + 0.05 not yet paid out; fees rounded half-even per category
    assert eur.gross_minor == 10055
    assert eur.fees_minor == {
        "interchange": -123,
        "scheme": -20,
        "processing": -30,
        "minimum_billing_fee": -177,
        "payout_fee": -100,  # Merchant Payout Fees of the payout: no line, a fee all the same
    }
    assert eur.fees_total_minor == -450
    assert eur.movements_minor == {"reserve": -50}
    assert (eur.paid_out_minor, eur.payouts) == (9600, 1)  # the payout dated after as_of is left out
    assert (jpy.gross_minor, jpy.fees_minor, jpy.paid_out_minor) == (5000, {"interchange": -50}, 4900)
    assert jpy.match_rate_amount == Decimal("33.3")
    assert (kwd.orders_matched, kwd.matched_minor, kwd.payouts) == (1, 12345, 0)
    lines = headline_lines([eur, jpy, kwd])
    assert "matched 1 (12.345, 100.0% by amount)" in lines[2]
    assert "paid out 4900" in lines[1]
    assert "fees -4.50" in lines[0]


def test_history_exceptions_and_quality(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        run = queries.latest_run(conn, w.AS_OF)
        assert run is not None
        assert run.run_id == "run-2"
        assert queries.latest_run(conn, w.AS_OF, "run-1").run_id == "run-1"  # type: ignore[union-attr]
        hist = queries.match_rate_history(conn, w.AS_OF, 90)
        assert [(p.run_id, p.currency) for p in hist] == [  # one point per day and currency
            ("run-1", "EUR"),
            ("run-2", "EUR"),
            ("run-2", "JPY"),
            ("run-2", "KWD"),
        ]
        assert hist[0].rate_count == Decimal("50.0")
        assert [p.run_id for p in queries.match_rate_history(conn, w.AS_OF, 1)] == ["run-2"] * 3  # today
        kinds = {k.kind: k for k in queries.exceptions_by_kind(conn, w.AS_OF)}
        ages = {k: [b for b, n in v.open_by_age.items() if n] for k, v in kinds.items() if v.open}
        assert ages == {
            "missing_payment": ["0-2"],
            "amount_mismatch": ["3-7"],
            "payout_mismatch": ["8-30"],
            "status_drift": [">30"],
        }
        assert (kinds["orphan_payment"].explained, kinds["chargeback_lost"].resolved) == (1, 1)
        dq = queries.dq_results(conn, run)
        assert [r.check_name for r in dq.failed_critical] == ["actions_payment_fk"]
        assert [r.check_name for r in dq.warnings] == ["orders_freshness"]
        assert [r.check_name for r in dq.passed] == ["payments_unique_id"]
        # most severe, then oldest first: FP-1002 (high, 5 d), FP-1009 (high, 1 d), FP-1001 (low)
        assert queries.open_exception_orders(conn, 10) == ["FP-1002", "FP-1009", "FP-1001"]
        assert queries.open_exception_orders(conn, 1) == ["FP-1002"]


def test_payouts_cash_and_declines(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        pay = {p.payout_id: p for p in queries_money.payouts(conn, w.AS_OF)}
        assert list(pay) == ["po_eur_1", "po_jpy_1"]  # newest first, future one left out
        eur, jpy = pay["po_eur_1"], pay["po_jpy_1"]
        assert (eur.payout_minor, eur.lines_minor, eur.difference_minor, eur.line_count) == (9600, 9700, 0, 5)
        assert eur.by_category == {
            "gross": 10050,
            "interchange": -123,
            "scheme": -20,
            "processing": -30,
            "minimum_billing_fee": -177,  # the entity-level line, a category of its own
            "payout_fee": -100,
        }
        assert (jpy.lines_minor, jpy.difference_minor) == (4950, -50)
        assert [p.payout_id for p in queries_money.iter_payouts(conn, w.AS_OF)] == list(pay)
        cash = {c.currency: c for c in queries_money.cash_position(conn, w.AS_OF)}
        assert (cash["EUR"].captures, cash["EUR"].lag_median_days, cash["EUR"].lag_p90_days) == (0, 4, 4)
        assert cash["JPY"].by_age_minor == {"0-2": 777, "3-7": 0, "8-30": 0, ">30": 0}
        assert (cash["JPY"].lag_median_days, cash["JPY"].lag_samples) == (3, 1)
        assert cash["KWD"].by_age_minor == {"0-2": 0, "3-7": 12345, "8-30": 0, ">30": 1001}
        assert (cash["KWD"].amount_minor, cash["KWD"].lag_median_days) == (13346, None)
        dec = queries_money.declines(conn, w.AS_OF, 30)
        assert dec.total == 3  # the 45-day-old decline is outside the window
        assert [(c, n) for c, _, n in dec.by_code] == [("20051", 2), ("20005", 1)]
        assert dec.by_card_type == [("Debit", 2), ("Credit", 1)]
        assert dec.by_channel == [("pc_app", 2), ("pc_web", 1)]
        assert dec.by_day_code == [
            ("2026-03-29", "20005", 1),
            ("2026-03-29", "20051", 1),
            ("2026-03-30", "20051", 1),
        ]


def test_rows_are_masked_and_aged(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = list(queries_rows.iter_exceptions(conn, w.AS_OF))
        assert [r.status for r in rows] == ["open"] * 4 + ["explained", "resolved"]
        by_kind = {r.kind: r for r in rows}
        assert w.EMAIL not in (by_kind["missing_payment"].detail or "")
        assert w.PAN not in (by_kind["missing_payment"].detail or "")
        assert by_kind["chargeback_lost"].age_days == 4  # first seen to resolution, not to as_of
        assert by_kind["status_drift"].age_days == 45
        matches = {m.payment_id: m for m in queries_rows.iter_matches(conn)}
        # no balance on the JPY payment: captured is the sum of its approved captures
        assert matches["pay_jpy1"].captured_minor == 5777
        assert matches["pay_kwd1"].confirmed is False


def test_amount_text_and_percentiles() -> None:
    assert major_text(-1234567, "KWD") == "-1234.567"
    assert major_text(5000, "JPY") == "5000"
    assert major_text(5, "EUR") == "0.05"
    assert major_text(None, "EUR") == ""
    assert major_display(-123456789, "EUR") == "-1,234,567.89"
    assert major_display(-5, "EUR") == "-0.05"
    assert major_display(1000000, "JPY") == "1,000,000"
    assert [bucket_of_days(d) for d in (0, 2, 3, 7, 8, 30, 31)] == [
        "0-2",
        "0-2",
        "3-7",
        "3-7",
        "8-30",
        "8-30",
        ">30",
    ]
    assert percentile([], 50) is None
    assert percentile([(3, 1)], 90) == 3
    # ten captures: lags 1..10 days; nearest rank: median the 5th (5), p90 the 9th (9)
    hist = [(d, 1) for d in range(10, 0, -1)]
    assert (percentile(hist, 50), percentile(hist, 90)) == (5, 9)
    assert percentile([(1, 9), (30, 1)], 90) == 1
    assert percentile([(1, 8), (30, 2)], 90) == 30


def _succeeded_run(conn: sa.Connection, run_id: str, at: datetime) -> None:
    conn.execute(
        sa.insert(recon.recon_runs),
        {"run_id": run_id, "as_of": at, "mode": "incremental", "status": "succeeded",
         "started_at": at, "finished_at": at},
    )  # fmt: skip
    conn.execute(
        sa.insert(recon.recon_run_totals),
        {"run_id": run_id, "currency": "EUR", "as_of": at, "orders": 1, "orders_matched": 0,
         "ordered_minor": 1, "matched_minor": 0, "captured_minor": 0, "refunded_minor": 0,
         "chargeback_minor": 0, "open_exceptions": 1},
    )  # fmt: skip


def test_history_is_the_last_run_of_each_day_not_the_last_runs(engine: sa.Engine) -> None:
    """The DAG also runs on every input update: five runs on one day are one point, its last."""
    with engine.begin() as conn:
        for hour in (2, 3, 4, 5, 6):  # earlier the same day as run-2 (11:00)
            _succeeded_run(conn, f"busy-{hour}", w.AS_OF.replace(hour=hour))
        _succeeded_run(conn, "march-1", w.AS_OF.replace(day=1))  # exactly 30 days back
    with engine.connect() as conn:
        runs = [p.run_id for p in queries.match_rate_history(conn, w.AS_OF, 90)]
        assert runs == ["march-1", "run-1", "run-2", "run-2", "run-2"]  # busy-*: not the day's last
        # At 05:00 run-2 did not exist yet: 05:00's run was the last of that day so far.
        at_five = [p.run_id for p in queries.match_rate_history(conn, w.AS_OF.replace(hour=5), 90)]
        assert at_five == ["march-1", "run-1", "busy-5"]
        in_30_days = [p.run_id for p in queries.match_rate_history(conn, w.AS_OF, 30)]
        assert in_30_days == ["run-1", "run-2", "run-2", "run-2"]


def test_payout_difference_rounds_lines_and_fee_once_as_the_engine(engine: sa.Engine) -> None:
    """Lines 1.005 EUR and fee -0.015 EUR: 0.99 EUR exactly, so a 0.99 payout ties out (the
    engine's payout_mismatch agrees). Rounded apart (1.00 and -0.02) it showed a 0.01 difference."""
    line, paid = w._line("act_half", "Capture", "Gross", "pay_eur1", "EUR", 100_500_000, "po_half", w._t(10))
    with engine.begin() as conn:
        conn.execute(sa.insert(stg.stg_financial_actions), line)
        conn.execute(sa.insert(stg.stg_financial_action_payouts), paid)
        conn.execute(
            sa.insert(stg.stg_payouts),
            {"payout_id": "po_half", "currency": "EUR", "payout_date": date(2026, 3, 26),
             "payout_amount_e8": 99_000_000, "payout_amount_minor": 99,
             "merchant_payout_fees_e8": -1_500_000, "merchant_payout_fees_minor": -2,
             "source_file_id": "f", **w._bk()},
        )  # fmt: skip
    with engine.connect() as conn:
        half = {p.payout_id: p for p in queries_money.payouts(conn, w.AS_OF)}["po_half"]
    assert (half.payout_minor, half.lines_minor, half.payout_fee_minor) == (99, 100, -2)
    assert (half.lines_and_fee_minor, half.difference_minor) == (99, 0)


def test_an_unknown_currency_rounds_half_even_like_every_amount() -> None:
    """e8 to minor for a code ISO 4217 does not know: 2 decimals, half-even (money.to_minor), never
    floor division (-0.014 became -0.02)."""
    e8s = (-1_400_000, -2_500_000, 2_500_000, 3_500_000, -3_600_000)
    assert [minor_from_e8(e8, "XYZ") for e8 in e8s] == [-1, -2, 2, 4, -4]
    assert minor_from_e8(-1_400_000, "EUR") == -1  # a known code: the same rule
    assert minor_from_e8(None, "XYZ") == 0
