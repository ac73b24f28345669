"""One seeded scenario for both sandboxes: FreshPortal orders and Checkout.com payments that match.

A *shared scenario* is a Checkout.com scenario file (docs/scenario-format.md: ``seed``, ``now``,
``background``) with two more top-level sections:

* ``freshportal``: the FreshPortal sandbox's orders (``FreshPortalSandboxConfig.from_scenario``
  reads them), **derived from the Checkout.com world** that the same file builds: one order per
  payment reference, order number = reference, amount and currency = the payment's, the same
  (made-up, ``.example``) customer. Plus *open* orders: confirmed after go-live, no payment yet.
* ``demo``: what the demo's simulated customers do with the payment link of each open order
  (pay, decline, decline then pay, pay then get a partial refund, never pay) and the FreshPortal
  payment statuses that must result.

Both sandboxes load the same file (``cfp sandbox checkout --scenario F`` and ``cfp sandbox
freshportal --scenario F``), so a payment's reference finds its order and the other way round.
The Checkout.com history depends on the absolute ``now`` (business hours shape it), so a shared
scenario always carries an explicit ``now``; same arguments -> byte-identical file.

Orders of the history were confirmed before ``demo.go_live`` (their payments predate the
integration, so FreshPortal holds no payment status for them); open orders are confirmed at
``now``, after go-live, and are what ``freshportal_payment_requests`` turns into payment links
when run with ``{"settings": {"confirmed_after": go_live}}``.

Regenerate the example file::

    python -m cfp_dev.sandbox.shared_scenario --seed 7 --days 3 --payments-per-day 8 \\
        --open-orders 10 --now 2026-03-02T10:30:00Z -o examples/scenarios/shared-small.json
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checkout_freshportal.timeutil import parse_ts

from . import shared_money
from .checkout import SandboxConfig, World, build_world
from .checkout.generator import order_amount

FORMAT = "cfp-shared-scenario/1"
#: Open orders are numbered from here, far above the Checkout.com generator's references
#: (``FP-100001`` upwards, about two numbers per order), so ``/_sandbox/advance`` never reuses one.
OPEN_ORDER_BASE = 700000
FIRST_ORDER_ID = 480001
#: Decline test card of docs/checkout-com.md#sandbox-test-data (response code 20051, insufficient funds).
DECLINE_CARD = "4544249167673670"
APPROVE_CARD = "4242424242424242"

#: What a customer does with the link of an open order, and the Checkout.com status that results.
BEHAVIOURS: dict[str, str] = {
    "pay": "Captured",
    "decline_then_pay": "Captured",
    "decline": "Declined",
    "pay_then_refund_part": "Partially Refunded",
    "never": "Pending",  # no payment: the order keeps the link's "awaiting payment" status
}
#: Default mix of behaviours (weights): most pay, some decline, some never pay.
DEFAULT_MIX: tuple[tuple[str, int], ...] = (
    ("pay", 65),
    ("decline_then_pay", 10),
    ("decline", 10),
    ("pay_then_refund_part", 5),
    ("never", 10),
)
#: FreshPortal order status of a history order, by its governing Checkout.com payment status.
_ORDER_STATUS_FOR = {
    "Authorized": "picking",
    "Partially Captured": "delivered",
    "Captured": "invoiced",
    "Partially Refunded": "invoiced",
    "Refunded": "invoiced",
    "Voided": "cancelled",
    "Expired": "cancelled",
    "Canceled": "cancelled",
    "Declined": "confirmed",  # never paid; confirmed before go-live, so it gets no link
}
_RANK = {"Declined": 0, "Pending": 1, "Canceled": 2, "Voided": 2, "Expired": 2, "Authorized": 3}


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _resolve_now(now: datetime | str | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(now, str):
        parsed = parse_ts(now)
        assert parsed is not None
        return parsed.astimezone(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def checkout_section(scenario: dict[str, Any]) -> dict[str, Any]:
    """The part the Checkout.com sandbox reads (the rest it ignores)."""
    return {k: v for k, v in scenario.items() if k not in ("freshportal", "demo")}


def load_checkout_world(scenario: dict[str, Any] | str | Path, **config: Any) -> World:
    """Build the Checkout.com world exactly as ``cfp sandbox checkout --scenario`` would."""
    if isinstance(scenario, str | Path):
        return build_world(SandboxConfig(scenario_path=str(scenario), **config))
    with tempfile.TemporaryDirectory(prefix="cfp-shared-") as tmp:
        path = Path(tmp) / "checkout.json"
        path.write_text(json.dumps(checkout_section(scenario)), encoding="utf-8")
        return build_world(SandboxConfig(scenario_path=str(path), **config))


def _governing(payments: list[Any]) -> Any:
    """The payment an order shows: money moved beats an open authorization beats a dead attempt."""

    def rank(p: Any) -> tuple[int, datetime]:
        return (9 if p.total_captured > 0 else _RANK.get(p.status, 1), p.requested_on)

    return max(payments, key=rank)


def _mix_counts(n: int, mix: Sequence[tuple[str, int]]) -> list[str]:
    """``n`` behaviours in the proportions of ``mix`` (largest remainder), in mix order."""
    total = sum(w for _, w in mix)
    exact = [(name, n * w / total) for name, w in mix]
    counts = {name: int(x) for name, x in exact}
    rest = n - sum(counts.values())
    order = [m for m, _ in mix]
    for name, _ in sorted(exact, key=lambda e: (-(e[1] - int(e[1])), order.index(e[0])))[:rest]:
        counts[name] += 1
    # Every behaviour at least once when there are enough orders (small scenarios show them all).
    weighted_names = [name for name, w in mix if w > 0]
    if n >= len(weighted_names):
        for name in weighted_names:
            if counts[name] == 0:
                counts[max(counts, key=lambda k: counts[k])] -= 1
                counts[name] = 1
    return [name for name in order for _ in range(counts[name])]


def build_shared_scenario(
    seed: int = 42,
    *,
    now: datetime | str | None = None,
    days: int = 14,
    payments_per_day: int = 40,
    open_orders: int = 40,
    mix: Sequence[tuple[str, int]] = DEFAULT_MIX,
    go_live_before_now: timedelta = timedelta(minutes=1),
    money_cases: bool = True,
) -> dict[str, Any]:
    """The shared scenario as a JSON-ready dict (see the module docstring).

    ``days`` x ``payments_per_day`` of Checkout.com history (the sandbox's generator, seeded),
    an order for every reference in it, and ``open_orders`` confirmed orders without a payment
    whose customers behave as ``mix`` says. Same arguments (``now`` included) -> same dict.
    ``money_cases`` adds the refund, dispute and manual-capture cases of ``shared_money``.
    """
    unknown = sorted({name for name, _ in mix} - set(BEHAVIOURS))
    if unknown:
        raise ValueError(f"unknown behaviour(s) {unknown}; known: {sorted(BEHAVIOURS)}")
    if open_orders < 0:
        raise ValueError("open_orders must not be negative")
    now_dt = _resolve_now(now)
    go_live = now_dt - go_live_before_now
    scenario: dict[str, Any] = {
        "version": 1,
        "description": (
            f"Shared scenario (seed {seed}): {days} days x {payments_per_day} payments/day of "
            f"Checkout.com history, one FreshPortal order per payment reference, and {open_orders} "
            "open orders confirmed after go-live (see sandbox/shared_scenario.py)"
        ),
        "seed": seed,
        "now": _iso(now_dt),
        "background": {"days": days, "payments_per_day": payments_per_day},
    }
    money = shared_money.money_payments(now_dt) if money_cases else []
    if money:
        scenario["payments"] = money
    money_refs = {p["reference"] for p in money}
    world = load_checkout_world(scenario)
    rng = random.Random(f"shared-scenario-{seed}")

    by_ref: dict[str, list[Any]] = {}
    for p in sorted(world.payments.values(), key=lambda p: (p.requested_on, p.id)):
        if p.reference:
            by_ref.setdefault(p.reference, []).append(p)

    orders: list[dict[str, Any]] = []
    customers: list[dict[str, Any]] = []
    seen_customers: set[str] = set()
    order_id = FIRST_ORDER_ID
    for reference, payments in by_ref.items():
        first = payments[0]
        if any(p.amount != first.amount or p.currency != first.currency for p in payments):
            raise AssertionError(f"payments of {reference} disagree on amount or currency")
        cust = first.customer or {}
        customer = {
            "name": cust.get("name") or "Florist",
            "email": cust.get("email") or "orders@florist.example",
            "country": first.card.issuer_country,
        }
        if customer["email"] not in seen_customers:
            seen_customers.add(customer["email"])
            customers.append({**customer, "currency": first.currency})
        confirmed = first.requested_on.replace(microsecond=0) - timedelta(minutes=rng.randint(5, 90))
        created = confirmed - timedelta(minutes=rng.randint(0, 240))
        status = _governing(payments).status
        order: dict[str, Any] = {
            "order_id": order_id,
            "order_number": reference,
            "status": _ORDER_STATUS_FOR.get(status, "confirmed"),
            "currency": first.currency,
            "amount_minor": first.amount,
            "customer": customer,
            "order_date": created.date().isoformat(),
            "delivery_date": (created + timedelta(days=rng.randint(1, 4))).date().isoformat(),
            "created_at": _iso(created),
            "confirmed_at": _iso(confirmed),
        }
        if order["status"] == "invoiced":
            order["invoices"] = [{"invoice_date": first.requested_on.date().isoformat()}]
        orders.append(order)
        order_id += 1

    behaviours = _mix_counts(open_orders, mix)
    rng.shuffle(behaviours)
    plan: list[dict[str, Any]] = []
    for i, behaviour in enumerate(behaviours):
        buyer = dict(rng.choice(customers)) if customers else None
        currency = buyer.pop("currency") if buyer else rng.choice(("EUR", "GBP", "USD"))
        number = f"FP-{OPEN_ORDER_BASE + i + 1}"
        created = now_dt - timedelta(minutes=rng.randint(1, 120))
        order = {
            "order_id": order_id,
            "order_number": number,
            "status": "confirmed",
            "currency": currency,
            "amount_minor": order_amount(rng, currency),
            "order_date": created.date().isoformat(),
            "delivery_date": (now_dt + timedelta(days=rng.randint(1, 3))).date().isoformat(),
            "created_at": _iso(created),
            "confirmed_at": _iso(now_dt),
        }
        if buyer:
            order["customer"] = buyer
        orders.append(order)
        order_id += 1
        entry: dict[str, Any] = {
            "order_number": number,
            "behaviour": behaviour,
            "checkout_status": BEHAVIOURS[behaviour],
        }
        if behaviour == "pay_then_refund_part":
            entry["refund_minor"] = max(1, order["amount_minor"] * rng.randint(10, 50) // 100)
        plan.append(entry)

    scenario["freshportal"] = {"orders": orders}
    if money:
        _add_money_cases(scenario, orders, order_id, money)
    scenario["demo"] = {
        "format": FORMAT,
        "go_live": _iso(go_live),
        "history_orders": len(by_ref) - len(money_refs),
        "checkout_payments": len(world.payments),
        "decline_card": DECLINE_CARD,
        "approve_card": APPROVE_CARD,
        "customers": plan,
    }
    if money:
        scenario["demo"]["money"] = {
            "orders": sorted([*money_refs, shared_money.UNPAID_ORDER]),
            "capture_channels": [
                {"processing_channel_id": shared_money.MANUAL_CAPTURE_CHANNEL, "auto_capture": False}
            ],
            "disputes": shared_money.money_disputes(money),
        }
    return scenario


def _add_money_cases(
    scenario: dict[str, Any], orders: list[dict[str, Any]], order_id: int, money: list[dict[str, Any]]
) -> None:
    """Refund requests and fulfilment releases on the money-case orders (shared_money.py).

    Two orders are bent on purpose: FP-900003 is in EUR while its payment is GBP (a wrong-currency
    refund), and one order has no payment at all; the expired authorization's order is still
    being picked (the warehouse does not know it lapsed).
    """
    by_ref = {o["order_number"]: o for o in orders}
    by_ref["FP-900003"]["currency"] = "EUR"
    by_ref["FP-900203"]["status"] = "picking"
    template = by_ref[money[0]["reference"]]
    unpaid = {**template, "order_id": order_id, "order_number": shared_money.UNPAID_ORDER}
    unpaid.pop("invoices", None)
    unpaid["status"] = "delivered"
    orders.append(unpaid)
    by_ref[unpaid["order_number"]] = unpaid
    scenario["freshportal"].update(shared_money.money_freshportal(by_ref))


def expected_statuses(scenario: dict[str, Any], mapping: Any = None) -> dict[str, int]:
    """FreshPortal payment status -> number of orders, once the demo's customers have acted.

    Open orders get the tenant mapping's status for their Checkout.com outcome (``never`` keeps
    the link's status, the mapping's ``Pending``); history orders keep no payment status
    (``"-"``), because their payments happened before go-live and send no webhooks.
    """
    if mapping is None:
        from checkout_freshportal.freshportal import load_mapping

        mapping = load_mapping()
    demo = scenario["demo"]
    counts: Counter[str] = Counter()
    for entry in demo["customers"]:
        counts[mapping.payment_status_for(entry["checkout_status"])] += 1
    untouched = demo["history_orders"] + len(demo.get("money", {}).get("orders", []))
    if untouched:  # money-case orders too, until refunds and captures write back (shared_money.py)
        counts["-"] += untouched
    return dict(sorted(counts.items()))


def freshportal_distribution(state: dict[str, Any]) -> dict[str, int]:
    """Payment status -> orders, from the FreshPortal sandbox's ``GET /_sandbox/state``."""
    counts: Counter[str] = Counter()
    for order in state.get("orders", []):
        payment = order.get("payment") or {}
        counts[payment.get("payment_status") or "-"] += 1
    return dict(sorted(counts.items()))


def write_scenario(scenario: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scenario, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cfp_dev.sandbox.shared_scenario",
        description="Write a shared scenario that both sandboxes load (see the module docstring).",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--now", help="ISO 8601 end of history (default: now, to the second)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--payments-per-day", type=int, default=40)
    p.add_argument("--open-orders", type=int, default=40)
    p.add_argument("-o", "--output", required=True, help="file to write")
    args = p.parse_args(argv)
    scenario = build_shared_scenario(
        args.seed,
        now=args.now,
        days=args.days,
        payments_per_day=args.payments_per_day,
        open_orders=args.open_orders,
    )
    write_scenario(scenario, args.output)
    demo = scenario["demo"]
    print(  # noqa: T201 - CLI output
        f"{args.output}: {demo['checkout_payments']} Checkout.com payments, "
        f"{len(scenario['freshportal']['orders'])} FreshPortal orders "
        f"({demo['history_orders']} with payments, {len(demo['customers'])} open)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
