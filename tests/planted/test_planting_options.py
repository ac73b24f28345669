"""The simulator options a person uses to plant anomalies, each on its own (no pipeline).

docs/scenario-format.md, "Planting reconciliation anomalies": a capture that never settles, a
payout that reports more than its lines, action ids, the payout correction, a payment status
edited by hand in FreshPortal, and refund requests answered before the scenario starts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cfp_dev.paths import REPO_ROOT
from cfp_dev.sandbox.checkout.scenario_file import ScenarioError, parse_scenario
from cfp_dev.sandbox.checkout.settlement import correct_payout
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig
from cfp_dev.sandbox.freshportal.state import FreshPortalSandboxState
from cfp_dev.sandbox.planted import act_id, build_planted_scenario, pay_id, rebase
from cfp_dev.sandbox.shared_scenario import load_checkout_world

EXAMPLE = REPO_ROOT / "examples" / "scenarios" / "reconciliation-anomalies.json"
NOW = "2026-03-02T10:30:00Z"


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text(encoding="utf-8")))


def test_the_example_file_is_what_the_builder_writes(scenario: dict[str, Any]) -> None:
    assert scenario == json.loads(json.dumps(build_planted_scenario(NOW)))


def test_rebase_keeps_every_age(scenario: dict[str, Any]) -> None:
    moved = rebase(scenario, datetime(2026, 12, 6, 18, 0, 5, tzinfo=UTC))
    assert moved["now"] == "2026-12-06T18:00:05Z"
    first = scenario["payments"][0]["requested_on"], moved["payments"][0]["requested_on"]
    assert first == ("2026-02-26T11:30:00Z", "2026-12-02T19:00:05Z")
    assert moved["freshportal"]["orders"][0]["order_date"] == "2026-12-01"


def test_checkout_options(scenario: dict[str, Any]) -> None:
    world = load_checkout_world(scenario)
    unsettled = world.payments[pay_id(11)]
    assert [a.id for a in unsettled.actions if a.type == "Capture"] == [act_id(4)]
    assert unsettled.total_captured == 9_900
    assert act_id(4) not in world.fa_by_action  # captured, never a financial action
    assert [a.id for a in world.payments[pay_id(9)].actions if a.type == "Refund"] == [act_id(3)]

    (payout,) = [
        p
        for p in world.payouts
        if any(world.fa_by_action[a].payment_id == pay_id(12) for a in p.financial_action_ids)
    ]
    reported = payout.amount
    corrected = correct_payout(world, payout.id)
    assert reported - corrected.amount == 250  # KWD 0.250, the planted adjustment
    assert world.reports[-1].type == "Payouts"
    assert world.reports[-1].payout_date == payout.date


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("payout_adjustment", "250", "payout_adjustment: must be a non-zero integer"),
        ("capture_settles", "no", "capture_settles: must be true or false"),
    ],
)
def test_checkout_options_are_checked(field: str, value: Any, message: str) -> None:
    payment = {"amount": 100, "currency": "EUR", "requested_on": "-1d", field: value}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"payments": [payment]})
    bad_id = {"amount": 100, "currency": "EUR", "requested_on": "-1d",
              "actions": [{"type": "refund", "at": "+1d", "id": "act_X"}]}  # fmt: skip
    with pytest.raises(ScenarioError, match=r"actions\[0\]\.id: must look like act_"):
        parse_scenario({"payments": [bad_id]})


def test_freshportal_options(scenario: dict[str, Any]) -> None:
    state = FreshPortalSandboxState(FreshPortalSandboxConfig.from_scenario(scenario))
    answered = [r for r in state.snapshot()["refund_requests"] if r["order_number"] == "FP-810006"]
    assert [(r["status"], r["outcome"]["psp_refund_id"]) for r in answered] == [
        ("refunded", act_id(1)),
        ("refunded", act_id(2)),
    ]
    link = {"payment_status": "awaiting_payment", "payment_link_id": "pl_x", "payment_link_url": "https://x"}
    state.put_payment("FP-810011", link)  # the link write-back names no payment: not edited
    assert state.get_order("FP-810011")["payment"]["payment_status"] == "awaiting_payment"
    state.put_payment("FP-810011", {"payment_status": "paid", "psp_payment_id": "pay_x"})
    assert state.get_order("FP-810011")["payment"]["payment_status"] == "partially_paid"  # by hand
    state.put_payment("FP-810011", {"payment_status": "paid", "psp_payment_id": "pay_x", "sequence": 9})
    assert state.get_order("FP-810011")["payment"]["payment_status"] == "paid"  # once only
