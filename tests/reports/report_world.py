"""A small warehouse planted by hand for the report tests: three currencies with different
exponents (EUR 2, JPY 0, KWD 3), two reconciliation runs, exceptions of several kinds and ages,
payouts with fee lines and an entity-level line, captures not yet paid out, declines, data
quality results, and personal data that must never reach a report (a full e-mail address and a
card number planted in free text).

Every figure the tests assert is derived by hand in the comments next to the rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema import ops, recon, stg

AS_OF = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
EMAIL = "jane.doe@example.com"
PAN = "4111111111111111"
EVIL = "<script>alert(1)</script>"


def _t(days: float, hours: float = 0) -> datetime:
    """``days`` before AS_OF."""
    return AS_OF - timedelta(days=days, hours=hours)


def _bk(when: datetime | None = None) -> dict[str, Any]:
    at = when or _t(40)
    return {"first_seen_at": at, "updated_at": at, "source": "test"}


def _line(
    action_id: str,
    action_type: str,
    breakdown: str,
    payment_id: str | None,
    ccy: str,
    e8: int,
    payout_id: str | None,
    processed: datetime,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{action_id}/{breakdown}/{e8}"))
    line = {
        "processed_on": processed,
        "line_key": key,
        "occurrence": 1,
        "action_id": action_id,
        "action_type": action_type,
        "breakdown_type": breakdown,
        "payment_id": payment_id,
        "holding_currency": ccy,
        "holding_amount_e8": e8,
        "holding_amount_minor": 0,
        "source_file_id": "file_1",
        "reference": "ref",
        **_bk(processed),
    }
    paid = None
    if payout_id:
        paid = {
            "processed_on": processed,
            "line_key": key,
            "payout_id": payout_id,
            "source_file_id": "file_2",
            **_bk(processed),
        }
    return line, paid


def _ins(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """executemany needs the same keys in every row: missing ones are NULL."""
    keys = {k for r in rows for k in r}
    conn.execute(table.insert(), [{k: r.get(k) for k in keys} for r in rows])


def plant(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _runs(conn)
        _orders_payments(conn)
        _settlement(conn)
        _exceptions(conn)
        _declines(conn)
        _dq(conn)


def _runs(conn: sa.Connection) -> None:
    r, t = recon.recon_runs, recon.recon_run_totals
    _ins(
        conn,
        r,
        [
            {
                "run_id": "run-1",
                "as_of": _t(1),
                "mode": "full",
                "status": "succeeded",
                "started_at": _t(1),
                "finished_at": _t(1),
                "dq_status": "passed",
            },
            {
                "run_id": "run-2",
                "as_of": _t(0, 1),
                "mode": "incremental",
                "status": "succeeded",
                "started_at": _t(0, 1),
                "finished_at": _t(0, 1),
                "dq_status": "warning",
            },
            # a failed run is never the "latest" one
            {
                "run_id": "run-3",
                "as_of": _t(0, 0.5),
                "mode": "full",
                "status": "failed",
                "started_at": _t(0, 0.5),
                "finished_at": None,
                "dq_status": None,
            },
        ],
    )
    tot = {"refunded_minor": 0, "chargeback_minor": 0}
    _ins(
        conn,
        t,
        [
            {
                "run_id": "run-1",
                "currency": "EUR",
                "as_of": _t(1),
                "orders": 4,
                "orders_matched": 2,
                "ordered_minor": 40000,
                "matched_minor": 20000,
                "captured_minor": 20000,
                "open_exceptions": 3,
                **tot,
            },
            {
                "run_id": "run-2",
                "currency": "EUR",
                "as_of": _t(0, 1),
                "orders": 4,
                "orders_matched": 3,
                "ordered_minor": 40000,
                "matched_minor": 30050,
                "captured_minor": 31050,
                "refunded_minor": 1000,
                "chargeback_minor": 2500,
                "open_exceptions": 2,
            },
            {
                "run_id": "run-2",
                "currency": "JPY",
                "as_of": _t(0, 1),
                "orders": 2,
                "orders_matched": 1,
                "ordered_minor": 15000,
                "matched_minor": 5000,
                "captured_minor": 5000,
                "open_exceptions": 1,
                **tot,
            },
            {
                "run_id": "run-2",
                "currency": "KWD",
                "as_of": _t(0, 1),
                "orders": 1,
                "orders_matched": 1,
                "ordered_minor": 12345,
                "matched_minor": 12345,
                "captured_minor": 12345,
                "open_exceptions": 0,
                **tot,
            },
            {
                "run_id": "run-3",
                "currency": "EUR",
                "as_of": _t(0, 0.5),
                "orders": 99,
                "orders_matched": 0,
                "ordered_minor": 1,
                "matched_minor": 0,
                "captured_minor": 0,
                "open_exceptions": 0,
                **tot,
            },
        ],
    )


def _orders_payments(conn: sa.Connection) -> None:
    o, p, a, m = stg.stg_orders, stg.stg_payments, stg.stg_payment_actions, recon.recon_matches
    _ins(
        conn,
        o,
        [
            {
                "order_id": "o1",
                "order_number": "FP-1001",
                "status": "confirmed",
                "currency": "EUR",
                "amount_minor": 10050,
                "line_count": 1,
                "customer_email_masked": "j***@example.com",
                "confirmed_at": _t(10),
                **_bk(),
            },
            {
                "order_id": "o2",
                "order_number": "FP-1002",
                "status": "confirmed",
                "currency": "JPY",
                "amount_minor": 10000,
                "line_count": 1,
                "customer_email_masked": "j***@example.com",
                "confirmed_at": _t(12),
                **_bk(),
            },
            {
                "order_id": "o3",
                "order_number": "FP-1003",
                "status": "confirmed",
                "currency": "KWD",
                "amount_minor": 12345,
                "line_count": 1,
                "confirmed_at": _t(5),
                **_bk(),
            },
        ],
    )
    pay = {
        "requested_on": _t(10),
        "approved": True,
        "card_type": "Credit",
        "card_bin": "411111",
        "card_last4": "1111",
        "processing_channel_id": "pc_web",
        **_bk(),
    }
    _ins(
        conn,
        p,
        [
            {
                "payment_id": "pay_eur1",
                "status": "Captured",
                "currency": "EUR",
                "amount_minor": 10050,
                "total_captured_minor": 10050,
                "reference": "FP-1001",
                **pay,
            },
            {
                "payment_id": "pay_jpy1",
                "status": "Captured",
                "currency": "JPY",
                "amount_minor": 5000,
                "reference": "FP-1002",
                **pay,
            },
            {
                "payment_id": "pay_kwd1",
                "status": "Captured",
                "currency": "KWD",
                "amount_minor": 12345,
                "total_captured_minor": 12345,
                "reference": "FP-1003",
                **pay,
            },
            {
                "payment_id": "pay_dec1",
                "status": "Declined",
                "currency": "EUR",
                "amount_minor": 999,
                "reference": "FP-1001",
                **{**pay, "card_type": "Debit", "processing_channel_id": "pc_app"},
            },
        ],
    )
    act = {"approved": True, **_bk()}
    _ins(
        conn,
        a,
        [
            # EUR capture 100.50 on day -10, paid out on day -6 (lag 4)
            {
                "action_id": "act_c_eur1",
                "payment_id": "pay_eur1",
                "action_type": "Capture",
                "processed_on": _t(10),
                "currency": "EUR",
                "amount_minor": 10050,
                **act,
            },
            # JPY capture 5000 on day -12 paid out day -9 (lag 3); JPY capture 777 day -1: not paid out
            {
                "action_id": "act_c_jpy1",
                "payment_id": "pay_jpy1",
                "action_type": "Capture",
                "processed_on": _t(12),
                "currency": "JPY",
                "amount_minor": 5000,
                **act,
            },
            {
                "action_id": "act_c_jpy2",
                "payment_id": "pay_jpy1",
                "action_type": "Capture",
                "processed_on": _t(1),
                "currency": "JPY",
                "amount_minor": 777,
                **act,
            },
            # KWD captures 12.345 (day -5, age 5: 3-7) and 1.001 (day -40: >30) never paid out
            {
                "action_id": "act_c_kwd1",
                "payment_id": "pay_kwd1",
                "action_type": "Capture",
                "processed_on": _t(5),
                "currency": "KWD",
                "amount_minor": 12345,
                **act,
            },
            {
                "action_id": "act_c_kwd2",
                "payment_id": "pay_kwd1",
                "action_type": "Capture",
                "processed_on": _t(40),
                "currency": "KWD",
                "amount_minor": 1001,
                **act,
            },
            # a declined capture is no capture
            {
                "action_id": "act_c_eur_x",
                "payment_id": "pay_eur1",
                "action_type": "Capture",
                "processed_on": _t(2),
                "currency": "EUR",
                "amount_minor": 5,
                **{**act, "approved": False},
            },
        ],
    )
    _ins(
        conn,
        m,
        [
            {
                "order_id": "o1",
                "payment_id": "pay_eur1",
                "rule": "reference",
                "confirmed": True,
                "match_group": "order:o1",
                "order_number": "FP-1001",
                "currency": "EUR",
                "first_matched_at": _t(9),
                "updated_at": _t(1),
                "run_id": "run-1",
            },
            {
                "order_id": "o2",
                "payment_id": "pay_jpy1",
                "rule": "metadata_order_id",
                "confirmed": True,
                "match_group": "order:o2",
                "order_number": "FP-1002",
                "currency": "JPY",
                "first_matched_at": _t(9),
                "updated_at": _t(1),
                "run_id": "run-1",
            },
            {
                "order_id": "o3",
                "payment_id": "pay_kwd1",
                "rule": "suggested_customer_amount",
                "confirmed": False,
                "match_group": "order:o3",
                "order_number": "FP-1003",
                "currency": "KWD",
                "first_matched_at": _t(4),
                "updated_at": _t(1),
                "run_id": "run-2",
            },
        ],
    )


def _settlement(conn: sa.Connection) -> None:
    lines, paid = [], []
    for spec in (
        # payout po_eur_1 (EUR 96.00 on day -6: lines 97.00 less the 1.00 payout fee): gross 100.50,
        # interchange -1.234567 (rounds with the rest), scheme -0.20, processing -0.30, and an
        # entity-level minimum billing fee -1.765433
        ("act_c_eur1", "Capture", "Gross", "pay_eur1", "EUR", 10_050_000_000, "po_eur_1"),
        ("act_c_eur1", "Capture", "Interchange Fee", "pay_eur1", "EUR", -123_456_700, "po_eur_1"),
        ("act_c_eur1", "Capture", "Scheme Variable Fee", "pay_eur1", "EUR", -20_000_000, "po_eur_1"),
        ("act_c_eur1", "Capture", "Gateway Fee", "pay_eur1", "EUR", -30_000_000, "po_eur_1"),
        ("act_mbf_1", "Fee Adjustment", "Minimum Billing Fee", None, "EUR", -176_543_300, "po_eur_1"),
        # payout po_jpy_1 (JPY 4,900 on day -9, but lines sum to 4,950: mismatch of -50)
        ("act_c_jpy1", "Capture", "Gross", "pay_jpy1", "JPY", 500_000_000_000, "po_jpy_1"),
        ("act_c_jpy1", "Capture", "Interchange Fee", "pay_jpy1", "JPY", -5_000_000_000, "po_jpy_1"),
        # a reserve held back (a movement, not a fee) and a EUR line with no payout yet
        ("act_res_1", "Capture", "Rolling Reserve", "pay_eur1", "EUR", -50_000_000, None),
        ("act_x", "Capture", "Gross", "pay_other", "EUR", 5_000_000, None),
    ):
        ln, pd = _line(*spec, processed=_t(10))
        lines.append(ln)
        if pd:
            paid.append(pd)
    _ins(conn, stg.stg_financial_actions, lines)
    _ins(conn, stg.stg_financial_action_payouts, paid)
    po = stg.stg_payouts
    _ins(
        conn,
        po,
        [
            {
                "payout_id": "po_eur_1",
                "currency": "EUR",
                "payout_date": date(2026, 3, 25),
                "payout_amount_e8": 9_600_000_000,
                "payout_amount_minor": 9600,
                "merchant_payout_fees_e8": -100_000_000,
                "merchant_payout_fees_minor": -100,
                "source_file_id": "f",
                **_bk(),
            },
            {
                "payout_id": "po_jpy_1",
                "currency": "JPY",
                "payout_date": date(2026, 3, 22),
                "payout_amount_e8": 490_000_000_000,
                "payout_amount_minor": 4900,
                "source_file_id": "f",
                **_bk(),
            },
            # a future payout (after as_of) is not counted
            {
                "payout_id": "po_eur_future",
                "currency": "EUR",
                "payout_date": date(2026, 4, 2),
                "payout_amount_e8": 100_000_000,
                "payout_amount_minor": 100,
                "source_file_id": "f",
                **_bk(),
            },
        ],
    )


def _exceptions(conn: sa.Connection) -> None:
    e = recon.recon_exceptions

    def exc(key: str, kind: str, severity: str, status: str, first: float, **kw: Any) -> dict[str, Any]:
        base = {
            "exception_id": "exc_" + key,
            "exception_key": key,
            "kind": kind,
            "severity": severity,
            "status": status,
            "first_seen_at": _t(first),
            "last_seen_at": _t(0, 1),
            "state_version": 1,
            "updated_at": _t(0, 1),
            "run_id": "run-2",
        }
        base.update(
            {
                k: None
                for k in (
                    "order_id",
                    "order_number",
                    "payment_id",
                    "payout_id",
                    "currency",
                    "expected_minor",
                    "actual_minor",
                    "detail",
                    "resolved_at",
                    "explained_by",
                    "explanation",
                )
            }
        )
        base.update(kw)
        return base

    _ins(
        conn,
        e,
        [
            # open, ages 1 (0-2), 5 (3-7), 12 (8-30), 45 (>30)
            exc(
                "missing_payment:order:o9",
                "missing_payment",
                "high",
                "open",
                1,
                order_id="o9",
                order_number="FP-1009",
                currency="KWD",
                expected_minor=-1234567,
                actual_minor=0,
                detail=f"customer {EMAIL} paid with {PAN}",
            ),
            exc(
                "amount_mismatch:order:o2",
                "amount_mismatch",
                "high",
                "open",
                5,
                order_id="o2",
                order_number="FP-1002",
                payment_id="pay_jpy1",
                currency="JPY",
                expected_minor=10000,
                actual_minor=5000,
                detail=f"captured 5000 of 10000 {EVIL}",
            ),
            exc(
                "payout_mismatch:payout:po_jpy_1",
                "payout_mismatch",
                "high",
                "open",
                12,
                payout_id="po_jpy_1",
                currency="JPY",
                expected_minor=4900,
                actual_minor=4950,
            ),
            exc(
                "status_drift:order:o1",
                "status_drift",
                "low",
                "open",
                45,
                order_id="o1",
                order_number="FP-1001",
                detail="FreshPortal shows pending, derived paid",
            ),
            # explained and resolved ones
            exc(
                "orphan_payment:payment:pay_z",
                "orphan_payment",
                "high",
                "explained",
                20,
                payment_id="pay_z",
                currency="EUR",
                actual_minor=12345,
                explained_by="finance@shop",
                explanation=f"test {EMAIL}",
            ),
            exc(
                "chargeback_lost:dispute:dsp_1",
                "chargeback_lost",
                "high",
                "resolved",
                30,
                currency="EUR",
                expected_minor=0,
                actual_minor=2500,
                resolved_at=_t(26),
                order_number="FP-1001",
            ),
        ],
    )


def _declines(conn: sa.Connection) -> None:
    d = ops.ops_payment_declines
    rows = []
    for i, (code, days, pid) in enumerate(
        (
            ("20051", 1, "pay_dec1"),
            ("20051", 2, "pay_dec1"),
            ("20005", 2, "pay_jpy1"),
            ("20051", 45, "pay_dec1"),
        )
    ):
        rows.append(
            {
                "decline_id": f"dec_{i}",
                "payment_id": pid,
                "kind": "payment_declined",
                "response_code": code,
                "response_summary": f"Insufficient Funds {PAN}",
                "amount_minor": 999,
                "currency": "EUR",
                "occurred_at": _t(days),
                **_bk(),
            }
        )
    _ins(conn, d, rows)


def _dq(conn: sa.Connection) -> None:
    d = recon.recon_dq_results
    base = {"run_id": "run-2", "checked_at": _t(0, 1), "details": None}
    _ins(
        conn,
        d,
        [
            {
                **base,
                "check_name": "payments_unique_id",
                "table_name": "stg_payments",
                "severity": "critical",
                "success": True,
                "unexpected_count": 0,
                "observed": "0 duplicates",
            },
            {
                **base,
                "check_name": "orders_freshness",
                "table_name": "stg_orders",
                "severity": "warning",
                "success": False,
                "unexpected_count": 1,
                "observed": "newest order 30 h old",
            },
            {
                **base,
                "check_name": "actions_payment_fk",
                "table_name": "stg_payment_actions",
                "severity": "critical",
                "success": False,
                "unexpected_count": 2,
                "observed": "2 actions of unknown payments",
            },
        ],
    )
