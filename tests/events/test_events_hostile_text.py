"""One bad event never fails another: hostile text and refused rows, on SQLite and PostgreSQL.

A signed delivery is valid as far as the sidecar checks (``id``, ``type``, ``data.id``) and may
still carry text no warehouse column can hold: a NUL (PostgreSQL refuses it), a lone surrogate
(no driver can encode it) or a 10,000-character "reference". Such an event becomes poison with a
reason that names the field and never the value; the good events of the same batch are applied,
and the next run does not trip over the same batch again. A payment whose row the database
itself refuses (here: a counter beyond its column) is isolated the same way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from checkout_freshportal.checkout.models import Balances
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.status.declines import decline_from_event, declines_from_payment
from checkout_freshportal.sync.status.facts import UnsafeText, fact_from_event, fact_from_payment
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import schema

from events_fixtures import add_order, migrated, rows, store_bodies

MAPPING = load_mapping(environ={})
AT = parse_ts("2026-03-02T10:00:00Z")
NUL, SURROGATE, LONG = "FP-1\x00", "FP-\ud800", "x" * 10_000


def _bal(auth: int, captured: int = 0) -> dict[str, int]:
    return {
        "total_authorized": auth,
        "total_voided": 0,
        "available_to_void": auth - captured,
        "total_captured": captured,
        "available_to_capture": auth - captured,
        "total_refunded": 0,
        "available_to_refund": captured,
    }


def _body(event_id: str, event_type: str, data: dict[str, Any], minute: int = 0) -> bytes:
    envelope = {"id": event_id, "type": event_type, "created_on": f"2026-03-02T10:{minute:02d}:00Z"}
    return json.dumps({**envelope, "data": data}).encode()  # ensure_ascii: "\u0000", "\ud800"


def _approved(event_id: str, pid: str, reference: str, minute: int = 0) -> bytes:
    data = {"id": pid, "amount": 1_000, "currency": "EUR", "reference": reference, "balances": _bal(1_000)}
    return _body(event_id, "payment_approved", data, minute)


def _declined(event_id: str, pid: str, summary: str) -> bytes:
    data = {"id": pid, "reference": "FP-9", "response_code": "20051", "response_summary": summary}
    return _body(event_id, "payment_declined", data)


def _dispute_won(event_id: str, pid: str, resolved_reason: str) -> bytes:
    data = {"id": "dsp_1", "payment_id": pid, "amount": 1_000, "currency": "EUR"}
    return _body(event_id, "dispute_won", {**data, "resolved_reason": resolved_reason}, minute=5)


GOOD = [
    _approved("evt_ok1", "pay_ok1", "FP-1"),
    _body(
        "evt_ok1c", "payment_captured", {"id": "pay_ok1", "amount": 1_000, "balances": _bal(1_000, 1_000)}, 1
    ),
    _approved("evt_ok2", "pay_ok2", "FP-2"),
    _declined("evt_ok3", "pay_ok3", "Insufficient Funds"),
]
BAD = {
    "evt_nul": (_approved("evt_nul", "pay_bad1", NUL), "data.reference holds a NUL"),
    "evt_sur": (
        _approved("evt_sur", "pay_bad2", SURROGATE),
        "data.reference holds a NUL or a lone surrogate",
    ),
    "evt_long": (_approved("evt_long", "pay_bad3", LONG), "data.reference is longer than 80 characters"),
    "evt_summary": (_declined("evt_summary", "pay_bad4", "no\x00funds"), "data.response_summary holds"),
    "evt_summary_long": (_declined("evt_summary_long", "pay_bad5", LONG), "data.response_summary is longer"),
    "evt_reason": (_dispute_won("evt_reason", "pay_ok2", "won\ud800"), "data.resolved_reason holds"),
}


def _poison(engine: sa.Engine) -> dict[str, str]:
    t = schema.raw_webhook_events
    with engine.connect() as conn:
        found = conn.execute(sa.select(t.c.event_id, t.c.poison_reason).where(t.c.is_poison.is_(True)))
        return {r.event_id: r.poison_reason for r in found}


def test_hostile_text_is_poison_and_good_events_apply(migrated_warehouse_url: str) -> None:
    engine = migrated(migrated_warehouse_url)
    add_order(engine, "810001", "FP-1", 1_000)
    bodies = [GOOD[0], BAD["evt_nul"][0], GOOD[1], BAD["evt_sur"][0], BAD["evt_long"][0], GOOD[2]]
    bodies += [BAD["evt_summary"][0], GOOD[3], BAD["evt_summary_long"][0], BAD["evt_reason"][0]]
    store_bodies(engine, bodies)

    result = ev.apply_events(engine, None, MAPPING)

    assert result.events_applied == len(GOOD)
    assert result.events_made_poison == len(BAD) == result.poison_count
    poison = _poison(engine)
    assert set(poison) == set(BAD)
    for event_id, (_, reason) in BAD.items():
        assert reason in poison[event_id], (event_id, poison[event_id])
        assert "FP-1" not in poison[event_id]
        assert "xxxx" not in poison[event_id]
    status = {r["payment_id"]: r for r in rows(engine, schema.stg_payment_status, "payment_id")}
    assert sorted(status) == ["pay_ok1", "pay_ok2", "pay_ok3"]
    assert (status["pay_ok1"]["status"], status["pay_ok1"]["order_id"]) == ("Captured", "810001")
    assert (status["pay_ok2"]["status"], status["pay_ok2"]["dispute_id"]) == ("Authorized", None)
    declines = rows(engine, schema.ops_payment_declines, "decline_id")
    assert [(d["payment_id"], d["response_summary"]) for d in declines] == [("pay_ok3", "Insufficient Funds")]
    assert [r["order_id"] for r in rows(engine, schema.sync_status_outbox, "order_id")] == ["810001"]

    again = ev.apply_events(engine, None, MAPPING)  # the same batch does not fail a second time
    assert (again.events_read, again.poison_count) == (0, len(BAD))


def test_a_refused_row_is_isolated_to_its_payment(migrated_warehouse_url: str, warehouse_kind: str) -> None:
    """The database refuses one payment's row: its events become poison, the rest commit."""
    engine = migrated(migrated_warehouse_url)
    store_bodies(engine, [_approved("evt_full1", "pay_full", "FP-7")])
    assert ev.apply_events(engine, None, MAPPING).events_applied == 1
    # events_applied is an INTEGER: 2**31 - 1 is its last value on PostgreSQL, and SQLite
    # refuses 2**63 from the driver; either way the next event of pay_full cannot be counted.
    limit = 2**31 - 1 if warehouse_kind == "postgres" else 2**63 - 1
    with engine.begin() as conn:
        conn.execute(schema.stg_payment_status.update().values(events_applied=limit))
    capture = {"id": "pay_full", "amount": 1_000, "balances": _bal(1_000, 1_000)}
    store_bodies(
        engine,
        [_body("evt_full2", "payment_captured", capture, 1), GOOD[2], GOOD[3], BAD["evt_nul"][0]],
    )

    result = ev.apply_events(engine, None, MAPPING)

    assert result.events_applied == 2
    assert result.events_made_poison == 2
    poison = _poison(engine)
    assert set(poison) == {"evt_full2", "evt_nul"}
    assert poison["evt_full2"].startswith("apply: the warehouse refused payment pay_full's status (")
    status = {r["payment_id"]: r for r in rows(engine, schema.stg_payment_status, "payment_id")}
    assert sorted(status) == ["pay_full", "pay_ok2", "pay_ok3"]
    assert (status["pay_full"]["status"], status["pay_full"]["events_applied"]) == ("Authorized", limit)
    assert status["pay_ok2"]["events_applied"] == 1  # counted once: the refused try was rolled back
    assert result.payments_changed == 2  # likewise: pay_ok2 and pay_ok3, not the rolled-back ones

    again = ev.apply_events(engine, None, MAPPING)
    assert (again.events_read, again.poison_count) == (0, 2)


