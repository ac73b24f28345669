"""What real Checkout.com deliveries look like, and the sandbox now sends (docs/sandbox.md).

Each shape a client could wrongly rely on being absent (or present) is checked on the wire:
``+00:00`` timestamps with milliseconds next to ``Z`` ones, pending and expiry events without
``balances``, incremental authorizations, the events-API envelope with ``action_invocations``,
``data.trigger``, sources other than ``card``, dispute events without ``status``. The library's
own parsers read every one of them (the proof that the product copes lives beside the shape).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from cfp_dev.sandbox.checkout import SandboxConfig, build_world
from cfp_dev.sandbox.checkout import events as cko_events
from cfp_dev.sandbox.checkout.clock import cko_ts
from checkout_freshportal.checkout.webhooks import parse_envelope
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse.mappers import payment_row

from .conftest import FIXED_NOW, make_session, pay, wait_until

KEY = "real-shapes-signing-key"
Z_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?Z$")
OFFSET_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
TS_KEYS = {"requested_on", "processed_on", "expires_on", "created_on", "timestamp", "date", "last_update"}


def _timestamps(obj: Any) -> list[str]:
    """Every timestamp-valued field in a JSON document, nested ones included."""
    out: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in TS_KEYS and isinstance(value, str):
                out.append(value)
            else:
                out.extend(_timestamps(value))
    elif isinstance(obj, list):
        for value in obj:
            out.extend(_timestamps(value))
    return out


def _styles(stamps: list[str]) -> Counter[str]:
    styles: Counter[str] = Counter()
    for text in stamps:
        if OFFSET_TS.match(text):
            styles["offset_ms"] += 1
        elif Z_TS.match(text):
            styles["z"] += 1
        else:
            raise AssertionError(f"timestamp in neither style: {text}")
        parse_ts(text)  # the library reads both
    return styles


def _search_all(base: str) -> list[dict[str, Any]]:
    body = {
        "query": "amount:>=0",
        "limit": 1000,
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-04-01T00:00:00Z",
    }
    r = make_session().post(f"{base}/payments/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]


# ------------------------------------------------------------------ timestamps
def test_mixed_style_writes_both_styles_in_api_responses_and_round_trips(shared_sandbox) -> None:
    items = _search_all(shared_sandbox.base_url)
    styles = _styles(_timestamps(items))
    assert styles["offset_ms"] > 0
    assert styles["z"] > 0
    assert styles["z"] > styles["offset_ms"]  # a share, not a coin flip
    with shared_sandbox.world.lock:
        by_id = {p.id: p for p in shared_sandbox.world.payment_list}
    for item in items:  # what a client reads back equals what the sandbox filters on
        assert parse_ts(item["requested_on"]) == by_id[item["id"]].requested_on


def test_style_is_deterministic_per_seed_and_z_or_offset_on_request() -> None:
    def rendered(style: str) -> list[str | None]:
        w = build_world(SandboxConfig(now=FIXED_NOW, days=3, timestamp_style=style))
        return [cko_ts(p.requested_on) for p in w.payment_list]

    mixed = rendered("mixed")
    assert mixed == rendered("mixed")
    assert all(OFFSET_TS.match(t or "") for t in rendered("offset_ms"))
    assert all(Z_TS.match(t or "") for t in rendered("z"))


# ------------------------------------------------------------------ sources
def test_sources_other_than_card_in_api_responses(shared_sandbox) -> None:
    items = _search_all(shared_sandbox.base_url)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_type.setdefault(item["source"]["type"], []).append(item)
        row = payment_row(item)  # the library maps every shape
        assert row["source_type"] == item["source"]["type"]
    assert {"card", "applepay", "googlepay", "paypal", "ideal"} <= set(by_type)
    for kind in ("applepay", "googlepay"):  # wallet tokens resolve to a card
        assert all(len(i["source"]["last4"]) == 4 for i in by_type[kind])
    for kind in ("paypal", "ideal"):
        assert all("last4" not in i["source"] and "bin" not in i["source"] for i in by_type[kind])
        assert all(payment_row(i)["card_last4"] is None for i in by_type[kind])
    assert {i["currency"] for i in by_type["ideal"]} == {"EUR"}


# ------------------------------------------------------------------ webhooks
SCENARIO = {
    "version": 1,
    "now": FIXED_NOW,
    "payments": [
        {  # grows before dispatch: incremental authorization, then one capture of it all
            "reference": "FP-SHAPE-1",
            "amount": 10_000,
            "currency": "EUR",
            "requested_on": "-1h",
            "actions": [
                {"type": "increment", "amount": 1_500, "at": "+2h"},
                {"type": "capture", "amount": 11_500, "at": "+4h"},
            ],
        },
        {  # an APM capture is announced (payment_capture_pending) before it lands
            "reference": "FP-SHAPE-2",
            "amount": 5_000,
            "currency": "EUR",
            "requested_on": "-1h",
            "source_type": "paypal",
            "actions": [{"type": "capture", "at": "+2h"}],
        },
        {  # disputed after capture, won
            "reference": "FP-SHAPE-3",
            "amount": 8_000,
            "currency": "GBP",
            "requested_on": "-1h",
            "source_type": "applepay",
            "actions": [{"type": "capture", "at": "+90m"}],
            "disputes": [{"received_on": "+3h", "outcome": "won", "resolved_on": "+9h"}],
        },
        {  # never captured: the authorization expires
            "reference": "FP-SHAPE-4",
            "amount": 3_000,
            "currency": "EUR",
            "requested_on": "-1h",
            "source_type": "ideal",
            "capture": False,
        },
    ],
}


def _deliveries(sandbox_factory, receiver, tmp_path: Path, **config: Any) -> list[dict[str, Any]]:
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(SCENARIO))
    sb = sandbox_factory(
        scenario_path=str(path),
        clock_speed=1e-9,
        action_delay_seconds=0.0,
        authorization_expiry_days=1,
        pending_expiry_seconds=600,
        **config,
    )
    body = {
        "name": "shapes",
        "actions": [
            {"type": "webhook", "url": receiver.url, "signature": {"method": "HMACSHA256", "key": KEY}}
        ],
    }
    assert make_session().post(f"{sb.base_url}/workflows", json=body).status_code == 201
    pending = pay(make_session(), sb.base_url, amount=2_500, **{"3ds": {"enabled": True}})
    assert pending["status"] == "Pending"
    r = requests.post(f"{sb.base_url}/_sandbox/advance", json={"hours": 30, "payments_per_hour": 0})
    assert r.status_code == 200, r.text

    def settled() -> bool:
        return sb.state.webhooks.pending() == 0

    wait_until(settled, timeout=20)  # a delivery leaves "pending" only after the receiver answered
    docs = [json.loads(b) for b in receiver.bodies()]
    for raw in receiver.bodies():
        parse_envelope(raw)  # the library's envelope parser takes every delivery
    return docs


def _by_type(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["type"], []).append(doc)
    return out


def test_webhook_bodies_have_the_real_shapes(sandbox_factory, receiver, tmp_path) -> None:
    docs = _deliveries(sandbox_factory, receiver, tmp_path, webhook_timestamp_envelope_share=0.5)
    events = _by_type(docs)
    for name in (
        "payment_pending",
        "payment_expired",
        "payment_capture_pending",
        "payment_authorization_incremented",
        "payment_captured",
        "dispute_received",
        "dispute_won",
    ):
        assert name in events, (name, sorted(events))

    # no balances on pending, capture-pending and expiry events; the expiry has an action id
    for name in ("payment_pending", "payment_capture_pending", "payment_expired"):
        for doc in events[name]:
            assert "balances" not in doc["data"], name
    assert len(events["payment_expired"]) == 2  # the 3DS payment left pending, the iDEAL authorization
    for doc in events["payment_expired"]:
        assert doc["data"]["action_id"].startswith("act_")
    (capture_pending,) = events["payment_capture_pending"]
    assert capture_pending["data"]["amount"] == 5_000
    assert capture_pending["data"]["action_id"].startswith("act_")
    paypal_capture = [
        d for d in events["payment_captured"] if d["data"]["id"] == capture_pending["data"]["id"]
    ]
    assert paypal_capture[0]["data"]["action_id"] == capture_pending["data"]["action_id"]

    (increment,) = events["payment_authorization_incremented"]
    assert increment["data"]["amount"] == 1_500
    assert increment["data"]["balances"]["total_authorized"] == 11_500
    assert increment["data"]["balances"]["available_to_capture"] == 11_500
    grown = [d for d in events["payment_captured"] if d["data"]["id"] == increment["data"]["id"]]
    assert grown[0]["data"]["balances"]["total_captured"] == 11_500

    # dispute events: the lifecycle is the type; account ids present; resolved_reason on the end
    for doc in docs:
        if doc["type"].startswith("dispute_"):
            data = doc["data"]
            assert "status" not in data, doc["type"]
            assert data["client_id"].startswith("cli_")
            assert data["entity_id"].startswith("ent_")
            assert data["processing_channel_id"].startswith("pc_")
            assert ("resolved_reason" in data) == (doc["type"] == "dispute_won"), doc["type"]

    # both envelopes; only the events-API one lists its action invocations
    envelopes = Counter("timestamp" if "timestamp" in d else "created_on" for d in docs)
    assert envelopes["timestamp"] > 0
    assert envelopes["created_on"] > 0
    for doc in docs:
        if "timestamp" in doc:
            (invocation,) = doc["action_invocations"]
            assert invocation["workflow_id"].startswith("wf_")
            assert invocation["workflow_action_id"].startswith("wfa_")
        else:
            assert "action_invocations" not in doc


def test_webhook_timestamps_in_offset_style(sandbox_factory, receiver, tmp_path) -> None:
    docs = _deliveries(sandbox_factory, receiver, tmp_path, timestamp_style="offset_ms")
    styles = _styles(_timestamps(docs))
    assert styles["offset_ms"] > 20
    assert styles["z"] == 0


def test_trigger_on_about_half_of_the_action_events() -> None:
    w = build_world(SandboxConfig(now=FIXED_NOW, days=3))
    with_trigger = 0
    actions = 0
    for p in w.payment_list:
        for a in p.actions:
            if a.type in ("Capture", "Refund", "Void"):
                data = cko_events.action_data(p, a, "http://sandbox")
                actions += 1
                if "trigger" in data:
                    assert data["trigger"] == "manual"
                    with_trigger += 1
    assert 0.3 * actions < with_trigger < 0.7 * actions


def test_scenario_file_refuses_impossible_sources_and_increments() -> None:
    import pytest

    from cfp_dev.sandbox.checkout import ScenarioError
    from cfp_dev.sandbox.checkout.ids import IdFactory
    from cfp_dev.sandbox.checkout.scenario_file import parse_scenario
    from cfp_dev.sandbox.checkout.scenario_plans import scenario_plans

    def payment(**extra: Any) -> dict[str, Any]:
        return {"amount": 1_000, "currency": "GBP", "requested_on": "-1h", **extra}

    bad = {
        "version": 1,
        "now": FIXED_NOW,
        "payments": [
            payment(source_type="ideal"),
            payment(actions=[{"type": "increment", "at": "+1h"}]),
            payment(actions=[{"type": "increment", "amount": 5, "at": "+1h", "declined": True}]),
        ],
    }
    with pytest.raises(ScenarioError) as info:
        parse_scenario(bad)
    text = str(info.value)
    assert "payments[0].source_type" in text
    assert "payments[1].actions[0].amount: is required for an increment" in text
    assert "payments[2].actions[0].declined" in text
    late = {
        "version": 1,
        "now": FIXED_NOW,
        "payments": [
            payment(
                actions=[
                    {"type": "capture", "at": "+1h", "final": True},
                    {"type": "increment", "amount": 5, "at": "+2h"},
                ]
            )
        ],
    }
    with pytest.raises(ScenarioError, match="an increment needs an open authorization"):
        scenario_plans(parse_scenario(late), parse_ts(FIXED_NOW), IdFactory(1), 2.0)


def test_token_sources_are_wallets_or_cards_in_the_api(sandbox_factory) -> None:
    base = sandbox_factory(days=0).base_url
    seen: dict[str, dict[str, Any]] = {}
    for i in range(12):
        token = f"tok_{i:02d}realshapes{'x' * 14}"
        body = {
            "source": {"type": "token", "token": token},
            "amount": 1_000,
            "currency": "EUR",
            "capture": False,
        }
        r = make_session().post(f"{base}/payments", json=body)
        assert r.status_code == 201, r.text
        seen[r.json()["source"]["type"]] = r.json()
    assert set(seen) == {"applepay", "googlepay", "card"}
    wallet = make_session().get(f"{base}/payments/{seen['applepay']['id']}").json()
    assert wallet["source"]["type"] == "applepay"
    assert len(wallet["source"]["last4"]) == 4


# ------------------------------------------------------------------ API objects (real_shapes)
def _set_real(base: str, on: bool) -> None:
    r = requests.post(f"{base}/_sandbox/faults", json={"real_shapes": on}, timeout=10)
    assert r.status_code == 200, r.text


def test_real_shapes_search_items_as_checkout_recorded_them(shared_sandbox) -> None:
    base = shared_sandbox.base_url
    _set_real(base, True)
    try:
        items = _search_all(base)
        disputed = next(i for i in items if any(a["type"] == "Dispute" for a in i["actions"]))
        authenticated = [i for i in items if any(a["type"] == "Authentication" for a in i["actions"])]
    finally:
        _set_real(base, False)
    tidy = {i["id"]: i for i in _search_all(base)}
    for item in items:
        was = tidy[item["id"]]
        assert item["status"] == was["status"].lower()
        assert item["payment_type"] == was["payment_type"].lower()
        assert set(item["balances"]) == {"total_authorized", "total_captured", "total_refunded"}
        assert all(item["balances"][k] == was["balances"][k] for k in item["balances"])
        if "card_type" in item["source"]:
            assert item["source"]["card_type"] == was["source"]["card_type"].lower()
        gateway = [a for a in item["actions"] if a["id"].startswith("act_")]
        assert [a["id"] for a in gateway] == [a["id"] for a in was["actions"]]
        for act, old in zip(gateway, was["actions"], strict=True):
            assert "approved" not in act
            assert act["status"] == ("Approved" if old["approved"] else "Declined")
            assert isinstance(act["response_code"], int)
            assert parse_ts(act["processed_on"]) == parse_ts(old["processed_on"])
    assert 0.1 * len(items) < len(authenticated) < 0.4 * len(items)
    for item in [disputed, *authenticated]:
        for pseudo in (a for a in item["actions"] if not a["id"].startswith("act_")):
            try:  # the recorded pseudo-actions carry stamps no strict parser reads
                parse_ts(pseudo["processed_on"])
            except ValueError:
                continue
            raise AssertionError(f"{pseudo['type']} timestamp parsed: {pseudo['processed_on']}")


def test_real_shapes_details_disputes_reports_and_links(shared_sandbox) -> None:
    base = shared_sandbox.base_url
    s = make_session()
    _set_real(base, True)
    try:
        pid = _search_all(base)[0]["id"]
        payment = s.get(f"{base}/payments/{pid}").json()
        disputes = s.get(f"{base}/disputes", params={"limit": 5}).json()["data"]
        details = s.get(f"{base}/disputes/{disputes[0]['id']}").json()
        reports = s.get(f"{base}/reports", params={"created_after": "2026-01-01T00:00:00Z"}).json()
        body = {
            "amount": 1_000,
            "currency": "EUR",
            "billing": {"address": {"country": "NL"}},
            "reference": "R",
        }
        link = s.post(f"{base}/payment-links", json=body).json()
    finally:
        _set_real(base, False)
    assert not {"balances", "amount_requested", "processed_on"} & set(payment)
    assert not {"entity_id", "processing_channel", "reason_code"} & set(disputes[0])
    assert {"method", "arn"} <= set(details["payment"])
    assert "entity_id" not in details
    report = reports["data"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", report["created_on"])
    assert "last_modified_on" not in report
    assert reports["_links"]["next"] == reports["_links"]["self"]  # one page: next is self
    assert set(link) == {"id", "expires_on", "_links"}
    assert set(link["_links"]) == {"redirect"}
