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
@pytest.mark.usefixtures("no_demo")
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
    from cfp_dev.sandbox.shared_scenario_check import read_scenario

    assert "freshportal" in read_scenario(EXAMPLES / name)


@pytest.fixture
def no_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the pre-check lets through would start the real demo (and empty .demo): fail instead."""

    def refuse(**_: object) -> int:
        pytest.fail("the pre-check let the scenario through: the demo would have started")

    monkeypatch.setattr("cfp_dev.demo.run.run_demo", refuse)


def _mutated(tmp_path: Path, change) -> Path:
    data = json.loads((EXAMPLES / "reconciliation-anomalies.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "mutated.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _order0(key: str, value: object):
    return lambda d: d["freshportal"]["orders"][0].__setitem__(key, value)


# Each passed the pre-check and was refused only by the FreshPortal sandbox (or not at all),
# after the demo had already deleted the previous run's warehouse, logs and reports.
@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_order0("amount_minor", -48000), "freshportal.orders[0].amount_minor: must be >= 0"),
        (_order0("amount_minor", 480.5), "freshportal.orders[0].amount_minor: must be an integer"),
        (_order0("amount_minor", "480.00"), "freshportal.orders[0].amount_minor: must be an integer"),
        (_order0("currency", "ZZZ"), "freshportal.orders[0].currency: currency 'ZZZ'"),
        (_order0("status", 7), "freshportal.orders[0].status: order status 7 is not one of"),
        (_order0("confirmed_at", "not a time"), "freshportal.orders[0].confirmed_at: not an ISO 8601"),
        (_order0("amount_minr", 48000), "freshportal.orders[0].amount_minr: unknown key"),
        (
            lambda d: d["freshportal"]["orders"].__setitem__(0, 5),
            "freshportal.orders[0]: a scenario order must",
        ),
        (
            lambda d: d["freshportal"]["orders"][0].pop("order_number"),
            "freshportal.orders[0].order_number: is",
        ),
        (
            lambda d: d["freshportal"]["refund_requests"][0].__setitem__("amount_minor", -5),
            "freshportal.refund_requests[0].amount_minor: must be within 1..order amount",
        ),
        (lambda d: d["freshportal"].__setitem__("orderz", []), "freshportal.orderz: unknown key"),
        (lambda d: d["demo"].__setitem__("bogus", 1), "demo.bogus: unknown key"),
        (lambda d: d["demo"].__setitem__("customers", [1, 2]), "demo.customers[1]: must be an object"),
        (lambda d: d["demo"].__setitem__("go_live", "garbage"), "demo.go_live: not a time"),
        (
            lambda d: d["demo"].__setitem__("history_orders", -5),
            "demo.history_orders: must be a whole number",
        ),
        (
            lambda d: d["demo"]["customers"][0].__setitem__("behaviour", "pay_later"),
            "demo.customers[0].behaviour: must be one of",
        ),
        (lambda d: d["payments"][0].__setitem__("amount", 10**30), "payments[0].amount: must be at most"),
    ],
)
@pytest.mark.usefixtures("no_demo")
def test_cfp_demo_refuses_a_bad_freshportal_or_demo_section_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change, said: str
) -> None:
    from cfp_dev.cli import add_demo_parser

    path = _mutated(tmp_path, change)
    parser = argparse.ArgumentParser()
    add_demo_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", "--scenario", str(path)])
    assert args.func(args) == 2
    out = capsys.readouterr().out
    assert said in out
    assert "Traceback" not in out


def test_the_pre_check_lists_every_problem_not_only_the_first(tmp_path: Path) -> None:
    from cfp_dev.sandbox.shared_scenario_check import read_scenario

    def change(d: dict) -> None:
        d["freshportal"]["orders"][0].update(amount_minor="1", currency="ZZZ")
        d["freshportal"]["orders"][3]["status"] = "shipped"
        d["demo"]["history_orders"] = True
        d["payments"][0]["amount"] = "12.50"

    with pytest.raises(ValueError, match="not a shared scenario") as err:
        read_scenario(_mutated(tmp_path, change))
    said = str(err.value)
    for where in (
        "freshportal.orders[0].amount_minor:",
        "freshportal.orders[0].currency:",
        "freshportal.orders[3].status:",
        "demo.history_orders:",
        "payments[0].amount:",
    ):
        assert where in said


@pytest.mark.parametrize("amount", ["480.00", "48000", 480.0, True])
def test_the_freshportal_sandbox_reads_no_amount_from_a_string_or_float(amount: object) -> None:
    """``"480.00"`` was read as 480 minor units: EUR 125.00 became EUR 1.25."""
    order = {"order_number": "FP-1", "currency": "EUR", "amount_minor": amount}
    with pytest.raises(ValueError, match=r"amount_minor: must be an integer \(amounts in minor units"):
        FreshPortalSandboxState(FreshPortalSandboxConfig(orders=[order]))


def test_a_freshportal_amount_beyond_64_bits_is_refused() -> None:
    order = {"order_number": "FP-1", "currency": "EUR", "amount_minor": 2**63}
    with pytest.raises(ValueError, match="must fit a signed 64-bit integer"):
        FreshPortalSandboxState(FreshPortalSandboxConfig(orders=[order]))


def test_a_checkout_payment_amount_beyond_64_bits_is_refused() -> None:
    from cfp_dev.sandbox.checkout.scenario_file import parse_scenario

    base = {"payments": [{"amount": 2**63 - 1, "currency": "EUR", "requested_on": "-1d"}]}
    assert parse_scenario(base).payments[0]["amount"] == 2**63 - 1
    base["payments"][0]["amount"] = 2**63
    with pytest.raises(ScenarioError, match=r"payments\[0\].amount: must be at most 9223372036854775807"):
        parse_scenario(base)


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"demo": ' + "[" * 40 + "]" * 40 + "}"])
@pytest.mark.usefixtures("no_demo")
def test_cfp_demo_refuses_a_deeply_nested_scenario_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    from cfp_dev.cli import add_demo_parser

    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_demo_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", "--scenario", str(path)])
    assert args.func(args) == 2
    out = capsys.readouterr().out
    assert "nested too deeply" in out
    assert "Traceback" not in out
