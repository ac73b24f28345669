"""Captures, refunds and voids: 202 then the outcome, exact balances, 403 and 422 answers."""

from __future__ import annotations

import pytest

from .conftest import make_session, pay, wait_until


@pytest.fixture
def live(sandbox_factory):
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    return sb, make_session()


def _balances(api, base: str, pid: str) -> dict:
    return api.get(f"{base}/payments/{pid}").json()["balances"]


def _settled(api, base: str, pid: str, **expected: int) -> dict:
    def check():
        b = _balances(api, base, pid)
        return b if all(b[k] == v for k, v in expected.items()) else None

    return wait_until(check, timeout=3)


def test_auto_capture_then_partial_and_full_refunds(live) -> None:
    sb, api = live
    base = sb.base_url
    created = pay(api, base, amount=10_000)
    assert created["status"] == "Authorized"
    assert created["balances"]["available_to_capture"] == 10_000
    _settled(
        api, base, created["id"], total_captured=10_000, available_to_capture=0, available_to_refund=10_000
    )
    r = api.post(f"{base}/payments/{created['id']}/refunds", json={"amount": 2_500, "reference": "R1"})
    assert r.status_code == 202
    assert r.json()["reference"] == "R1"
    assert r.json()["action_id"].startswith("act_")
    b = _settled(api, base, created["id"], total_refunded=2_500)
    assert b["available_to_refund"] == 7_500
    assert api.get(f"{base}/payments/{created['id']}").json()["status"] == "Partially Refunded"
    over = api.post(f"{base}/payments/{created['id']}/refunds", json={"amount": 7_501})
    assert over.status_code == 422
    assert over.json()["error_codes"] == ["amount_exceeds_balance"]
    assert api.post(f"{base}/payments/{created['id']}/refunds", json={}).status_code == 202  # rest
    _settled(api, base, created["id"], total_refunded=10_000, available_to_refund=0)
    details = api.get(f"{base}/payments/{created['id']}").json()
    assert details["status"] == "Refunded"
    assert "refund" not in details["_links"]
    again = api.post(f"{base}/payments/{created['id']}/refunds", json={"amount": 1})
    assert again.status_code == 403
    assert again.content == b""
    actions = api.get(f"{base}/payments/{created['id']}/actions").json()
    assert [a["type"] for a in actions] == ["Refund", "Refund", "Capture", "Authorization"]


def test_partial_captures_and_limits(live) -> None:
    sb, api = live
    base = sb.base_url
    pid = pay(api, base, amount=9_000, capture=False)["id"]
    refund = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100})
    assert refund.status_code == 403
    assert refund.content == b""
    assert api.post(f"{base}/payments/{pid}/captures", json={"amount": 4_000}).status_code == 202
    too_much = api.post(f"{base}/payments/{pid}/captures", json={"amount": 6_000})  # 4000 still in flight
    assert too_much.status_code == 422
    assert too_much.json()["error_codes"] == ["capture_value_greater_than_remaining_authorized"]
    assert api.post(f"{base}/payments/{pid}/captures", json={"amount": 9_001}).json()["error_codes"] == [
        "capture_value_greater_than_authorized"
    ]
    assert api.post(f"{base}/payments/{pid}/captures", json={"amount": -1}).json()["error_codes"] == [
        "amount_invalid"
    ]
    b = _settled(api, base, pid, total_captured=4_000)
    assert b["available_to_capture"] == 5_000
    assert b["available_to_void"] == 0
    assert api.get(f"{base}/payments/{pid}").json()["status"] == "Partially Captured"
    void = api.post(f"{base}/payments/{pid}/voids", json={})
    assert void.status_code == 403
    assert void.content == b""
    assert (
        api.post(
            f"{base}/payments/{pid}/captures", json={"amount": 1_000, "capture_type": "Final"}
        ).status_code
        == 202
    )
    b = _settled(api, base, pid, total_captured=5_000, available_to_capture=0)
    assert b["total_voided"] == 0
    assert b["available_to_refund"] == 5_000
    assert api.get(f"{base}/payments/{pid}").json()["status"] == "Captured"
    assert api.post(f"{base}/payments/{pid}/captures", json={}).status_code == 403


def test_void_then_nothing_else(live) -> None:
    sb, api = live
    base = sb.base_url
    pid = pay(api, base, amount=5_000, capture=False)["id"]
    details = api.get(f"{base}/payments/{pid}").json()
    assert {"capture", "void"} <= set(details["_links"])
    assert "refund" not in details["_links"]
    assert api.post(f"{base}/payments/{pid}/voids", json={"reference": "cancel"}).status_code == 202
    b = _settled(api, base, pid, total_voided=5_000, available_to_void=0, available_to_capture=0)
    assert b["total_captured"] == 0
    assert api.get(f"{base}/payments/{pid}").json()["status"] == "Voided"
    for path in ("captures", "voids", "refunds"):
        r = api.post(f"{base}/payments/{pid}/{path}", json={})
        assert (r.status_code, r.content) == (403, b""), path
    assert api.post(f"{base}/payments/pay_unknownunknownunknownunknow/captures", json={}).status_code == 404


def test_payment_request_validation_and_declines(live) -> None:
    sb, api = live
    base = sb.base_url
    r = api.post(f"{base}/payments", json={"amount": 100})
    assert r.status_code == 422
    assert set(r.json()["error_codes"]) == {"payment_source_required", "currency_required"}
    r = api.post(
        f"{base}/payments",
        json={
            "source": {"type": "card", "number": "4242424242424241", "expiry_month": 1, "expiry_year": 2030},
            "amount": "12.50",
            "currency": "XXX",
        },
    )
    assert set(r.json()["error_codes"]) == {"card_number_invalid", "amount_invalid", "currency_invalid"}
    declined = pay(
        api,
        base,
        source={"type": "card", "number": "4544249167673670", "expiry_month": 1, "expiry_year": 2030},
    )
    assert declined["approved"] is False
    assert declined["status"] == "Declined"
    assert declined["response_code"] == "20051"
    assert declined["balances"]["total_authorized"] == 0
    pending = pay(api, base, **{"3ds": {"enabled": True}})
    assert pending["status"] == "Pending"
    assert pending["_links"]["redirect"]["href"]
    # JPY has no minor unit, KWD three: amounts are minor units as given
    jpy = pay(api, base, amount=5_000, currency="JPY")
    assert jpy["amount"] == 5_000
    assert jpy["currency"] == "JPY"
