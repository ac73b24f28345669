"""The chargeback signal on the order's payment sub-resource: written, read back, refused when wrong."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from checkout_freshportal.freshportal import Chargeback, PaymentStatusUpdate, ValidationError
from checkout_freshportal.freshportal.models import payment_update_body

ORDERS = [
    {"order_number": "FP-40000", "currency": "EUR", "amount_minor": 10000, "status": "invoiced"},
    {"order_number": "FP-40001", "currency": "JPY", "amount_minor": 14000, "status": "invoiced"},
]
CHARGEBACK = Chargeback(
    dispute_id="dsp_rbhwd2qrg13uhrp2newf",
    amount_minor=2550,
    currency="EUR",
    status="evidence_required",
    category="fraudulent",
    reason_code="10.4",
    evidence_required_by=datetime(2024, 6, 1, 23, 59, 59, tzinfo=UTC),
    updated_at=datetime(2024, 5, 20, 8, 0, tzinfo=UTC),
)


@pytest.fixture
def shop(make_sandbox):
    return make_sandbox(orders=ORDERS)


def _update(**extra: Any) -> PaymentStatusUpdate:
    fields: dict[str, Any] = {
        "status": "disputed",
        "currency": "EUR",
        "amount_paid_minor": 10000,
        "payment_id": "pay_1",
        "chargeback": CHARGEBACK,
    }
    return PaymentStatusUpdate(**{**fields, **extra})


def _put(server, order: str, body: dict[str, Any]) -> requests.Response:
    token = requests.post(
        f"{server.base_url}/v1/auth", json={"username": server.api_key, "type": "api"}, timeout=5
    ).json()["token"]
    return requests.put(
        f"{server.base_url}/v1/orders/{order}/payment",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def _order_id(client, number: str) -> str:
    return next(o.order_id for o in client.iter_orders_changed(None) if o.order_number == number)


def test_chargeback_round_trip_and_clearing(shop, make_client) -> None:
    client = make_client(shop)
    oid = _order_id(client, "FP-40000")
    written = client.write_payment_status(oid, _update())
    assert written.chargeback == CHARGEBACK
    assert client.get_order(oid).payment.chargeback == CHARGEBACK
    won = replace(CHARGEBACK, status="won", evidence_required_by=None)
    assert client.write_payment_status(oid, _update(status="paid", chargeback=won)).chargeback == won
    cleared = client.write_payment_status(oid, _update(status="paid", chargeback=None))
    assert cleared.chargeback is None
    order_view = next(o for o in _state(shop)["orders"] if o["order_number"] == "FP-40000")
    history = [p["chargeback"] for p in order_view["_sandbox"]["payment_history"]]
    assert [h and h["status"] for h in history] == ["evidence_required", "won", None]
    assert history[0]["amount"] == "25.50"
    assert history[0]["evidence_required_by"] == "2024-06-02T01:59:59+02:00"


def test_identical_chargeback_write_is_a_no_op(shop, make_client) -> None:
    client = make_client(shop)
    oid = _order_id(client, "FP-40000")
    client.write_payment_status(oid, _update())
    version = client.get_order(oid).version
    client.write_payment_status(oid, _update())
    assert client.get_order(oid).version == version
    order_view = next(o for o in _state(shop)["orders"] if o["order_number"] == "FP-40000")
    assert order_view["_sandbox"]["payment_puts"] == 2
    assert len(order_view["_sandbox"]["payment_history"]) == 1


def _state(server) -> dict:
    return requests.get(f"{server.base_url}/_sandbox/state", timeout=5).json()


def _body(client, **chargeback: Any) -> dict[str, Any]:
    body = payment_update_body(_update(), client.mapping)
    body["chargeback"] = {**body["chargeback"], **chargeback}
    return body


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"currency_code": "GBP"}, "currency_mismatch"),
        ({"amount": "25.505"}, "invalid_request"),
        ({"amount": "25,50"}, "invalid_request"),
        ({"amount": None}, "invalid_request"),
        ({"dispute_id": None}, "invalid_request"),
        ({"status": 3}, "invalid_request"),
        ({"evidence_required_by": "01-06-2024 23:59"}, "invalid_request"),
        ({"scheme_secret": "x"}, "unknown_field"),
    ],
)
def test_bad_chargeback_bodies_are_refused(shop, make_client, change, code) -> None:
    client = make_client(shop)
    oid = _order_id(client, "FP-40000")
    r = _put(shop, oid, _body(client, **change))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert client.get_order(oid).payment is None  # nothing stored


def test_float_amount_in_a_zero_decimal_currency_is_refused(shop, make_client) -> None:
    client = make_client(shop)
    oid = _order_id(client, "FP-40001")
    body = payment_update_body(
        _update(currency="JPY", amount_paid_minor=14000, chargeback=replace(CHARGEBACK, currency="JPY")),
        client.mapping,
    )
    body["chargeback"]["amount"] = 2550.5  # a JSON number with a fraction of a yen
    r = _put(shop, oid, body)
    assert r.status_code == 422
    body["chargeback"]["amount"] = "2550"
    assert _put(shop, oid, body).status_code == 200
    assert client.get_order(oid).payment.chargeback.amount_minor == 2550


def test_client_refuses_a_chargeback_of_the_wrong_currency_via_the_server(shop, make_client) -> None:
    client = make_client(shop)
    oid = _order_id(client, "FP-40000")
    with pytest.raises(ValidationError) as info:
        client.write_payment_status(oid, _update(chargeback=replace(CHARGEBACK, currency="USD")))
    assert info.value.code == "currency_mismatch"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount_minor": 25.5}, "amount_minor"),
        ({"amount_minor": -1}, "amount_minor"),
        ({"currency": "XXQ"}, "currency"),
        ({"dispute_id": ""}, "dispute_id"),
        ({"evidence_required_by": datetime(2024, 6, 1)}, "naive|offset|timezone|aware"),
    ],
)
def test_chargeback_model_refuses_bad_values(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        replace(CHARGEBACK, **fields)
