"""Raw API objects (insert-if-absent by content), watermarks (never backwards, transactional), and
mapped rows landing through upsert on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from checkout_freshportal.timeutil import format_ts
from checkout_freshportal.warehouse import (
    action_rows,
    dispute_row,
    get_watermark,
    get_watermark_ts,
    insert_raw_objects,
    payment_row,
    schema,
    set_watermark,
    set_watermark_ts,
    upsert,
)
from checkout_freshportal.warehouse.mappers import email_hash
from checkout_freshportal.warehouse.raw import payload_sha256

from wh_helpers import migrated_engine, rows_of
from wh_samples import ACTIONS, DISPUTE, PAYMENT


@pytest.fixture
def engine(migrated_warehouse_url: str):
    eng = migrated_engine(migrated_warehouse_url)
    yield eng
    eng.dispose()


def test_raw_objects_are_stored_once_per_content(engine: sa.Engine) -> None:
    objs = [{"id": "pay_1", "status": "Authorized", "amount": 100}, {"id": "pay_2", "status": "Captured"}]
    with engine.begin() as conn:
        assert insert_raw_objects(conn, "checkout.payments", objs, run_id="r1") == 2
    with engine.begin() as conn:  # same content, other key order: nothing new
        reordered = [{"amount": 100, "status": "Authorized", "id": "pay_1"}, objs[1]]
        assert insert_raw_objects(conn, "checkout.payments", reordered) == 0
    with engine.begin() as conn:  # pay_1 changed: a new version; duplicates in one call count once
        changed = {"id": "pay_1", "status": "Captured", "amount": 100}
        assert insert_raw_objects(conn, "checkout.payments", [changed, changed]) == 1
    with engine.begin() as conn:  # same object from another feed is another raw row
        assert insert_raw_objects(conn, "checkout.search", [objs[1]]) == 1
    with engine.connect() as conn:
        rows = rows_of(conn, schema.raw_api_objects, "source", "object_id", "fetched_at")
    assert len(rows) == 4
    assert rows[0]["payload"] == objs[0]
    assert rows[0]["run_id"] == "r1"
    assert rows[0]["payload_sha256"] == payload_sha256(objs[0])


def test_raw_objects_realistic_payloads_and_decimals(engine: sa.Engine) -> None:
    fin = {"action_id": "act_1", "breakdown": [{"holding_currency_amount": Decimal("0.19526938")}]}
    with engine.begin() as conn:
        assert insert_raw_objects(conn, "checkout.payments", [PAYMENT]) == 1
        assert insert_raw_objects(conn, "checkout.financial_actions", [fin], id_key="action_id") == 1
        assert insert_raw_objects(conn, "checkout.payment_actions", ACTIONS) == 2
    with engine.connect() as conn:
        stored = {r["object_id"]: r["payload"] for r in rows_of(conn, schema.raw_api_objects)}
    # verbatim but for the customer's address: masked, its hash beside it (docs/security.md)
    masked = {"email": "J***@Example.com", "email_sha256": email_hash("J@Example.com")}
    customer = {**PAYMENT["customer"], **masked}
    assert stored["pay_gjulv7byhhwerb3jyx2547xlme"] == {**PAYMENT, "customer": customer}
    assert stored["act_1"]["breakdown"][0]["holding_currency_amount"] == "0.19526938"  # exact, as text


def test_raw_object_without_id_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="no 'id'"), engine.begin() as conn:
        insert_raw_objects(conn, "checkout.payments", [{"status": "x"}])


def test_watermark_moves_forward_only(engine: sa.Engine) -> None:
    t1 = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        assert get_watermark(conn, "s") is None
        assert get_watermark_ts(conn, "s") is None
        assert set_watermark(conn, "s", format_ts(t1), run_id="run-1")
    with engine.begin() as conn:
        assert set_watermark_ts(conn, "s", t1 + timedelta(hours=1), run_id="run-2")
        assert not set_watermark_ts(conn, "s", t1 + timedelta(minutes=5), run_id="late-retry")  # kept
        # an equivalent spelling of an older instant is older, whatever the text order says
        assert not set_watermark(conn, "s", "2026-01-01T02:00:00+02:00")
    with engine.connect() as conn:
        assert get_watermark_ts(conn, "s") == t1 + timedelta(hours=1)
        row = rows_of(conn, schema.sync_watermarks)[0]
    assert row["run_id"] == "run-2"
    with engine.begin() as conn:
        assert set_watermark_ts(conn, "s", t1, allow_backwards=True)
        assert get_watermark_ts(conn, "s") == t1


def test_integer_and_text_watermarks(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        set_watermark(conn, "n", 9)
        assert set_watermark(conn, "n", 10)  # numeric, not text order
        assert not set_watermark(conn, "n", 2)
        assert get_watermark(conn, "n") == "10"
        with pytest.raises(TypeError):
            set_watermark(conn, "n", True)  # type: ignore[arg-type]


def test_watermark_rolls_back_with_the_data(engine: sa.Engine) -> None:
    """Written in the transaction that lands the rows: a failure leaves neither."""

    def land_then_fail() -> None:
        with engine.begin() as conn:
            upsert(conn, schema.stg_disputes, [dispute_row(DISPUTE)], ["dispute_id"])
            set_watermark(conn, "checkout.disputes.last_update", "2020-04-26T20:47:44Z")
            raise RuntimeError("the load failed after the watermark was set")

    with pytest.raises(RuntimeError):
        land_then_fail()
    with engine.connect() as conn:
        assert get_watermark(conn, "checkout.disputes.last_update") is None
        assert rows_of(conn, schema.stg_disputes) == []


def test_mapped_rows_land_and_reland_unchanged(engine: sa.Engine) -> None:
    pay = [payment_row(PAYMENT)]
    acts = action_rows(PAYMENT["id"], ACTIONS, currency="USD")
    disp = [dispute_row(DISPUTE)]
    for _ in range(2):
        with engine.begin() as conn:
            r1 = upsert(conn, schema.stg_payments, pay, ["payment_id"])
            r2 = upsert(conn, schema.stg_payment_actions, acts, ["action_id"])
            r3 = upsert(conn, schema.stg_disputes, disp, ["dispute_id"])
    assert (r1.unchanged, r2.unchanged, r3.unchanged) == (1, 2, 1)
    # a later summary action (no amount, no date) does not erase what the full one said
    summary = action_rows(
        PAYMENT["id"],
        [
            {
                "id": ACTIONS[0]["id"],
                "type": "Capture",
                "response_code": "10000",
                "response_summary": "Approved",
            }
        ],
    )
    with engine.begin() as conn:
        assert upsert(conn, schema.stg_payment_actions, summary, ["action_id"]).unchanged == 1
    with engine.connect() as conn:
        stored = {r["action_id"]: r for r in rows_of(conn, schema.stg_payment_actions)}
        payment = rows_of(conn, schema.stg_payments)[0]
    cap = stored[ACTIONS[0]["id"]]
    assert (cap["amount_minor"], cap["currency"], cap["processed_on"]) == (
        100,
        "USD",
        datetime(2020, 1, 29, 11, 53, 40, tzinfo=UTC),
    )
    assert payment["metadata"] == PAYMENT["metadata"]
    assert payment["approved"] is True
