"""A shared scenario with every reconciliation exception kind planted by hand, and clean controls.

``examples/scenarios/reconciliation-anomalies.json`` is written by this module; the format is
the shared scenario's (docs/scenario-format.md, "Planting reconciliation anomalies") with one
more section, ``demo.reconciliation``: each planted case with the exceptions it must produce
(``expected_exceptions``) and the control orders that must produce none. No random background:
every payment is written out, so the expected set is exact. Amounts are in JPY (0 decimals),
EUR and GBP (2) and KWD (3); JPY and KWD settle into accounts of their own, so payouts exist in
each currency.

Times are absolute (from ``now``) so the file is byte-stable; ``rebase`` moves a scenario to
another ``now`` (every instant shifted by the same amount, dates by whole days), which is how
``cfp demo --scenario`` and tests/planted run it at the wall clock: the FreshPortal status push
and the reconciliation's ``as_of`` are wall-clock stamps.

Regenerate the example file::

    python -m cfp_dev.sandbox.planted --now 2026-03-02T10:30:00Z \\
        -o examples/scenarios/reconciliation-anomalies.json
"""

from __future__ import annotations

import argparse
import copy
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from checkout_freshportal.timeutil import parse_ts

from .shared_scenario import APPROVE_CARD, DECLINE_CARD, FORMAT, write_scenario