@pytest.mark.parametrize("bad", [NUL, SURROGATE, LONG])
def test_readers_refuse_hostile_event_text_and_skip_it_in_api_answers(bad: str) -> None:
    data = {"id": "pay_1", "reference": bad, "balances": _bal(1_000)}
    with pytest.raises(UnsafeText, match=r"^data\.reference "):
        fact_from_event("evt_1", "payment_approved", AT, data)
    with pytest.raises(UnsafeText, match=r"^data\.response_summary "):
        decline_from_event("evt_2", "payment_declined", AT, {"id": "pay_1", "response_summary": bad})
    with pytest.raises(UnsafeText, match=r"^data\.resolved_reason "):
        fact_from_event(
            "evt_3", "dispute_won", AT, {"id": "dsp_1", "payment_id": "pay_1", "resolved_reason": bad}
        )
    with pytest.raises(UnsafeText, match=r"^data\.payment_id "):
        fact_from_event("evt_4", "dispute_won", AT, {"id": "dsp_1", "payment_id": bad})

    snapshot = {"id": "pay_1", "status": "Authorized", "reference": bad, "balances": _bal(1_000)}
    snapshot["actions"] = [{"id": "act_1", "type": "Capture", "approved": False, "response_summary": bad}]
    fact = fact_from_payment(snapshot, AT)  # an API answer cannot be poison: the text is absent
    assert (fact.reference, fact.api_status, fact.balances) == (
        None,
        "Authorized",
        Balances.parse(_bal(1_000)),
    )
    [decline] = declines_from_payment(snapshot)
    assert (decline.action_id, decline.response_summary) == ("act_1", None)


def test_amounts_beyond_bigint_are_no_amounts() -> None:
    data = {"id": "pay_1", "amount": 2**63, "balances": {**_bal(1_000), "total_authorized": 2**63}}
    fact = fact_from_event("evt_1", "payment_approved", AT, data)
    assert fact is not None
    assert (fact.amount, fact.balances) == (None, None)
