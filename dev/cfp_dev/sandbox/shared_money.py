"""The money cases of the shared scenario: refund requests, disputes and manual captures (issue 8).

``shared_scenario.build_shared_scenario`` adds these to the file it writes
(docs/scenario-format.md, "Shared scenario: money cases"):

* Checkout.com ``payments`` written out by hand (references ``FP-9xxxxx``), each made for one
  case: captured payments to refund (fully, twice partly, too much, one whose refunds the
  acquirer declines), authorizations never captured (a full refund becomes a void, a partial one
  is refused), a payment in another currency than its order, disputes that end won, lost,
  accepted, expired or still open, a retrieval request, a payment whose refunds Checkout.com
  refuses with a 403 although its balances allow them, and authorizations on the
  manual-capture processing channel;
* FreshPortal ``refund_requests`` and ``fulfilment_releases`` on those orders;
* for each refund request, dispute and release the outcome the demo must see (``expected``).

Reason codes are the lead's stable set (docs/refunds.md); order signals are documented in
docs/scenario-format.md. Times are relative to the scenario's ``now``, so the cases hold for any
``now``; the retrieval request and nothing else happens after ``now`` (2 minutes later): its
webhook is sent when the sandbox clock passes it (the demo freezes the clock, so it advances
``/_sandbox/advance`` by a few minutes to send it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

#: The processing channel configured without auto-capture ("pc_" + 26 characters).
MANUAL_CAPTURE_CHANNEL = "pc_freshportalmanualcapturex1"
#: Reason codes of refund outcomes (defined by the sync; used here exactly).
REFUND_REASON_CODES = (
    "payment_not_found",
    "currency_mismatch",
    "invalid_amount",
    "amount_exceeds_refundable",
    "payment_not_captured",
    "void_not_allowed",
    "duplicate_request",
    "refused_by_checkout",
    "declined",
)
#: Dispute outcome in a scenario file -> (final status at Checkout.com, signal on the order).
DISPUTE_SIGNALS: dict[str, tuple[str, str]] = {
    "won": ("won", "dispute_won"),
    "lost": ("lost", "chargeback"),
    "accepted": ("accepted", "chargeback"),
    "expired": ("expired", "chargeback"),
    "evidence_required": ("evidence_required", "chargeback"),
    "retrieval": ("retrieval", "retrieval_request"),
}
#: An order with no payment at all (refund request -> payment_not_found).
UNPAID_ORDER = "FP-900099"


#: The (made-up) customer of every money-case order.
CUSTOMER = {"email": "claims@bloemist-testcase.example", "name": "Bloemist Testcase"}


def _pay(ref: str, amount: int, currency: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "reference": ref,
        "amount": amount,
        "currency": currency,
        "requested_on": when,
        "customer": dict(CUSTOMER),
        **extra,
    }


def _refund(
    ref: str, amount: int, outcome: str, reason: str | None, refunded: int, kind: str = "refund"
) -> dict[str, Any]:
    assert reason is None or reason in REFUND_REASON_CODES
    expected = {"outcome": outcome, "reason_code": reason, "refunded_amount_minor": refunded}
    if outcome == "succeeded":
        expected["kind"] = kind
    return {"order_number": ref, "amount_minor": amount, "reason": "quality_complaint", "expected": expected}


def _release(
    ref: str, amount: int, *, complete: bool, captured: int, reason: str | None = None
) -> dict[str, Any]:
    """A fulfilment release; a complete one makes the last capture Final."""
    expected = {
        "outcome": "failed" if reason else "succeeded",
        "reason_code": reason,
        "captured_amount_minor": captured,
        "final": complete and not reason,
    }
    return {"order_number": ref, "amount_minor": amount, "complete": complete, "expected": expected}


def money_payments(now: datetime) -> list[dict[str, Any]]:
    """The Checkout.com side: payments (scenario-file format) made for the cases."""
    soon = (now + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    manual = {"capture": False, "processing_channel_id": MANUAL_CAPTURE_CHANNEL}
    return [
        # refunds
        _pay("FP-900001", 12_000, "EUR", "-3d"),
        _pay("FP-900002", 8_000, "EUR", "-3d", actions=[{"type": "refund", "amount": 3_000, "at": "+1d"}]),
        _pay("FP-900003", 5_000, "GBP", "-3d"),
        _pay("FP-900004", 7_000, "EUR", "-1d", capture=False),
        _pay("FP-900005", 6_000, "EUR", "-1d", capture=False),
        _pay("FP-900006", 10_000, "EUR", "-2d"),
        _pay("FP-900007", 4_000, "EUR", "-2d", metadata={"sandbox_decline": "refund"}),
        _pay("FP-900008", 4_500, "EUR", "-2d", metadata={"sandbox_refuse": "refund"}),
        # disputes (final at now) and a retrieval request just after now
        *(
            _pay(f"FP-90010{i}", 5_000 + 500 * i, "EUR", "-10d", disputes=[dispute])
            for i, dispute in enumerate(
                [
                    {"received_on": "-9d", "outcome": "won", "resolved_on": "-2d"},
                    {
                        "received_on": "-9d",
                        "outcome": "lost",
                        "resolved_on": "-2d",
                        "reason_code": "13.1",
                        "category": "product_service_not_received",
                    },
                    {"received_on": "-9d", "outcome": "accepted", "resolved_on": "-8d"},
                    {"received_on": "-9d", "outcome": "expired", "resolved_on": "-1d"},
                    {
                        "received_on": "-1d",
                        "outcome": "evidence_required",
                        "category": "general",
                        "reason_code": "4853",
                    },
                    {"received_on": soon, "outcome": "retrieval", "reason_code": "28"},
                ],
                start=1,
            )
        ),
        # manual capture: released in two shipments, in one, and one already expired
        _pay("FP-900201", 9_000, "EUR", "-1d", **manual),
        _pay("FP-900202", 6_000, "GBP", "-1d", **manual),
        _pay("FP-900203", 3_000, "EUR", "-8d", **manual),
    ]


def money_freshportal(orders_by_ref: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The FreshPortal side: refund requests and fulfilment releases, each with its expectation.

    ``orders_by_ref`` are the orders built for the payments above; FP-900003's order is switched
    to EUR (its payment is GBP) and the unpaid order is added by the caller.
    """
    refunds = [
        _refund("FP-900001", 12_000, "succeeded", None, 12_000),
        _refund("FP-900002", 6_000, "rejected", "amount_exceeds_refundable", 0),
        _refund("FP-900003", 5_000, "rejected", "currency_mismatch", 0),
        _refund("FP-900004", 7_000, "succeeded", None, 7_000, kind="void"),
        _refund("FP-900005", 2_000, "rejected", "payment_not_captured", 0),
        _refund("FP-900006", 2_500, "succeeded", None, 2_500),
        _refund("FP-900006", 3_500, "succeeded", None, 3_500),
        _refund("FP-900007", 1_500, "failed", "declined", 0),
        _refund("FP-900008", 1_000, "failed", "refused_by_checkout", 0),
        _refund(UNPAID_ORDER, 2_000, "rejected", "payment_not_found", 0),
    ]
    for r in refunds:
        assert r["order_number"] in orders_by_ref, r["order_number"]
    releases = [
        _release("FP-900201", 4_000, complete=False, captured=4_000),
        _release("FP-900201", 5_000, complete=True, captured=5_000),
        _release("FP-900202", 6_000, complete=True, captured=6_000),
        _release("FP-900203", 3_000, complete=True, captured=0, reason="authorization_expired"),
    ]
    return {"refund_requests": refunds, "fulfilment_releases": releases}


def money_disputes(payments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo's list of disputes with what each must end in."""
    out = []
    for p in payments:
        for d in p.get("disputes", []):
            final, signal = DISPUTE_SIGNALS[d["outcome"]]
            out.append(
                {
                    "order_number": p["reference"],
                    "outcome": d["outcome"],
                    "expected": {"final_status": final, "order_signal": signal},
                }
            )
    return out