FIRST_ORDER_ID = 520001
CUSTOMER = {"email": "finance@bloemenveiling-testcase.example", "name": "Bloemenveiling Testcase"}
#: What the demo and tests pass to reconciliation: FreshPortal's status is compared at once
#: (production waits ``status_grace``, 2 hours, for the status push to catch up).
RECON_SETTINGS = {"status_grace": "0s"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def pay_id(n: int) -> str:
    return f"pay_recon{n:021d}"


def act_id(n: int) -> str:
    return f"act_recon{n:021d}"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Builder:
    """Collects payments, orders, refund requests and cases while the cases are written."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.payments: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.refund_requests: list[dict[str, Any]] = []
        self.customers: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []
        self.controls: list[dict[str, Any]] = []
        self._next_order = FIRST_ORDER_ID

    def at(self, ago: timedelta) -> str:
        return _iso(self.now - ago)

    def order(
        self,
        number: str,
        currency: str,
        amount: int,
        confirmed_ago: timedelta,
        status: str = "invoiced",
        **extra: Any,
    ) -> dict[str, Any]:
        confirmed = self.now - confirmed_ago
        order = {
            "order_id": self._next_order,
            "order_number": number,
            "status": status,
            "currency": currency,
            "amount_minor": amount,
            "customer": {**CUSTOMER, "country": "NL"},
            "order_date": confirmed.date().isoformat(),
            "created_at": _iso(confirmed - timedelta(minutes=20)),
            "confirmed_at": _iso(confirmed),
            **extra,
        }
        self._next_order += 1
        self.orders.append(order)
        return order

    def payment(
        self, n: int, reference: str, currency: str, amount: int, ago: timedelta, **extra: Any
    ) -> dict[str, Any]:
        p: dict[str, Any] = {
            "id": pay_id(n),
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "requested_on": self.at(ago),
            "customer": dict(CUSTOMER),
            **extra,
        }
        if currency in ("JPY", "KWD"):
            p.setdefault("holding_currency", currency)  # settles into an account of its own
        self.payments.append(p)
        return p

    def refunded_request(self, number: str, amount: int, refund_action: str, ago: timedelta) -> None:
        """A FreshPortal refund request answered before go-live: refunded, naming the refund."""
        self.refund_requests.append(
            {
                "order_number": number,
                "amount_minor": amount,
                "reason": "quality_complaint",
                "status": "refunded",
                "requested_at": self.at(ago + timedelta(hours=1)),
                "outcome": {
                    "refunded_amount_minor": amount,
                    "refund_id": refund_action,
                    "processed_at": self.at(ago),
                },
            }
        )

    def case(self, kind: str, why: str, orders: list[str], expected: list[dict[str, Any]]) -> None:
        self.cases.append({"case": kind, "why": why, "orders": orders, "expected_exceptions": expected})

    def control(self, why: str, orders: list[str]) -> None:
        self.controls.append({"why": why, "orders": orders})


def _planted(b: _Builder) -> None:
    d, h = timedelta(days=1), timedelta(hours=1)
    b.order("FP-810001", "JPY", 48_000, 5 * d, status="confirmed")
    b.case(
        "missing_payment",
        "confirmed 5 days ago (due after 3), never paid",
        ["FP-810001"],
        [{"kind": "missing_payment", "order_number": "FP-810001"}],
    )

    b.order("FP-810002", "EUR", 12_550, 4 * d)
    b.payment(2, "FP-810002", "EUR", 12_000, 4 * d - h)
    b.case(
        "amount_mismatch",
        "order EUR 125.50, the customer paid EUR 120.00",
        ["FP-810002"],
        [{"kind": "amount_mismatch", "order_number": "FP-810002"}],
    )

    b.order("FP-810003", "EUR", 8_000, 4 * d)
    b.payment(3, "FP-810003", "GBP", 8_000, 4 * d - h)
    b.case(
        "currency_mismatch",
        "order in EUR, paid GBP 80.00 with the order's reference",
        ["FP-810003"],
        [{"kind": "currency_mismatch", "order_number": "FP-810003", "payment_id": pay_id(3)}],
    )

    b.payment(4, "FP-899999", "KWD", 12_500, 3 * d)
    b.case(
        "orphan_payment",
        "KWD 12.500 captured with a reference no order has",
        [],
        [{"kind": "orphan_payment", "payment_id": pay_id(4)}],
    )

    b.order("FP-810005", "KWD", 25_750, 3 * d)
    b.payment(5, "FP-810005", "KWD", 25_750, 3 * d - h)
    b.payment(6, "FP-810005", "KWD", 25_750, 3 * d - 2 * h)
    b.case(
        "duplicate_payment",
        "KWD 25.750 order paid twice",
        ["FP-810005"],
        [{"kind": "duplicate_payment", "order_number": "FP-810005"}],
    )

    b.order("FP-810006", "EUR", 6_000, 6 * d)
    for n, act in ((7, 1), (8, 2)):
        b.payment(
            n,
            "FP-810006",
            "EUR",
            6_000,
            6 * d - n * h,
            actions=[{"type": "refund", "id": act_id(act), "at": "+1d"}],
        )
        b.refunded_request("FP-810006", 6_000, act_id(act), 5 * d - n * h)
    b.case(
        "over_refund",
        "paid twice (EUR 60.00 each), then both payments refunded in full through two "
        "FreshPortal requests: EUR 120.00 refunded on an order of EUR 60.00",
        ["FP-810006"],
        [{"kind": "over_refund", "order_number": "FP-810006"}],
    )

    b.order("FP-810007", "JPY", 22_000, 5 * d)
    b.payment(
        9,
        "FP-810007",
        "JPY",
        22_000,
        5 * d - h,
        actions=[{"type": "refund", "id": act_id(3), "amount": 5_000, "at": "+2d"}],
    )
    b.case(
        "refund_not_requested",
        "JPY 5,000 refunded at Checkout.com (dashboard), no FreshPortal request",
        ["FP-810007"],
        [{"kind": "refund_not_requested", "action_id": act_id(3)}],
    )

    b.order("FP-810008", "GBP", 4_500, 5 * d)
    b.payment(10, "FP-810008", "GBP", 4_500, 5 * d - h)
    b.refund_requests.append(
        {
            "order_number": "FP-810008",
            "amount_minor": 1_500,
            "reason": "damaged_goods",
            "status": "processing",
            "requested_at": b.at(2 * d),
        }
    )
    b.case(
        "refund_not_executed",
        "FreshPortal request of GBP 15.00 marked processing by hand 2 days ago "
        "(the integration only executes requests in state requested)",
        ["FP-810008"],
        [{"kind": "refund_not_executed", "order_number": "FP-810008"}],
    )

    b.order("FP-810009", "EUR", 9_900, 10 * d)
    b.payment(
        11,
        "FP-810009",
        "EUR",
        9_900,
        10 * d - h,
        capture_settles=False,
        actions=[{"type": "capture", "id": act_id(4), "at": "+1m"}],
    )
    b.case(
        "unsettled_capture",
        "captured 10 days ago (window 7), never in a financial action or payout",
        ["FP-810009"],
        [{"kind": "unsettled_capture", "action_id": act_id(4)}],
    )

    b.order("FP-810010", "KWD", 40_000, 5 * d)
    b.payment(12, "FP-810010", "KWD", 40_000, 5 * d - h, payout_adjustment=250)
    b.case(
        "payout_mismatch",
        "the KWD payout paying this capture reports 0.250 more than its lines",
        ["FP-810010"],
        [{"kind": "payout_mismatch", "payout_of_payment": pay_id(12)}],
    )

    b.order(
        "FP-810011", "EUR", 5_500, timedelta(0), status="confirmed", manual_payment_status="partially_paid"
    )
    b.customers.append(
        {
            "order_number": "FP-810011",
            "behaviour": "pay",
            "checkout_status": "Captured",
            "freshportal_status": "partially_paid",
        }
    )
    b.case(
        "status_drift",
        "paid through its link (derived: paid); a FreshPortal user then set partially_paid by hand",
        ["FP-810011"],
        [{"kind": "status_drift", "order_number": "FP-810011"}],
    )

    b.order("FP-810012", "GBP", 7_000, 6 * d)
    b.payment(
        13,
        "FP-810012",
        "GBP",
        7_000,
        6 * d - h,
        disputes=[
            {
                "received_on": b.at(d),
                "outcome": "evidence_required",
                "category": "general",
                "reason_code": "4853",
            }
        ],
    )
    b.case(
        "chargeback_open",
        "dispute received yesterday, evidence required",
        ["FP-810012"],
        [{"kind": "chargeback_open", "dispute_of_payment": pay_id(13)}],
    )

    b.order("FP-810013", "JPY", 15_000, 12 * d)
    b.payment(
        14,
        "FP-810013",
        "JPY",
        15_000,
        12 * d - h,
        disputes=[
            {
                "received_on": b.at(11 * d),
                "outcome": "lost",
                "resolved_on": b.at(3 * d),
                "category": "product_service_not_received",
                "reason_code": "13.1",
            }
        ],
    )
    b.case(
        "chargeback_lost",
        "dispute lost 3 days ago",
        ["FP-810013"],
        [{"kind": "chargeback_lost", "dispute_of_payment": pay_id(14)}],
    )

    b.order("FP-810014", "EUR", 3_300, d, status="confirmed")
    b.payment(15, "FP-810014", "EUR", 3_300, d - h, decline_code="20051")
    b.case(
        "payment_failed",
        "card declined yesterday (20051); the order is not due yet (3 days)",
        ["FP-810014"],
        [{"kind": "payment_failed", "payment_id": pay_id(15)}],
    )

    b.order("FP-810015", "GBP", 5_200, 6 * d, status="cancelled")
    b.payment(16, "FP-810015", "GBP", 5_200, 6 * d - h)
    b.case(
        "unconfirmed_order_paid",
        "paid GBP 52.00, then the order was cancelled and nobody refunded the customer",
        ["FP-810015"],
        [{"kind": "unconfirmed_order_paid", "order_number": "FP-810015"}],
    )

    def invoice(number: str, ago: timedelta) -> list[dict[str, str]]:
        return [{"invoice_number": number, "invoice_date": (b.now - ago).date().isoformat()}]

    # the cancelled order first: the lower order id, where the transfer's money counted before
    # 2026-12-07, out of the totals
    b.order("FP-810016", "EUR", 2_000, 6 * d, status="cancelled", invoices=invoice("INV-2026-910016", 6 * d))
    b.order("FP-810017", "EUR", 3_000, 6 * d, invoices=invoice("INV-2026-910017", 6 * d))
    b.payment(17, "INV-2026-910016 INV-2026-910017", "EUR", 5_000, 5 * d)
    b.case(
        "unconfirmed_order_paid",
        "one bank transfer paid two invoices, EUR 20.00 and EUR 30.00; the first order was cancelled "
        "and nobody refunded the customer: EUR 20.00 kept for it; the second is paid",
        ["FP-810016", "FP-810017"],
        [{"kind": "unconfirmed_order_paid", "order_number": "FP-810016"}],
    )


def _controls(b: _Builder) -> None:
    d, h = timedelta(days=1), timedelta(hours=1)
    b.order("FP-800001", "JPY", 36_500, 6 * d)
    b.payment(101, "FP-800001", "JPY", 36_500, 6 * d - h)
    b.control("JPY paid in full, settled and paid out", ["FP-800001"])

    b.order("FP-800002", "EUR", 12_000, 5 * d)
    b.payment(
        102,
        "FP-800002",
        "EUR",
        12_000,
        5 * d - h,
        actions=[{"type": "refund", "id": act_id(101), "amount": 3_000, "at": "+1d"}],
    )
    b.refunded_request("FP-800002", 3_000, act_id(101), 4 * d - h)
    b.control("EUR paid, EUR 30.00 refunded through a FreshPortal request", ["FP-800002"])

    b.order("FP-800003", "KWD", 18_250, 5 * d)
    b.payment(
        103,
        "FP-800003",
        "KWD",
        18_250,
        5 * d - h,
        actions=[
            {"type": "capture", "amount": 10_000, "at": "+1h"},
            {"type": "capture", "amount": 8_250, "at": "+1d", "final": True},
        ],
    )
    b.control("KWD captured in two shipments (10.000 + 8.250)", ["FP-800003"])

    b.order("FP-800004", "GBP", 6_400, 4 * d)
    b.payment(104, "FP-800004", "GBP", 6_400, 4 * d - h, decline_code="20051")
    b.payment(105, "FP-800004", "GBP", 6_400, 4 * d - 2 * h)
    b.control("GBP declined, then paid in full on retry", ["FP-800004"])

    order = b.order("FP-800005", "EUR", 4_250, 4 * d)
    b.payment(106, "BANK-TRANSFER-77", "EUR", 4_250, 4 * d - h, metadata={"order_id": str(order["order_id"])})
    b.control("EUR paid with another reference, matched by the order id in metadata", ["FP-800005"])

    b.order("FP-800006", "EUR", 6_600, timedelta(0), status="confirmed")
    b.customers.append({"order_number": "FP-800006", "behaviour": "pay", "checkout_status": "Captured"})
    b.control("EUR paid through its payment link now; FreshPortal shows the derived status", ["FP-800006"])

    b.order("FP-800007", "EUR", 2_900, d, status="confirmed")
    b.control("confirmed yesterday, not paid yet: not due (3 days)", ["FP-800007"])

    b.order(
        "FP-800008",
        "KWD",
        9_125,
        4 * d,
        invoices=[{"invoice_number": "INV-2026-900008", "invoice_date": (b.now - 4 * d).date().isoformat()}],
    )
    b.payment(107, "INV-2026-900008", "KWD", 9_125, 4 * d - 2 * h)
    b.control("KWD paid with the invoice number as reference", ["FP-800008"])

    b.order("FP-800009", "EUR", 7_500, 2 * d)
    b.payment(108, "FP-800009", "EUR", 7_500, 2 * d - h)
    b.refund_requests.append(
        {
            "order_number": "FP-800009",
            "amount_minor": 2_500,
            "reason": "damaged_goods",
            "requested_at": b.at(timedelta(minutes=30)),
        }
    )
    b.control("EUR 25.00 refund requested in FreshPortal; the pipeline executes it", ["FP-800009"])


def build_planted_scenario(now: datetime | str, seed: int = 11) -> dict[str, Any]:
    """The scenario as a JSON-ready dict; same ``now`` and ``seed`` -> same dict."""
    now_dt = parse_ts(now) if isinstance(now, str) else now
    if now_dt is None or now_dt.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_dt = now_dt.astimezone(UTC).replace(microsecond=0)
    b = _Builder(now_dt)
    _planted(b)
    _controls(b)
    return {
        "version": 1,
        "description": (
            "Reconciliation anomalies: every exception kind planted by hand, with clean control "
            "orders (docs/scenario-format.md, 'Planting reconciliation anomalies')"
        ),
        "seed": seed,
        "now": _iso(now_dt),
        "payments": b.payments,
        "freshportal": {"orders": b.orders, "refund_requests": b.refund_requests},
        "demo": {
            "format": FORMAT,
            "go_live": _iso(now_dt - timedelta(minutes=1)),
            "history_orders": sum(1 for o in b.orders if o["confirmed_at"] < _iso(now_dt)),
            "checkout_payments": len(b.payments),
            "decline_card": DECLINE_CARD,
            "approve_card": APPROVE_CARD,
            "customers": b.customers,
            "reconciliation": {"settings": RECON_SETTINGS, "cases": b.cases, "controls": b.controls},
        },
    }


def rebase(scenario: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A copy of ``scenario`` moved to ``now``: instants shifted by ``now - scenario.now``,
    dates by the same number of days, so every age (and every due time) stays as written."""
    old = parse_ts(scenario["now"])
    assert old is not None
    delta = now.astimezone(UTC).replace(microsecond=0) - old
    days = timedelta(days=round(delta / timedelta(days=1)))

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, str) and _ISO.match(value):
            ts = parse_ts(value)
            return _iso(ts + delta) if ts is not None else value
        if isinstance(value, str) and _DATE.match(value):
            return (date.fromisoformat(value) + days).isoformat()
        return value

    moved: dict[str, Any] = move(copy.deepcopy(scenario))
    return moved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cfp_dev.sandbox.planted", description=__doc__.split("\n")[0])
    p.add_argument("--now", default="2026-03-02T10:30:00Z")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    scenario = build_planted_scenario(args.now, args.seed)
    write_scenario(scenario, Path(args.output))
    rec = scenario["demo"]["reconciliation"]
    print(  # noqa: T201 - CLI output
        f"{args.output}: {len(scenario['payments'])} payments, "
        f"{len(scenario['freshportal']['orders'])} orders, "
        f"{len(rec['cases'])} planted cases, {len(rec['controls'])} controls"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
