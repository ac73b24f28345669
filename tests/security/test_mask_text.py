"""``logsafe.mask_text``: what exports, notes, quarantine reasons and command output mask. Card
numbers and e-mail addresses are written in many ways by people and payloads; each form here got
through once (a probe of the report and the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib.pyplot as plt
import pytest
import sqlalchemy as sa

from checkout_freshportal.logsafe import escape_controls, mask_text
from checkout_freshportal.reports import charts, queries
from checkout_freshportal.warehouse.schema import recon


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("4111111111111111", "************1111"),
        ("4111 1111 1111 1111", "************1111"),
        ("4111-1111-1111-1111", "************1111"),
        ("4111.1111.1111.1111", "************1111"),
        ("4111  1111  1111  1111", "************1111"),
        ("4111_1111_1111_1111", "************1111"),
        ("4111/1111/1111/1111", "************1111"),
        ("4111 - 1111 - 1111 - 1111", "************1111"),
        ("jane.doe@example.com", "***@***"),
        ("jöhn.doe@exämple.de", "***@***"),
        ("o'brien@example.com", "***@***"),
        ("a.b@c.de,x@y.org", "***@***,***@***"),
        ("4111\t1111\t1111\t1111", "************1111"),
        ("3782 822463 10005", "***********0005"),
        ("order 12 4111.1111.1111.1111 x", "order 12 ************1111 x"),
        ("cvv 123", "cvv ***"),
        ("CVV is 123", "CVV is ***"),
        ("CVC: 1234", "CVC: ***"),
        ("security code 999", "security code ***"),
    ],
)
def test_each_form_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "expected 1234.56 EUR, got 1234.50",
        "2026-12-07 12:00:00",
        "2026-12-07T12:00:00Z",
        "order FP-2026-000123",
        "call +31 20 123 4567",
        "version 1.2.3 of 12/05/2026 14:33",
        "a@b",
        "status Paid (refund 300 of 1000)",
        # stored notes are masked, so what finance writes must survive (a review found these)
        "period 2026-03-01 - 2026-03-31",
        "10/03/2026 - 12/03/2026",
        "amounts 120.50 / 80.25 / 99.99 EUR",
        "2026.03.10 12.00.00",
        "CID 4711",
        "customer j***@example.com",  # masked already by the log masking: kept as it is
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize("text", ["a" * 1_000_000, "a@" + "b." * 500_000, ("a" * 50 + "@") * 20_000])
def test_long_runs_are_searched_in_linear_work(text: str) -> None:
    """A search tried from every character of a long run was quadratic (40,000 characters took
    seconds, a million would take a quarter of an hour; the suite's per-test timeout catches a regression)."""
    assert mask_text(text + " x@y.org").endswith(" ***@***")


def test_hidden_characters_are_escaped_for_cells_but_lines_stay() -> None:
    assert escape_controls("a\u202eb\x1b[0m\r\nc\td") == "a\\u202eb\\x1b[0m\\x0d\nc\td"


def test_a_chart_name_cannot_leave_its_attribute() -> None:
    fig = plt.figure()
    svg = charts.to_svg(fig, 'payouts-"/><script>')
    assert 'data-chart="payouts-&quot;/&gt;&lt;script&gt;"' in svg
    assert "<script>" not in svg


def test_data_quality_observations_are_masked_in_the_report(migrated_sqlite_url: str) -> None:
    engine = sa.create_engine(migrated_sqlite_url)
    at = datetime(2026, 12, 7, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(recon.recon_dq_results).values(
                    run_id="r1", check_name="c", table_name="stg_orders", severity="warning", success=False,
                    unexpected_count=1, observed="bad row of jane@example.com 4111 1111 1111 1111",
                    checked_at=at,
                )
            )  # fmt: skip
            run = queries.RunInfo("r1", at, "full", "succeeded", "warning", at)
            (res,) = queries.dq_results(conn, run).warnings
    finally:
        engine.dispose()
    assert res.observed == "bad row of ***@*** ************1111"
