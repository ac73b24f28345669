"""The shared scenario: both sandboxes load one file, and its orders and payments refer to each other."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from cfp_dev.paths import REPO_ROOT
from cfp_dev.sandbox.checkout import ScenarioError
from cfp_dev.sandbox.cli import add_checkout_parser, config_from_args
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxState
from cfp_dev.sandbox.freshportal.cli import add_freshportal_parser
from cfp_dev.sandbox.freshportal.cli import config_from_args as fp_config_from_args
from cfp_dev.sandbox.shared_scenario import (
    BEHAVIOURS,
    DEFAULT_MIX,
    _mix_counts,
    build_shared_scenario,
    expected_statuses,
    freshportal_distribution,
    load_checkout_world,
    write_scenario,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "scenarios" / "shared-small.json"
EXAMPLE_ARGS = {"now": "2026-03-02T10:30:00Z", "days": 3, "payments_per_day": 8, "open_orders": 10}
NOW = "2026-03-02T10:30:00Z"


@pytest.fixture(scope="module")
def scenario() -> dict:
    return build_shared_scenario(11, now=NOW, days=4, payments_per_day=15, open_orders=12)


def _by_reference(world) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in world.payments.values():
        out.setdefault(p.reference, []).append(p)
    return out


def test_every_order_with_a_payment_matches_its_payments(scenario: dict) -> None:
    world = load_checkout_world(scenario)
    payments = _by_reference(world)
    orders = {o["order_number"]: o for o in scenario["freshportal"]["orders"]}
    open_numbers = {c["order_number"] for c in scenario["demo"]["customers"]}
    money = set(scenario["demo"]["money"]["orders"])  # bent on purpose: test_shared_money.py

    assert len(orders) == len(scenario["freshportal"]["orders"])  # order numbers are unique
    assert set(payments) - money == set(orders) - open_numbers - money  # each reference has its order
    assert scenario["demo"]["history_orders"] == len(set(payments) - money)
    assert scenario["demo"]["checkout_payments"] == len(world.payments)
    for number, order in orders.items():
        if number in money:
            continue
        if number in open_numbers:
            assert number not in payments  # open orders: no payment yet
            assert order["status"] == "confirmed"
            assert order["confirmed_at"] > scenario["demo"]["go_live"]
            continue
        assert order["confirmed_at"] < scenario["demo"]["go_live"]
        for p in payments[number]:
            assert (p.amount, p.currency) == (order["amount_minor"], order["currency"])
            assert p.customer["email"] == order["customer"]["email"]
            assert p.customer["name"] == order["customer"]["name"]
            assert order["customer"]["email"].endswith(".example")  # made up, never a real address


def test_the_freshportal_sandbox_serves_the_same_orders(scenario: dict) -> None:
    state = FreshPortalSandboxState(FreshPortalSandboxConfig.from_scenario(scenario))
    world = load_checkout_world(scenario)
    payments = _by_reference(world)
    assert len(state.orders) == len(scenario["freshportal"]["orders"])
    money = set(scenario["demo"]["money"]["orders"])
    for order in state.orders.values():
        if order.order_number in payments and order.order_number not in money:
            p = payments[order.order_number][0]
            assert (order.amount_minor, order.currency) == (p.amount, p.currency)
            assert order.customer["email"] == p.customer["email"]
        assert order.billing_address["country"]  # a payment link needs a billing country
    snapshot = state.snapshot()
    total = len(scenario["freshportal"]["orders"])
    assert freshportal_distribution(snapshot) == {"-": total}  # nobody wrote a payment status yet


def test_loading_is_deterministic(tmp_path: Path) -> None:
    a = build_shared_scenario(11, now=NOW, days=4, payments_per_day=15, open_orders=12)
    b = build_shared_scenario(11, now=NOW, days=4, payments_per_day=15, open_orders=12)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = build_shared_scenario(12, now=NOW, days=4, payments_per_day=15, open_orders=12)
    assert c["freshportal"]["orders"] != a["freshportal"]["orders"]

    path = write_scenario(a, tmp_path / "shared.json")
    w1, w2 = load_checkout_world(path), load_checkout_world(a)
    assert [(p.id, p.reference, p.amount, p.status) for p in w1.payments.values()] == [
        (p.id, p.reference, p.amount, p.status) for p in w2.payments.values()
    ]
    s1 = FreshPortalSandboxState(FreshPortalSandboxConfig.from_scenario(path)).snapshot()["orders"]
    s2 = FreshPortalSandboxState(FreshPortalSandboxConfig.from_scenario(a)).snapshot()["orders"]
    assert s1 == s2


def test_both_sandbox_clis_accept_the_file() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    add_checkout_parser(sub)
    add_freshportal_parser(sub)
    cko_config = config_from_args(parser.parse_args(["checkout", "--scenario", str(EXAMPLE)]))
    world = load_checkout_world(EXAMPLE)
    assert load_checkout_world(cko_config.scenario_path).payments.keys() == world.payments.keys()
    fp_config = fp_config_from_args(parser.parse_args(["freshportal", "--scenario", str(EXAMPLE)]))
    numbers = {o["order_number"] for o in fp_config.orders}
    assert {p.reference for p in world.payments.values()} <= numbers


def test_the_example_file_is_what_the_builder_writes() -> None:
    """examples/scenarios/shared-small.json is regenerated, never hand-edited (docstring command)."""
    expected = build_shared_scenario(7, **EXAMPLE_ARGS)
    assert json.loads(EXAMPLE.read_text()) == json.loads(json.dumps(expected))


def test_the_checkout_sandbox_still_refuses_unknown_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": 1, "freshportal": {"orders": []}, "fresh_portal": {}}))
    with pytest.raises(ScenarioError, match="fresh_portal: unknown field"):
        load_checkout_world(path)


def test_expected_statuses_follow_the_behaviours(scenario: dict) -> None:
    expected = expected_statuses(scenario)
    assert sum(expected.values()) == len(scenario["freshportal"]["orders"])
    behaviours = Counter(c["behaviour"] for c in scenario["demo"]["customers"])
    assert expected["paid"] == behaviours["pay"] + behaviours["decline_then_pay"]
    assert expected["declined"] == behaviours["decline"]
    assert expected["partially_refunded"] == behaviours["pay_then_refund_part"]
    assert expected["awaiting_payment"] == behaviours["never"]
    assert expected["-"] == scenario["demo"]["history_orders"] + len(scenario["demo"]["money"]["orders"])
    for c in scenario["demo"]["customers"]:
        if c["behaviour"] == "pay_then_refund_part":
            order = next(
                o for o in scenario["freshportal"]["orders"] if o["order_number"] == c["order_number"]
            )
            assert 0 < c["refund_minor"] < order["amount_minor"]


@pytest.mark.parametrize("n", [0, 1, 4, 5, 10, 40, 203])
def test_mix_counts(n: int) -> None:
    names = _mix_counts(n, DEFAULT_MIX)
    assert len(names) == n
    assert set(names) <= set(BEHAVIOURS)
    if n >= len(DEFAULT_MIX):
        assert set(names) == set(BEHAVIOURS)  # every behaviour shows up
    if n == 40:
        assert Counter(names) == {
            "pay": 26,
            "decline_then_pay": 4,
            "decline": 4,
            "pay_then_refund_part": 2,
            "never": 4,
        }


# The shared scenario on the live standalone stack (links, customers, webhooks, sidecar, DAG,
# FreshPortal, then the money cases, each against its expectation) is checked on the whole demo's
# run in tests/security/test_demo_leaks.py: the same small scenario, the same stack, one start of
# Airflow instead of two.

EXAMPLES = REPO_ROOT / "examples" / "scenarios"


def _bad_payment_amount(tmp_path: Path) -> Path:
    data = json.loads((EXAMPLES / "reconciliation-anomalies.json").read_text(encoding="utf-8"))
    data["payments"][0]["amount"] = "12.50"
    path = tmp_path / "bad-amount.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot read: No such file or directory"),
        (b"{bad", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[1, 2]", "(top level): must be a JSON object"),
        (b'{"orders": 5}', "freshportal: missing"),
        (b'{"payments": [], "freshportal": {}, "demo": {}}', "freshportal.orders: missing"),
        (b'{"payments": []}', "cfp sandbox checkout --scenario FILE"),
        ("bad-amount", "payments[0].amount: must be an integer"),
    ],
)
def test_cfp_demo_refuses_a_bad_scenario_file_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str | None, said: str
) -> None:
    from cfp_dev.cli import add_demo_parser

    if content == "bad-amount":
        path = _bad_payment_amount(tmp_path)
    else:
        path = tmp_path / "scenario.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
    parser = argparse.ArgumentParser()
    add_demo_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", "--scenario", str(path)])
    assert args.func(args) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"[demo] --scenario {path}") or out.startswith("[demo] --scenario invalid scenario")
    assert said in out
    assert "Traceback" not in out


@pytest.mark.parametrize("name", ["reconciliation-anomalies.json", "shared-small.json"])
def test_the_shipped_shared_scenarios_pass_the_check(name: str) -> None:
    from cfp_dev.sandbox.shared_scenario import read_scenario

    assert "freshportal" in read_scenario(EXAMPLES / name)
