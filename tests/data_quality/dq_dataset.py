"""A small, consistent warehouse for the data-quality tests, and one planted bad row per check.

The clean rows cover a 0-, 2- and 3-decimal currency (JPY, EUR, KWD), balances known and
unknown (then the actions count), a payout whose lines tie out after half-even rounding of
8-decimal fee lines, an entity-level line without payment, a dispute, a refund request and a
webhook. ``plant_bad_rows`` adds, for each check, one row that only that check must catch;
``EXPECTED`` says the unexpected count and a sample key each check must report.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.warehouse.engine import is_sqlite
from checkout_freshportal.warehouse.schema.raw import raw_webhook_events
from checkout_freshportal.warehouse.schema.stg import (
    stg_disputes,
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
    stg_payment_actions,
    stg_payments,
    stg_payouts,
    stg_refund_requests,
)

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LOADED = AS_OF - timedelta(hours=1)
DAY = AS_OF - timedelta(days=2)
BOOK = {"first_seen_at": LOADED, "updated_at": LOADED, "source": "test"}


def _key(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def order(order_id: str, number: str, currency: str, amount: int, **kw: Any) -> dict[str, Any]:
    row = {
        "order_id": order_id,
        "order_number": number,
        "status": "confirmed",
        "confirmed_at": DAY,
        "currency": currency,
        "amount_minor": amount,
        "line_count": 1,
        "payment_currency": None,
        "amount_paid_minor": None,
        "amount_refunded_minor": None,
        **BOOK,
    }
    return {**row, **kw}


def payment(payment_id: str, currency: str, amount: int, **kw: Any) -> dict[str, Any]:
    row = {
        "payment_id": payment_id,
        "status": "Captured",
        "requested_on": DAY,
        "currency": currency,
        "amount_minor": amount,
        "reference": None,
        **{f"total_{b}_minor": None for b in ("authorized", "captured", "refunded", "voided")},
        "available_to_capture_minor": None,
        "available_to_refund_minor": None,
        "pending_capture_minor": None,
        **BOOK,
    }
    return {**row, **kw}


def action(
    action_id: str, payment_id: str, action_type: str, currency: str | None, amount: int | None, **kw: Any
) -> dict[str, Any]:
    row = {
        "action_id": action_id,
        "payment_id": payment_id,
        "action_type": action_type,
        "processed_on": DAY,
        "currency": currency,
        "amount_minor": amount,
        "approved": True,
        **BOOK,
    }
    return {**row, **kw}


def dispute(dispute_id: str, payment_id: str | None, currency: str, amount: int) -> dict[str, Any]:
    return {
        "dispute_id": dispute_id,
        "payment_id": payment_id,
        "status": "evidence_required",
        "currency": currency,
        "amount_minor": amount,
        "last_update": DAY,
        **BOOK,
    }


def refund_request(rr_id: str, order_id: str, currency: str, amount: int, **kw: Any) -> dict[str, Any]:
    row = {
        "refund_request_id": rr_id,
        "order_id": order_id,
        "currency": currency,
        "amount_minor": amount,
        "fp_status": "done",
        "state": "succeeded",
        "requested_at": DAY,
        **BOOK,
    }
    return {**row, **kw}


def line(
    name: str,
    action_id: str,
    action_type: str,
    breakdown: str,
    payment_id: str | None,
    currency: str,
    e8: int,
    minor: int,
    **kw: Any,
) -> dict[str, Any]:
    row = {
        "processed_on": DAY,
        "line_key": _key(name),
        "occurrence": 1,
        "action_id": action_id,
        "action_type": action_type,
        "breakdown_type": breakdown,
        "payment_id": payment_id,
        "holding_currency": currency,
        "holding_amount_e8": e8,
        "holding_amount_minor": minor,
        "processing_currency": currency,
        "processing_amount_e8": e8,
        "processing_amount_minor": minor,
        "tax_currency": None,
        "tax_amount_e8": None,
        "tax_amount_minor": None,
        "source_file_id": "file_1",
        **BOOK,
    }
    return {**row, **kw}


def payout(payout_id: str, currency: str, e8: int, minor: int, fee_e8: int | None = None) -> dict[str, Any]:
    money = {
        "payout_amount_e8": e8,
        "payout_amount_minor": minor,
        # Merchant Payout Fees (no line of its own), in EUR here (2 decimals)
        "merchant_payout_fees_e8": fee_e8,
        "merchant_payout_fees_minor": None if fee_e8 is None else fee_e8 // 1_000_000,
    }
    return {
        "payout_id": payout_id,
        "currency": currency,
        "payout_date": date(2026, 5, 31),
        **money,
        "source_file_id": "file_p",
        **BOOK,
    }


def line_payout(name: str, payout_id: str) -> dict[str, Any]:
    return {
        "processed_on": DAY,
        "line_key": _key(name),
        "payout_id": payout_id,
        "source_file_id": "file_1",
        **BOOK,
    }


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(sa.insert(table), rows)


def seed_clean(engine: sa.Engine) -> None:
    """Rows every check accepts (at AS_OF with the default settings)."""
    with engine.begin() as conn:
        _insert(
            conn,
            stg_orders,
            [
                order("o1", "FP-1", "EUR", 1000, payment_currency="EUR", amount_paid_minor=1000),
                order("o2", "FP-2", "JPY", 500, status="invoiced"),
                order("o3", "FP-3", "KWD", 1234),
                order("o0", "FP-0", "EUR", 700, status="draft", confirmed_at=None),
            ],
        )
        _insert(
            conn,
            stg_payments,
            [
                payment("pay_1", "EUR", 1000, total_captured_minor=1000, total_refunded_minor=0),
                payment("pay_2", "JPY", 500, total_captured_minor=500, total_refunded_minor=100),
                payment("pay_3", "KWD", 1234),  # balances unknown: the actions count
            ],
        )
        _insert(
            conn,
            stg_payment_actions,
            [
                action("act_c1", "pay_1", "Capture", "EUR", 1000),
                action("act_r2", "pay_2", "Refund", "JPY", 100),
                action("act_c3", "pay_3", "Capture", "KWD", 1234),
                action("act_r3", "pay_3", "Refund", "KWD", 34),
                action("act_s1", "pay_1", "Authorization", None, None, processed_on=None),
            ],
        )
        _insert(conn, stg_disputes, [dispute("dsp_1", "pay_1", "EUR", 1000)])
        _insert(conn, stg_refund_requests, [refund_request("rr1", "o2", "JPY", 100)])
        _insert(
            conn,
            stg_financial_actions,
            [
                line("l1", "act_c1", "Capture", "Gross", "pay_1", "EUR", 1_000_000_000, 1000),
                line("l2", "act_c1", "Capture", "Interchange Fee", "pay_1", "EUR", -3_000_000, -3),
                line("l3", "act_c1", "Capture", "Scheme Fixed Fee", "pay_1", "EUR", -1_952_694, -2),
                line("l4", "act_r2", "Refund", "Gross", "pay_2", "JPY", -10_000_000_000, -100),
                line("l5", "act_c3", "Capture", "Gross", "pay_3", "KWD", 123_400_000, 1234),
                # half-even at the exponent: -0.5 cent -> 0, -1.5 cent -> -2, 0.0005 KWD -> 0
                line("l6", "act_r3", "Refund", "Gateway Fee", "pay_3", "EUR", -500_000, 0),
                line("l7", "act_r3", "Refund", "Scheme Fixed Fee", "pay_3", "EUR", -1_500_000, -2),
                line("l8", "act_r3", "Refund", "Gross", "pay_3", "KWD", -3_400_000, -34),
                line("l9", "act_r3", "Refund", "Gateway Fee", "pay_3", "KWD", -50_000, 0),
                line("l10", "act_t1", "Top Up", "Top Up", None, "EUR", 5_000_000_000, 5000),
            ],
        )
        # l1 + l2 + l3 = 9.95047306 EUR, less the 1.00 payout fee: 8.95047306 -> 895 minor
        _insert(conn, stg_payouts, [payout("po_1", "EUR", 895_000_000, 895, fee_e8=-100_000_000)])
        _insert(conn, stg_financial_action_payouts, [line_payout(n, "po_1") for n in ("l1", "l2", "l3")])
        conn.execute(
            sa.insert(raw_webhook_events),
            [{"event_id": "evt_1", "received_at": LOADED, "body": b"{}", "body_sha256": "0" * 64}],
        )


#: Tables whose primary key is dropped so a duplicate key can be planted.
KEYED = (
    stg_payments,
    stg_payment_actions,
    stg_disputes,
    stg_payouts,
    stg_orders,
    stg_refund_requests,
    stg_financial_actions,
)


def drop_primary_keys(engine: sa.Engine) -> None:
    """The staging tables without their primary keys (the checks must not rely on them)."""
    with engine.begin() as conn:
        for table in KEYED:
            if is_sqlite(conn):
                conn.exec_driver_sql(f"CREATE TABLE {table.name}__copy AS SELECT * FROM {table.name}")
                conn.exec_driver_sql(f"DROP TABLE {table.name}")
                conn.exec_driver_sql(f"ALTER TABLE {table.name}__copy RENAME TO {table.name}")
            else:
                conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP CONSTRAINT pk_{table.name}")


#: check name -> (unexpected count, a sample key it must report)
EXPECTED: dict[str, tuple[int, str]] = {
    "unique_payment_id": (1, "pay_1"),
    "unique_action_id": (1, "act_c1"),
    "unique_dispute_id": (1, "dsp_1"),
    "unique_payout_id": (1, "po_1"),
    "unique_order_id": (1, "o1"),
    "unique_order_number": (1, "FP-2"),
    "unique_refund_request_id": (1, "rr1"),
    "unique_financial_action_line": (1, _key("l4")),
    "payment_actions_money_not_null": (1, "act_nn"),
    "orders_confirmed_at_not_null": (1, "o4"),
    "refund_requests_requested_at_not_null": (1, "rr2"),
    "orders_currency_iso4217": (1, "o5"),
    "payments_currency_iso4217": (1, "pay_4"),
    "payment_actions_currency_iso4217": (1, "act_cur"),
    "disputes_currency_iso4217": (1, "dsp_2"),
    "refund_requests_currency_iso4217": (1, "rr3"),
    "payouts_currency_iso4217": (1, "po_2"),
    "financial_actions_currency_iso4217": (1, "act_t2"),
    "financial_actions_minor_matches_e8": (1, "act_exp"),
    "payouts_minor_matches_e8": (1, "po_3"),
    "orders_amounts_not_negative": (1, "o6"),
    "payments_amounts_not_negative": (1, "pay_5"),
    "payment_actions_amount_not_negative": (1, "act_neg"),
    "disputes_amount_not_negative": (1, "dsp_3"),
    "refund_requests_amount_positive": (1, "rr4"),
    "financial_actions_signs": (1, "act_sign"),
    "refunded_le_captured": (1, "pay_6"),
    "payment_actions_payment_exists": (1, "act_orph"),
    "disputes_payment_exists": (1, "dsp_4"),
    "financial_actions_payment_exists": (1, "act_lp"),
    "financial_actions_payout_exists": (1, "po_ghost"),
    "refund_requests_order_exists": (1, "rr5"),
    "payout_lines_tie_out": (1, "po_4"),
}


def plant_bad_rows(engine: sa.Engine) -> None:
    """One row per check in ``EXPECTED`` that only that check catches (after ``seed_clean``)."""
    drop_primary_keys(engine)
    with engine.begin() as conn:
        _insert(
            conn,
            stg_orders,
            [
                order("o1", "FP-1-again", "EUR", 1000),
                order("o9", "FP-2", "EUR", 10),
                order("o4", "FP-4", "EUR", 10, status="picking", confirmed_at=None),
                order("o5", "FP-5", "EUR", 10, payment_currency="eur"),
                order("o6", "FP-6", "EUR", -1),
            ],
        )
        _insert(
            conn,
            stg_payments,
            [
                payment("pay_1", "EUR", 1000, total_captured_minor=1000, total_refunded_minor=0),
                payment("pay_4", "ABC", 10),
                payment("pay_5", "EUR", 100, total_captured_minor=100, total_refunded_minor=-5),
                payment("pay_6", "EUR", 100),
            ],
        )
        _insert(
            conn,
            stg_payment_actions,
            [
                action("act_c1", "pay_1", "Capture", "EUR", 1000),
                action("act_nn", "pay_1", "Capture", "EUR", None),
                action("act_cur", "pay_1", "Authorization", "EUX", 10),
                action("act_neg", "pay_1", "Authorization", "EUR", -1),
                action("act_r6", "pay_6", "Refund", "EUR", 50),
                action("act_orph", "pay_missing", "Capture", "EUR", 10),
            ],
        )
        _insert(
            conn,
            stg_disputes,
            [
                dispute("dsp_1", "pay_1", "EUR", 1000),
                dispute("dsp_2", "pay_1", "ZZZ", 10),
                dispute("dsp_3", "pay_1", "EUR", -1),
                dispute("dsp_4", None, "EUR", 10),
            ],
        )
        _insert(
            conn,
            stg_refund_requests,
            [
                refund_request("rr1", "o2", "JPY", 100),
                refund_request("rr2", "o1", "EUR", 5, requested_at=None),
                refund_request("rr3", "o1", "QQQ", 5),
                refund_request("rr4", "o1", "EUR", 0),
                refund_request("rr5", "o_missing", "EUR", 5),
            ],
        )
        _insert(
            conn,
            stg_financial_actions,
            [
                line("l4", "act_r2", "Refund", "Gross", "pay_2", "JPY", -10_000_000_000, -100),
                line("b1", "act_t2", "Top Up", "Top Up", None, "EUR", 100_000_000, 100, tax_currency="TTT"),
                line("b2", "act_exp", "Capture", "Gross", "pay_2", "JPY", 12_345_000_000, 12345),
                line("b3", "act_sign", "Capture", "Gross", "pay_1", "EUR", -100_000_000, -100),
                line("b4", "act_lp", "Capture", "Gross", "pay_ghost", "EUR", 100_000_000, 100),
                line("b5", "act_c1", "Capture", "Gross", "pay_1", "EUR", 400_000_000, 400),
            ],
        )
        _insert(
            conn,
            stg_payouts,
            [
                payout("po_1", "EUR", 895_000_000, 895, fee_e8=-100_000_000),
                payout("po_2", "ABD", 0, 0),
                payout("po_3", "EUR", 100_000_000, 1),
                payout("po_4", "EUR", 500_000_000, 500),
            ],
        )
        _insert(
            conn, stg_financial_action_payouts, [line_payout("b4", "po_ghost"), line_payout("b5", "po_4")]
        )
