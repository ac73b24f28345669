"""Checked scenario files to payment plans: times resolved, balances replayed, ids drawn.

The second half of reading a scenario file (scenario_file.py checks each field): steps are
replayed in time order against the balances they would leave, so an impossible one (a capture
above what is still authorized, a refund above what is captured, a void after a capture) is
reported at the path where it is written, all problems at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checkout_freshportal.money import exponent

from . import cards
from .ids import IdFactory
from .model import PaymentPlan, PlannedAction, PlannedDispute
from .scenario_file import Scenario, ScenarioError, _Checker


def scenario_plans(
    scenario: Scenario, now: datetime, ids: IdFactory, action_delay: float
) -> list[PaymentPlan]:
    """Resolve times against ``now``, replay balances to check each step, build the plans."""
    ck = _Checker()
    plans: list[PaymentPlan] = []
    for spec in scenario.payments:
        plan = _plan(ck, spec, now, ids, action_delay)
        if plan is not None:
            plans.append(plan)
    if ck.problems:
        raise ScenarioError(scenario.source, ck.problems)
    return plans


def _plan(
    ck: _Checker, spec: dict[str, Any], now: datetime, ids: IdFactory, delay: float
) -> PaymentPlan | None:
    path = spec["path"]
    before = len(ck.problems)
    requested = spec["requested_on"].resolve(now, None)
    card_spec = spec["card"]
    number = str(card_spec.get("number", "4242424242424242")).replace(" ", "")
    card = cards.card_from_number(
        number,
        card_spec.get("expiry_month", 12),
        card_spec.get("expiry_year", 2030),
        ids.new("src"),
        name=card_spec.get("name"),
        issuer_country=card_spec.get("issuer_country", "NL"),
    )
    card.card_type = card_spec.get("card_type", "CREDIT")
    card.card_category = card_spec.get("card_category", "CONSUMER")
    decline = spec.get("decline_code") or cards.DECLINE_CARDS.get(number)
    customer = spec.get("customer")
    if customer is not None and "id" not in customer:
        customer = {"id": ids.new("cus"), **customer}
    plan = PaymentPlan(
        payment_id=spec.get("id") or ids.new("pay"),
        auth_action_id=ids.new("act"),
        requested_on=requested,
        amount=spec["amount"],
        currency=spec["currency"],
        reference=spec.get("reference"),
        card=card,
        customer=customer,
        metadata=spec["metadata"],
        description=spec.get("description"),
        decline_code=decline,
        fees=spec.get("fees"),
        holding_currency=spec.get("holding_currency"),
        payment_type=spec.get("payment_type") or "Regular",
        source_type=spec.get("source_type") or "card",
        processing_channel_id=spec.get("processing_channel_id"),
        capture_settles=spec.get("capture_settles", True),
        payout_adjustment=spec.get("payout_adjustment", 0),
    )
    if decline and (spec["actions"] or spec["disputes"]):
        ck.fail(
            f"{path}.card.number", f"is a decline test card ({decline}); a declined payment has no actions"
        )
        return None
    plan.actions = _steps(ck, spec, plan, now, ids, delay)
    _add_disputes(ck, spec, plan, now, ids)
    _ = exponent(plan.currency)  # already validated; keeps the exponent cache warm for the world
    return plan if len(ck.problems) == before else None


@dataclass
class _Balances:
    """What the steps so far leave, to check the next one the way the API would."""

    capturable: int
    captured: int = 0
    refunded: int = 0
    voided: bool = False


def _steps(
    ck: _Checker, spec: dict[str, Any], plan: PaymentPlan, now: datetime, ids: IdFactory, delay: float
) -> list[PlannedAction]:
    requested, amount = plan.requested_on, plan.amount
    capture = spec.get("capture")
    if capture is None:
        capture = (
            not plan.decline_code
            and amount > 0
            and not any(a["type"] in ("capture", "void", "increment") for a in spec["actions"])
        )
    actions = sorted(spec["actions"], key=lambda a: a["at"].resolve(now, requested))
    steps: list[PlannedAction] = []
    bal = _Balances(capturable=amount)
    if capture and not plan.decline_code and amount > 0:
        steps.append(PlannedAction(requested + timedelta(seconds=delay), "capture", amount, ids.new("act")))
        bal.captured, bal.capturable = amount, 0
    for a in actions:
        at = a["at"].resolve(now, requested)
        if at < requested:
            ck.fail(f"{a['path']}.at", f"is before the payment's requested_on ({requested.isoformat()})")
            continue
        if bal.voided:
            ck.fail(a["path"], "comes after a void; a voided payment takes no further actions")
            continue
        ok, amt = _replay(ck, a, bal)
        if not ok:
            continue
        steps.append(
            PlannedAction(
                at,
                a["type"],
                amt,
                a.get("id") or ids.new("act"),
                reference=a.get("reference"),
                final=a["final"],
                decline_code="20005" if a["declined"] else None,
                metadata=a.get("metadata"),
            )
        )
    return steps


def _replay(ck: _Checker, a: dict[str, Any], bal: _Balances) -> tuple[bool, int | None]:
    """Apply one step to ``bal``; (False, None) after reporting why it cannot happen."""
    kind, apath, amt = a["type"], a["path"], a.get("amount")
    applied = not a["declined"]
    if kind == "capture":
        amt = bal.capturable if amt is None else amt
        if amt > bal.capturable or bal.capturable == 0:
            ck.fail(f"{apath}.amount", f"capture of {amt} exceeds available_to_capture {bal.capturable}")
            return False, None
        if applied:
            bal.captured += amt
            bal.capturable = 0 if a["final"] else bal.capturable - amt
    elif kind == "refund":
        left = bal.captured - bal.refunded
        amt = left if amt is None else amt
        if amt > left or amt == 0:
            ck.fail(f"{apath}.amount", f"refund of {amt} exceeds available_to_refund {left}")
            return False, None
        if applied:
            bal.refunded += amt
    elif kind == "increment":
        amt = a["amount"]  # required on increments by the field checks
        if bal.capturable == 0:
            ck.fail(apath, "an increment needs an open authorization (nothing left to capture)")
            return False, None
        if applied:
            bal.capturable += amt
    elif kind == "void":
        if bal.captured:
            ck.fail(apath, "void after a capture is not allowed (the real API answers 403)")
            return False, None
        if applied:
            bal.voided, bal.capturable = True, 0
        amt = None
    return True, amt


def _add_disputes(
    ck: _Checker, spec: dict[str, Any], plan: PaymentPlan, now: datetime, ids: IdFactory
) -> None:
    requested, steps = plan.requested_on, plan.actions
    for d in spec["disputes"]:
        dpath = d["path"]
        received = d["received_on"].resolve(now, requested)
        captured_then = sum(
            s.amount or 0 for s in steps if s.kind == "capture" and s.at <= received and not s.decline_code
        )
        refunded_then = sum(
            s.amount or 0 for s in steps if s.kind == "refund" and s.at <= received and not s.decline_code
        )
        disputable = captured_then - refunded_then
        if disputable <= 0:
            ck.fail(f"{dpath}.received_on", "nothing captured (and not refunded) at that time to dispute")
            continue
        amt = d.get("amount", disputable)
        if amt > disputable:
            ck.fail(f"{dpath}.amount", f"{amt} exceeds the captured, unrefunded amount {disputable}")
            continue
        resolved = d["resolved_on"].resolve(now, requested) if "resolved_on" in d else None
        plan.disputes.append(_dispute_plan(ids, received, amt, d, resolved))
        if resolved is not None and resolved < received:
            ck.fail(f"{dpath}.resolved_on", "is before received_on")


def _dispute_plan(
    ids: IdFactory, received: datetime, amount: int, d: dict[str, Any], resolved: datetime | None
) -> PlannedDispute:
    outcome = d["outcome"]
    steps: list[tuple[datetime, str]] = []
    if outcome == "evidence_under_review":
        steps = [(resolved or received + timedelta(days=1), "evidence_under_review")]
    elif outcome in ("won", "lost"):
        end = resolved or received + timedelta(days=10)
        steps = [(received + (end - received) / 2, "evidence_under_review"), (end, outcome)]
    elif outcome == "accepted":
        steps = [(resolved or received + timedelta(days=1), "accepted")]
    elif outcome == "expired":
        steps = [(resolved or received + timedelta(days=8), "expired")]
    elif outcome == "canceled":
        steps = [(resolved or received + timedelta(days=2), "canceled")]
    return PlannedDispute(
        dispute_id=ids.new("dsp"),
        received_on=received,
        amount=amount,
        category=d["category"],
        reason_code=d["reason_code"],
        chargeback_action_id=ids.new("act"),
        reversal_action_id=ids.new("act"),
        steps=steps,
        retrieval=outcome == "retrieval",
    )
