"""No full e-mail address in the raw layer or a quarantine row, and nothing lost for matching.

Checkout.com payments carry the customer's address (``customer.email``); the raw layer used to
keep it verbatim (found by the demo's leak scan, tests/security/test_demo_leaks.py). What
reconciliation needs from it is ``sha256(lower(email))`` (``stg_payments.customer_email_hash``),
which the stored copy keeps beside the masked address, so restaging from raw gives the same row.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import sqlalchemy as sa

from checkout_freshportal.warehouse.mappers import email_hash, payment_row
from checkout_freshportal.warehouse.raw import (
    canonical_json,
    insert_raw_objects,
    payload_sha256,
    without_personal_data,
)
from checkout_freshportal.warehouse.schema import raw_api_objects

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))
from wh_helpers import migrated_engine
from wh_samples import PAYMENT

ADDRESS = "J@Example.com"


def _with_text_address() -> dict:
    obj = copy.deepcopy(PAYMENT)
    obj["description"] = "order for jan.devries@example.nl, call back"
    obj["metadata"] = {"notes": ["ask ann@shop.example"], "partner_id": 123989}
    return obj


def test_stored_form_masks_every_address_and_keeps_the_hash() -> None:
    stored = without_personal_data(_with_text_address())
    text = canonical_json(stored)
    for address in (ADDRESS, "jan.devries", "ann@shop"):
        assert address not in text
    assert stored["customer"] == {
        "id": PAYMENT["customer"]["id"],
        "email": "J***@Example.com",
        "email_sha256": email_hash(ADDRESS),
        "name": "J S",
    }
    assert stored["description"] == "order for j***@example.nl, call back"
    assert stored["metadata"] == {"notes": ["ask a***@shop.example"], "partner_id": 123989}
    assert stored["scheme_id"] == PAYMENT["scheme_id"]  # ids and amounts untouched
    assert without_personal_data(stored) == stored  # idempotent: the hash is not recomputed
    assert payload_sha256(stored) == payload_sha256(_with_text_address())


def test_restaging_from_raw_gives_the_same_row(migrated_warehouse_url: str) -> None:
    engine = migrated_engine(migrated_warehouse_url)
    try:
        with engine.begin() as conn:
            assert insert_raw_objects(conn, "checkout.payments", [_with_text_address()]) == 1
            assert insert_raw_objects(conn, "checkout.payments", [PAYMENT | {"description": None}]) == 1
        with engine.connect() as conn:
            payloads = conn.execute(sa.select(raw_api_objects.c.payload)).scalars().all()
    finally:
        engine.dispose()
    for payload in payloads:
        text = json.dumps(payload)  # as stored, not through canonical_json (which masks)
        assert ADDRESS not in text
        assert "jan.devries" not in text
        restaged = payment_row(payload)
        assert restaged["customer_email_hash"] == payment_row(PAYMENT)["customer_email_hash"]
        assert restaged["customer_email_hash"] == email_hash(ADDRESS)
