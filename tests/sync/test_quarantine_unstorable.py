"""An item whose text no database column can hold is still quarantined, never a stuck step.

PostgreSQL's JSONB refuses a NUL character and no driver encodes a lone surrogate; a JSON
answer may carry either (``\\u0000``, ``\\ud800``). Such a payment is unreadable like any other:
the quarantine row must keep it (escaped) instead of rolling back the batch with it, run after
run, on both engines.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import quarantine as store

from ingest_fixtures import client_for, migrated_engine

NUL, SURROGATE = "a\u0000b", "a\ud800b"


def test_a_payload_with_a_nul_or_a_lone_surrogate_is_kept_as_escaped_text() -> None:
    assert store.storable_payload({"reference": "plain é"}) == {"reference": "plain é"}
    assert store.storable_payload(None) is None
    lookalike = {store.UNSTORABLE_JSON: "{}"}
    for payload in ({"reference": NUL}, {"reference": SURROGATE}, lookalike):
        kept = store.storable_payload(payload)
        assert set(kept) == {store.UNSTORABLE_JSON}
        assert kept[store.UNSTORABLE_JSON].isascii()
        assert json.loads(kept[store.UNSTORABLE_JSON]) == payload


def test_a_file_whose_listing_entry_has_a_nul_keeps_what_its_retry_needs(migrated_warehouse_url):
    engine = migrated_engine(migrated_warehouse_url)
    meta = {"report_id": "rpt_1", "report_type": "FinancialActions", "filename": f"f{NUL}.csv"}
    failure = store.Failure(
        q.SOURCE_REPORT_FILES, "file_1", "ReportColumnsError: x", "X", store.RAW_PAYLOAD, None, meta, "rpt_1"
    )
    with engine.begin() as conn:
        store.record_failure(conn, failure, max_attempts=3)
    with engine.connect() as conn:
        (due,) = store.open_items(conn, q.SOURCE_REPORT_FILES)
    assert due.payload == meta
    engine.dispose()


def test_an_object_with_a_lone_surrogate_and_no_id_is_still_named() -> None:
    named = q.item_id_of({"reference": SURROGATE})
    assert named.startswith("sha256:")
    assert named == q.item_id_of({"reference": SURROGATE})
    assert named != q.item_id_of({"reference": "a\ud801b"})


def test_an_object_with_a_lone_surrogate_is_kept_in_its_quarantine_row(migrated_warehouse_url):
    """The simulator cannot send a lone surrogate (its JSON is UTF-8), so the store is fed one."""
    engine = migrated_engine(migrated_warehouse_url)
    tally = q.QuarantineTally()
    quarantine = q.Quarantine(
        engine, tally, sources=[q.SOURCE_PAYMENTS], max_attempts=3, max_new=10, run_id="r1"
    )
    payment = {"id": "pay_surrogate", "reference": SURROGATE}
    with engine.begin() as conn:
        raw = q.keep_api_object(conn, q.SOURCE_PAYMENTS, payment, "pay_surrogate", run_id="r1")
        quarantine.isolate(conn, q.SOURCE_PAYMENTS, "pay_surrogate", ValueError(SURROGATE), raw)
    with engine.connect() as conn:
        (kept,) = store.list_items(conn, with_payload=True)
    assert kept.raw_location == store.RAW_PAYLOAD
    assert kept.payload == payment  # read back as received
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select payload from ops_quarantine")).scalar_one()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored[store.UNSTORABLE_JSON].isascii()
    assert kept.payload_sha256 == q.payload_digest(payment)
    assert "\\ud800" in kept.reason
    engine.dispose()


def test_items_with_a_nul_are_quarantined_and_the_rest_lands(sandbox, migrated_warehouse_url):
    client = client_for(sandbox)
    now = parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])
    found = list(client.search_payments(now - timedelta(days=5), now - timedelta(days=2), limit=100))
    reports = sorted(client.list_reports(now - timedelta(days=30), now), key=lambda r: r["created_on"])
    payment, entry = found[len(found) // 2]["id"], reports[1]["id"]
    for victim, patch in ((payment, {"reference": NUL}), (entry, {"created_on": NUL})):
        requests.post(
            f"{sandbox.base_url}/_sandbox/poison", json={"id": victim, "patch": patch}, timeout=10
        ).raise_for_status()
    engine = migrated_engine(migrated_warehouse_url)
    cfg = IngestSettings(settle=timedelta(0))
    pays = ingest.ingest_payments(client, engine, cfg, now=now, run_id="r1")
    reps = ingest.ingest_reports(client, engine, cfg, now=now, run_id="r1")

    # The entry is unreadable on both engines; the payment where the database refuses a NUL
    # (PostgreSQL; SQLite stores it and the payment lands). Both are kept with the text, the
    # rest landed, the watermarks moved, and the loud failure names them.
    postgres = engine.dialect.name == "postgresql"
    assert {i["item_id"] for i in reps.quarantine.new} == {entry}
    assert {i["item_id"] for i in pays.quarantine.new} == ({payment} if postgres else set())
    assert pays.watermark is not None
    assert reps.watermark is not None
    assert parse_ts(reps.watermark) > parse_ts(reports[1]["created_on"])  # moved past the entry
    with engine.connect() as conn:
        staged = set(conn.execute(sa.text("select payment_id from stg_payments")).scalars())
        rows = {i.item_id: i for i in store.list_items(conn, with_payload=True)}
    assert ({p["id"] for p in found} - staged) == ({payment} if postgres else set())
    assert rows[entry].payload["created_on"] == NUL  # kept escaped, read back as received
    if postgres:
        assert rows[payment].payload["reference"] == NUL
    with pytest.raises(ingest.QuarantinedItemsError) as caught:
        ingest.raise_for_quarantine({"payments": pays.quarantine, "reports": reps.quarantine})
    assert entry in str(caught.value)

    # The next run retries them without being blocked by them either.
    again = ingest.ingest_reports(client, engine, cfg, now=now, run_id="r2")
    assert {i["item_id"] for i in again.quarantine.failed_again} == {entry}
    assert again.watermark == reps.watermark
    engine.dispose()
