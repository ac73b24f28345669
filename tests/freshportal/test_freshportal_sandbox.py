"""The simulator itself: deterministic data, scenarios, admin endpoints, quirks, CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import requests

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxState
from cfp_dev.sandbox.freshportal.cli import add_freshportal_parser, config_from_args
from checkout_freshportal.freshportal.client import FreshPortalClient
from checkout_freshportal.freshportal.settings import FreshPortalSettings, SettingsError

NOW = "2024-05-06T12:00:00Z"


def _summary(state: FreshPortalSandboxState) -> list[tuple]:
    return [(o.order_number, o.currency, o.amount_minor, o.status) for o in state.orders.values()]


def test_generation_is_deterministic_per_seed() -> None:
    a = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=1, now=NOW))
    b = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=1, now=NOW))
    c = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=2, now=NOW))
    assert _summary(a) == _summary(b)
    assert _summary(a) != _summary(c)
    assert a.snapshot()["orders"] == b.snapshot()["orders"]
    numbers = [o.order_number for o in a.orders.values()]
    assert len(set(numbers)) == 40
    assert all(n.startswith("FP-1") and len(n) == 9 for n in numbers)
    assert {o.currency for o in a.orders.values()} == {"EUR", "GBP", "USD", "SEK", "JPY", "KWD"}
    assert all(o.amount_minor > 0 and isinstance(o.amount_minor, int) for o in a.orders.values())
    assert a.refunds  # some refund requests come with generated data


def test_scenario_orders_keep_their_values() -> None:
    config = FreshPortalSandboxConfig.from_scenario(
        {
            "seed": 5,
            "now": NOW,
            "freshportal": {
                "orders": [
                    {
                        "order_number": "FP-100234",
                        "currency": "EUR",
                        "amount_minor": 123450,
                        "status": "confirmed",
                    },
                    {
                        "order_number": "FP-100235",
                        "currency": "KWD",
                        "status": "draft",
                        "customer": {"name": "Al Zahra", "email": "a@zahra.example", "country": "KW"},
                        "lines": [{"product_code": "ROS", "quantity": 100, "unit_price_minor": 265}],
                    },
                ],
                "refund_requests": [{"order_number": "FP-100234", "amount_minor": 450}],
            },
        }
    )
    state = FreshPortalSandboxState(config)
    by_number = {o.order_number: o for o in state.orders.values()}
    assert by_number["FP-100234"].amount_minor == 123450
    assert by_number["FP-100234"].confirmed_at is not None
    assert by_number["FP-100235"].amount_minor == 26500
    assert by_number["FP-100235"].customer["country"] == "KW"
    view = state.get_order("FP-100235")
    assert view["total_incl_vat"] == "26.500"
    assert view["lines"][0]["unit_price"] == "0.265"
    (rr,) = state.refunds.values()
    assert rr.order_number == "FP-100234"
    assert rr.amount_minor == 450


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"currency": "EUR", "amount_minor": 1}, "order_number"),
        ({"order_number": "FP-1", "currency": "XXX", "amount_minor": 1}, "currency"),
        ({"order_number": "FP-1", "currency": "EUR", "amount_minor": 1, "colour": "red"}, "unknown key"),
        ({"order_number": "FP-1", "currency": "EUR", "amount_minor": "1.5"}, "integer"),
        ({"order_number": "FP-1", "currency": "EUR", "status": "shipped"}, "status"),
    ],
)
def test_bad_scenario_orders_are_refused(order, message) -> None:
    with pytest.raises(ValueError, match=message):
        FreshPortalSandboxState(FreshPortalSandboxConfig(orders=[order]))


def test_wire_quirks_dates_and_amounts(sandbox) -> None:
    view = sandbox.state.snapshot()
    order = view["orders"][0]
    assert order["order_date"][2] == "-"
    assert order["order_date"][5] == "-"
    assert "T" in order["updated_at"]
    assert order["updated_at"][-6] in "+-"
    assert isinstance(order["total_incl_vat"], str)
    refund = view["refund_requests"][0]
    assert refund["requested_at"][2] == "-"
    assert " " in refund["requested_at"]


def test_admin_endpoints_drive_the_tenant(sandbox) -> None:
    base = sandbox.base_url
    created = requests.post(
        f"{base}/_sandbox/orders",
        json={"order_number": "FP-999001", "currency": "GBP", "amount_minor": 5000, "status": "draft"},
        timeout=5,
    )
    assert created.status_code == 201
    assert created.json()["total_incl_vat"] == "50.00"
    confirmed = requests.post(f"{base}/_sandbox/orders/FP-999001/confirm", timeout=5).json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"]
    invoiced = requests.post(f"{base}/_sandbox/orders/FP-999001/invoice", timeout=5).json()
    assert invoiced["status"] == "invoiced"
    assert invoiced["invoices"][0]["invoice_number"].startswith("INV-")
    rr = requests.post(
        f"{base}/_sandbox/refund-requests",
        json={"order_number": "FP-999001", "amount_minor": 1000},
        timeout=5,
    ).json()
    assert rr["amount"] == "10.00"
    assert rr["status"] == "requested"
    rejected = requests.patch(
        f"{base}/_sandbox/refund-requests/{rr['id']}", json={"status": "rejected"}, timeout=5
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["version"] == 2
    bad = requests.patch(f"{base}/_sandbox/orders/FP-999001", json={"status": "shipped"}, timeout=5)
    assert bad.status_code == 422
    assert "status" in bad.json()["error"]["message"]
    faults = requests.post(f"{base}/_sandbox/faults", json={"fault_429_share": 0.5}, timeout=5).json()
    assert faults["fault_429_share"] == 0.5
    assert requests.post(f"{base}/_sandbox/faults", json={"seed": 1}, timeout=5).status_code == 422
    queued = requests.post(
        f"{base}/_sandbox/faults/next", json={"fault": "500", "path": "/v1/orders"}, timeout=5
    )
    assert queued.json()["queued"][0]["fault"] == "500"


def test_api_refuses_bad_writes(client, sandbox) -> None:
    order = client.get_orders_page(None, 1).items[0]
    headers = {"Authorization": client._tokens.authorization()}
    url = f"{sandbox.base_url}/v1/orders/{order.order_id}/payment"
    too_precise = {"payment_status": "paid", "currency_code": order.currency, "amount_paid": "1.23456"}
    assert requests.put(url, json=too_precise, headers=headers, timeout=5).status_code == 422
    other_currency = "USD" if order.currency != "USD" else "EUR"
    wrong = {"payment_status": "paid", "currency_code": other_currency, "amount_paid": "1"}
    assert (
        requests.put(url, json=wrong, headers=headers, timeout=5).json()["error"]["code"]
        == "currency_mismatch"
    )
    assert (
        requests.put(url, json={"payment_status": "settled"}, headers=headers, timeout=5).status_code == 422
    )
    assert (
        requests.put(url, json={"payment_status": "paid", "extra": 1}, headers=headers, timeout=5).status_code
        == 422
    )
    assert requests.get(f"{sandbox.base_url}/v1/orders", timeout=5).status_code == 401
    assert (
        requests.get(
            f"{sandbox.base_url}/v2/export?mutation_datetime=06-05-2024", headers=headers, timeout=5
        ).status_code
        == 400
    )


def test_cli_parser_and_config(tmp_path) -> None:
    parser = argparse.ArgumentParser(prog="cfp sandbox")
    sub = parser.add_subparsers(dest="sandbox_command", required=True)
    add_freshportal_parser(sub)
    args = parser.parse_args(
        [
            "freshportal",
            "--port",
            "0",
            "--seed",
            "9",
            "--fault-429",
            "0.1",
            "--fault-500-after-commit",
            "0.2",
            "--token-ttl",
            "30",
        ]
    )
    config = config_from_args(args)
    assert (config.seed, config.fault_429_share, config.fault_500_after_commit_share) == (9, 0.1, 0.2)
    assert config.token_ttl_seconds == 30
    assert callable(args.func)
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps({"orders": [{"order_number": "FP-7", "currency": "SEK", "amount_minor": 700}]})
    )
    args = parser.parse_args(["freshportal", "--scenario", str(scenario)])
    config = config_from_args(args)
    assert config.orders
    assert config.orders[0]["order_number"] == "FP-7"
    with pytest.raises(SystemExit):
        parser.parse_args(["freshportal", "--fault-500", "1.5"])


def test_settings_validation() -> None:
    with pytest.raises(SettingsError, match="tenant"):
        FreshPortalSettings(api_key="k")
    with pytest.raises(SettingsError, match="tenant id"):
        FreshPortalSettings(tenant="fp 042", api_key="k")
    with pytest.raises(SettingsError, match="api_key"):
        FreshPortalSettings(tenant="fp042100", api_key="")
    s = FreshPortalSettings(tenant="850255", api_key="secret-key-value")
    assert s.api_base_url == "https://850255-api.freshportal.com/"
    assert "secret-key-value" not in repr(s)
    assert "secret-key-value" not in repr(FreshPortalClient(s))
