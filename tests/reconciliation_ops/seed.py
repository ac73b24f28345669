"""A small warehouse with one order's whole money chain, written straight into the staged
tables (the loaders are tested elsewhere): the order, its payment link, a captured and partly
refunded payment, a declined retry, a dispute, report lines with fees and their payout, a refund
request, and one exception of reconciliation on the order.

The order number carries an ANSI escape in a second order, so escaping is tested on real rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.money import e8_to_minor
from checkout_freshportal.reconcile.kinds import severity
from checkout_freshportal.warehouse.schema import recon, stg, sync

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER_ID = "5001"
ORDER_NUMBER = "FP-500001"
PAYMENT_ID = "pay_trace0000000000000000001"
DECLINED_ID = "pay_trace0000000000000000002"
PAYOUT_ID = "po_trace000000000001"
EXCEPTION_KEY = f"missing_payment:order:{ORDER_ID}"
#: The orders as the FreshPortal simulator holds them (id, currency, amount): notes go there.
FRESHPORTAL_ORDERS = (("5001", "EUR", 10000), ("5002", "JPY", 500), ("5003", "EUR", 2000))


def exception_id(key: str) -> str:
    import hashlib

    return "exc_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _book(**row: Any) -> dict[str, Any]:
    return {"first_seen_at": T0, "updated_at": T0, "source": "test", **row}


def _order(order_id: str, number: str, amount: int, currency: str = "EUR") -> dict[str, Any]:
    return _book(
        order_id=order_id,
        order_number=number,
        status="confirmed",
        confirmed_at=T0,
        currency=currency,
        amount_minor=amount,
        customer_email_masked="j***@example.nl",
        customer_email_hash="a" * 64,
        line_count=1,
        invoice_numbers=["INV-2026-0001"],
        payment_status="paid",
    )


def _line(action_id: str, action_type: str, breakdown: str, e8: int, payout: str | None) -> dict[str, Any]:
    return _book(
        processed_on=T0 + timedelta(days=1),
        line_key=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{action_id}/{breakdown}")),
        occurrence=1,
        action_id=action_id,
        action_type=action_type,
        breakdown_type=breakdown,
        payment_id=PAYMENT_ID,
        holding_currency="EUR",
        holding_amount_e8=e8,
        holding_amount_minor=e8_to_minor(e8, "EUR"),
        source_file_id="file_1",
        payout=payout,
    )


def exception_row(key: str, *, order_id: str | None = ORDER_ID, status: str = "open") -> dict[str, Any]:
    kind = key.split(":", 1)[0]
    return {
        "exception_id": exception_id(key),
        "exception_key": key,
        "kind": kind,
        "severity": severity(kind),
        "status": status,
        "order_id": order_id,
        "order_number": ORDER_NUMBER if order_id == ORDER_ID else None,
        "payment_id": PAYMENT_ID,
        "currency": "EUR",
        "expected_minor": 10000,
        "actual_minor": 0,
        "detail": "nothing captured within 3 days",
        "first_seen_at": T0,
        "last_seen_at": T0,
        "state_version": 1,
        "updated_at": T0,
        "run_id": "seed",
    }


def _ins(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
    for row in rows if isinstance(rows, list) else [rows]:  # rows differ in their columns
        conn.execute(sa.insert(table), row)


def seed(engine: sa.Engine) -> None:
    lines = [
        _line("act_cap1", "Capture", "Gross", 100_00000000, PAYOUT_ID),
        _line("act_cap1", "Capture", "Interchange Fee", -30000000, PAYOUT_ID),
        _line("act_cap1", "Capture", "Scheme Fee Fixed", -12345678, PAYOUT_ID),
    ]
    payouts = [{k: v for k, v in ln.items() if k in ("processed_on", "line_key")} for ln in lines]
    with engine.begin() as conn:
        _ins(
            conn,
            stg.stg_orders,
            [_order(ORDER_ID, ORDER_NUMBER, 10000), _order("5002", "FP-500002\x1b[31m", 500, "JPY")],
        )
        _ins(
            conn,
            sync.sync_payment_link_intents,
            {
                "intent_id": "pli_trace1",
                "order_id": ORDER_ID,
                "order_version": "v1-EUR-10000",
                "renewal_no": 0,
                "reference": ORDER_NUMBER,
                "currency": "EUR",
                "amount_minor": 10000,
                "expires_in": 86400,
                "idempotency_key": "k1",
                "state": "created",
                "link_id": "pl_trace1",
                "link_status": "Payment Received",
                "payment_id": PAYMENT_ID,
                "created_at": T0,
                "attempts": 1,
                "writeback_attempts": 0,
                "updated_at": T0,
            },
        )
        base = {"requested_on": T0, "currency": "EUR", "amount_minor": 10000, "reference": ORDER_NUMBER}
        _ins(
            conn,
            stg.stg_payments,
            [
                _book(
                    payment_id=PAYMENT_ID,
                    status="Partially Refunded",
                    total_captured_minor=10000,
                    total_refunded_minor=2500,
                    card_bin="424242",
                    card_last4="4242",
                    **base,
                ),
                _book(payment_id=DECLINED_ID, status="Declined", **base),
            ],
        )
        _ins(
            conn,
            stg.stg_payment_actions,
            [
                _book(
                    action_id=a,
                    payment_id=PAYMENT_ID,
                    action_type=t,
                    processed_on=T0 + timedelta(hours=i),
                    currency="EUR",
                    amount_minor=amt,
                    approved=True,
                )
                for i, (a, t, amt) in enumerate(
                    [
                        ("act_auth1", "Authorization", 10000),
                        ("act_cap1", "Capture", 10000),
                        ("act_ref1", "Refund", 2500),
                    ]
                )
            ],
        )
        _ins(
            conn,
            stg.stg_disputes,
            _book(
                dispute_id="dsp_trace1",
                payment_id=PAYMENT_ID,
                status="evidence_required",
                currency="EUR",
                amount_minor=7500,
                last_update=T0,
                category="fraudulent",
            ),
        )
        _ins(
            conn,
            stg.stg_financial_actions,
            [{k: v for k, v in ln.items() if k != "payout"} for ln in lines],
        )
        _ins(
            conn,
            stg.stg_financial_action_payouts,
            [_book(**p, payout_id=PAYOUT_ID, source_file_id="file_2") for p in payouts],
        )
        _ins(
            conn,
            stg.stg_payouts,
            _book(
                payout_id=PAYOUT_ID,
                currency="EUR",
                payout_date=date(2026, 3, 4),
                payout_amount_e8=99_57654322,
                payout_amount_minor=9958,
                source_file_id="file_2",
            ),
        )
        _ins(
            conn,
            stg.stg_refund_requests,
            _book(
                refund_request_id="rr1",
                order_id=ORDER_ID,
                order_number=ORDER_NUMBER,
                currency="EUR",
                amount_minor=2500,
                fp_status="done",
                state="succeeded",
                requested_at=T0,
                outcome_refund_id="act_ref1",
            ),
        )
        _ins(conn, recon.recon_exceptions, exception_row(EXCEPTION_KEY))
