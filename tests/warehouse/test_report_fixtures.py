"""The hand-made report files in Checkout.com's shapes (tests/fixtures/reports/README.md) staged on
both engines: every line kept, the payout tied out, a date-range copy of the same lines merged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checkout_freshportal import money
from checkout_freshportal.warehouse import load_report_file, schema

from wh_helpers import migrated_engine, rows_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
PAYOUT = "00000000K7QX"


def _fixture(pattern: str) -> bytes:
    (path,) = FIXTURES.glob(pattern)
    return path.read_bytes()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def eng(request):
    e = migrated_engine(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    yield e
    e.dispose()


def load(eng, data: bytes, file_id: str, report_type: str):
    with eng.begin() as conn:
        return load_report_file(
            conn,
            report_id="rpt_1",
            report_type=report_type,
            file_id=file_id,
            filename=file_id,
            stream=io.BytesIO(data),
        )


def test_the_fixture_files_stage_every_line_and_tie_out_the_payout(eng) -> None:
    by_payout = _fixture("financial-actions_*_00000000K7QX_1.csv")
    lines = list(csv.DictReader(io.StringIO(by_payout.decode(), newline="")))
    r = load(eng, by_payout, "f_payout", "FinancialActionsByPayoutId")
    assert (r.rows, r.staged_inserted) == (len(lines), len(lines))
    assert (
        load(eng, _fixture("financial-actions_*_20221119_20221120_1.csv"), "f_quiet", "FinancialActions").rows
        == 0
    )
    load(eng, _fixture("payouts_*.csv"), "f_po", "Payouts")
    with eng.connect() as conn:
        staged = rows_of(conn, schema.financial_action_lines().subquery())
        (payout,) = rows_of(conn, schema.stg_payouts)
    assert sorted(x["payout_id"] or "" for x in staged) == sorted(x["Payout ID"] for x in lines)
    fixed = [x for x in staged if x["breakdown_type"] == "Scheme Fixed Fee"]
    assert sorted(x["occurrence"] for x in fixed) == [1, 2]  # identical lines, both kept
    assert len({x["line_key"] for x in staged}) == len(lines)
    assert any(x["payment_id"] is None for x in staged)  # entity-level lines
    # the payout: its lines plus the merchant payout fee, rounded to the cent
    paid_e8 = sum(x["holding_amount_e8"] for x in staged if x["payout_id"] == PAYOUT)
    total_e8 = paid_e8 + payout["merchant_payout_fees_e8"]
    assert (
        money.to_minor(money.parse_decimal(total_e8) / 10**8, "EUR") == payout["payout_amount_minor"] == 5710
    )
    assert (payout["period_start"], payout["period_end"]) == (
        datetime(2022, 11, 12, tzinfo=UTC),
        datetime(2022, 11, 12, 23, 59, 59, tzinfo=UTC),
    )
    assert payout["pay_to_cards_e8"] == 0


def test_a_date_range_file_with_the_same_lines_adds_nothing_and_keeps_the_payout(eng) -> None:
    by_payout = _fixture("financial-actions_*_00000000K7QX_1.csv")
    load(eng, by_payout, "f_payout", "FinancialActionsByPayoutId")
    reader = csv.reader(io.StringIO(by_payout.decode(), newline=""))
    header = next(reader)
    col = header.index("Payout ID")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for row in reader:
        w.writerow([*row[:col], "", *row[col + 1 :]])
    r = load(eng, buf.getvalue().encode(), "f_range", "FinancialActions")
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (0, 0, r.rows)
    with eng.connect() as conn:
        staged = rows_of(conn, schema.financial_action_lines().subquery())
    assert sum(x["payout_id"] == PAYOUT for x in staged) == 15
