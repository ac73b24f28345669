"""No full e-mail address in ``raw_webhook_events.body``, and nothing else changed.

Checkout.com's payment webhooks carry ``data.customer.email``; the sidecar stored the body byte
for byte, so every paying customer's address reached the warehouse (found by the demo's leak
scan, tests/security/test_demo_leaks.py). The stored body now has its addresses masked; the
event's id, type, subject and ``body_sha256`` (of the bytes as received) are what they were, and
the stored body still parses to the same event for ``checkout_events`` and ``cfp replay``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from checkout_freshportal.checkout.webhooks import body_sha256, parse_envelope, poison_event_id
from checkout_freshportal.freshportal.privacy import mask_emails_in_bytes
from checkout_freshportal.sidecar.store import insert_batch, record_from_body, refused_record
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events

EVENT = {
    "id": "evt_az5sblvku4ge3dwpztvyizgcau",
    "type": "payment_captured",
    "created_on": "2026-12-06T10:00:00Z",
    "data": {
        "id": "pay_mbabizu24mvu3mela5njyhpit4",
        "amount": 6540,
        "currency": "EUR",
        "reference": "FP-700001",
        "customer": {"id": "cus_udst2tfldj6upmye2reztkmm4i", "email": "Jan.de-Vries+shop@Example.NL"},
        "metadata": {"note": "ship to ann@shop.example"},
    },
}


def test_a_payment_event_is_stored_without_addresses() -> None:
    raw = json.dumps(EVENT).encode()
    record = record_from_body(raw, 0)
    assert not record.is_poison
    assert b"Jan.de-Vries" not in record.body
    assert b"ann@shop" not in record.body
    stored = json.loads(record.body)
    assert stored["data"]["customer"]["email"] == "J***@Example.NL"
    assert stored["data"]["metadata"]["note"] == "ship to a***@shop.example"
    env = parse_envelope(record.body)  # what checkout_events and cfp replay read
    assert (env.id, env.type, env.subject_id) == (record.event_id, record.event_type, record.subject_id)
    assert record.row(datetime.now(UTC))["body_sha256"] == body_sha256(raw)


def test_bytes_without_an_address_are_kept_as_they_are() -> None:
    raw = b'{"id":"evt_1","type":"payment_approved","data":{"id":"pay_1","x":"\xff\x00@"}}'
    assert mask_emails_in_bytes(raw) is raw or mask_emails_in_bytes(raw) == raw


def test_poison_and_refused_rows_are_masked_too() -> None:
    raw = b'{"id": "evt_x", "customer": "ann@shop.example", not json'
    poison = record_from_body(raw, 0)
    assert poison.is_poison
    assert b"ann@shop" not in poison.body
    assert poison.row(datetime.now(UTC))["body_sha256"] == body_sha256(raw)
    refused = refused_record(record_from_body(json.dumps(EVENT).encode(), 0), ValueError("x"))
    assert b"Jan.de-Vries" not in refused.body
    assert refused.event_id == poison_event_id(refused.body)


def test_through_the_batch_insert(migrated_warehouse_url: str) -> None:
    engine = make_engine(migrated_warehouse_url)
    try:
        with engine.begin() as conn:
            insert_batch(conn, [record_from_body(json.dumps(EVENT).encode(), 0)], datetime.now(UTC))
        with engine.connect() as conn:
            body, digest = conn.execute(
                sa.select(raw_webhook_events.c.body, raw_webhook_events.c.body_sha256)
            ).one()
    finally:
        engine.dispose()
    assert digest == body_sha256(json.dumps(EVENT).encode())  # of the delivery, as received
    assert b"@Example.NL" in bytes(body)
    assert b"Jan.de-Vries" not in bytes(body)
