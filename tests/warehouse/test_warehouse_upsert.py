"""upsert() and copy_merge(): exact counts, idempotency, updated_at, preserve_non_null, lineage."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.bulk import copy_merge
from checkout_freshportal.warehouse.upsert import UpsertResult, upsert

from wh_helpers import migrated_engine, rows_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def payment(i: int, **over) -> dict:
    row = {
        "payment_id": f"pay_{i:04d}",
        "status": "Captured",
        "requested_on": T0 + timedelta(minutes=i),
        "currency": "EUR",
        "amount_minor": 100 + i,
        "total_captured_minor": 100 + i,
        "total_refunded_minor": 0,
        "reference": f"ORD-{i}",
        "metadata": {"b": 2, "a": [1, {"x": None}]},
        "source": "test",
    }
    row.update(over)
    return row


def fa(action: str, breakdown: str = "Gross", amount: int = 1000, **over) -> dict:
    row = {
        "line_key": hashlib.md5(f"{action}|{breakdown}".encode()).hexdigest(),
        "occurrence": 1,
        "action_id": action,
        "breakdown_type": breakdown,
        "action_type": "Capture",
        "payment_id": "pay_" + action,
        "reference": None,
        "processed_on": T0,
        "holding_currency": "EUR",
        "holding_amount_e8": amount * 1_000_000,
        "holding_amount_minor": amount,
        "source_file_id": "file_1",
        "source": "report:FinancialActions",
    }
    row.update(over)
    return row


@pytest.fixture
def engine(migrated_warehouse_url: str):
    eng = migrated_engine(migrated_warehouse_url)
    yield eng
    eng.dispose()


def test_insert_then_repeat_changes_nothing(engine: sa.Engine) -> None:
    rows = [payment(i) for i in range(2500)]  # more than one batch
    with engine.begin() as conn:
        assert upsert(conn, schema.stg_payments, rows, ["payment_id"]) == UpsertResult(2500, 0, 0)
    with engine.connect() as conn:
        before = {r["payment_id"]: r["updated_at"] for r in rows_of(conn, schema.stg_payments)}
    with engine.begin() as conn:
        assert upsert(conn, schema.stg_payments, rows, ["payment_id"]) == UpsertResult(0, 0, 2500)
    with engine.connect() as conn:
        after = {r["payment_id"]: r["updated_at"] for r in rows_of(conn, schema.stg_payments)}
    assert after == before  # updated_at untouched when nothing changed


def test_changed_row_is_one_update_and_moves_updated_at(engine: sa.Engine) -> None:
    rows = [payment(i) for i in range(3)]
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    with engine.begin() as conn:
        upsert(conn, schema.stg_payments, rows, ["payment_id"], now=t1)
    rows[1] = payment(1, status="Refunded", total_refunded_minor=101)
    rows.append(payment(3))
    with engine.begin() as conn:
        res = upsert(conn, schema.stg_payments, rows, ["payment_id"], now=t2)
    assert res == UpsertResult(inserted=1, updated=1, unchanged=2)
    with engine.connect() as conn:
        got = {r["payment_id"]: r for r in rows_of(conn, schema.stg_payments)}
    assert got["pay_0001"]["status"] == "Refunded"
    assert (got["pay_0001"]["first_seen_at"], got["pay_0001"]["updated_at"]) == (t1, t2)
    assert (got["pay_0000"]["first_seen_at"], got["pay_0000"]["updated_at"]) == (t1, t1)
    assert (got["pay_0003"]["first_seen_at"], got["pay_0003"]["updated_at"]) == (t2, t2)


def test_json_key_order_and_lineage_alone_are_not_changes(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, schema.stg_payments, [payment(1)], ["payment_id"])
    again = payment(1, metadata={"a": [1, {"x": None}], "b": 2}, source="another.feed")
    with engine.begin() as conn:
        assert upsert(conn, schema.stg_payments, [again], ["payment_id"]) == UpsertResult(0, 0, 1)
    with engine.connect() as conn:
        assert rows_of(conn, schema.stg_payments)[0]["source"] == "test"  # lineage = last real change


def _action(action_id: str, reference: str | None = None, amount: int = 1000) -> dict:
    return {
        "action_id": action_id,
        "payment_id": "pay_1",
        "action_type": "Capture",
        "processed_on": T0,
        "currency": "EUR",
        "amount_minor": amount,
        "reference": reference,
        "source": "test",
    }


def test_preserve_non_null_keeps_a_stated_value(engine: sa.Engine) -> None:
    t = schema.stg_payment_actions
    key = ["action_id"]
    with engine.begin() as conn:
        assert upsert(conn, t, [_action("a1"), _action("a2")], key).inserted == 2
    with engine.begin() as conn:  # a fuller source states the reference: a change
        assert upsert(conn, t, [_action("a1", "ORD-1"), _action("a2", "ORD-1")], key) == UpsertResult(0, 2, 0)
    with engine.begin() as conn:  # a later source without it: not a change, nothing erased
        assert upsert(conn, t, [_action("a1"), _action("a2", amount=999)], key) == UpsertResult(0, 1, 1)
    with engine.connect() as conn:
        got = {r["action_id"]: r for r in rows_of(conn, t)}
    assert got["a1"]["reference"] == got["a2"]["reference"] == "ORD-1"
    assert got["a2"]["amount_minor"] == 999
    with engine.begin() as conn:  # explicitly switched off: NULL overwrites
        assert upsert(conn, t, [_action("a1")], key, preserve_non_null=()).updated == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.c.reference).where(t.c.action_id == "a1")).scalar() is None


def test_update_columns_limits_what_is_written(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, schema.stg_payments, [payment(1)], ["payment_id"])
    with engine.begin() as conn:
        res = upsert(
            conn,
            schema.stg_payments,
            [payment(1, status="Voided", reference="changed")],
            ["payment_id"],
            update_columns=["status"],
        )
    assert res.updated == 1
    with engine.connect() as conn:
        row = rows_of(conn, schema.stg_payments)[0]
    assert (row["status"], row["reference"]) == ("Voided", "ORD-1")


def test_duplicate_keys_in_one_call_keep_the_last(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        res = upsert(conn, schema.stg_payments, [payment(1), payment(1, amount_minor=5)], ["payment_id"])
    assert res == UpsertResult(inserted=1, updated=0, unchanged=0, duplicates=1)
    with engine.connect() as conn:
        assert rows_of(conn, schema.stg_payments)[0]["amount_minor"] == 5


def test_generic_table_without_first_seen_at(engine: sa.Engine) -> None:
    t = schema.sync_watermarks
    rows = [{"source": "a", "value": "1", "run_id": None}, {"source": "b", "value": "1", "run_id": None}]
    with engine.begin() as conn:
        assert upsert(conn, t, rows, ["source"]) == UpsertResult(2, 0, 0)
    rows[0]["value"] = "2"
    with engine.begin() as conn:
        assert upsert(conn, t, rows, ["source"]) == UpsertResult(0, 1, 1)


def test_rows_must_agree_on_columns(engine: sa.Engine) -> None:
    bad = [payment(1), {k: v for k, v in payment(2).items() if k != "reference"}]
    with pytest.raises(ValueError, match="different columns"), engine.begin() as conn:
        upsert(conn, schema.stg_payments, bad, ["payment_id"])
    with pytest.raises(ValueError, match="unknown column"), engine.begin() as conn:
        upsert(conn, schema.stg_payments, [{**payment(1), "nope": 1}], ["payment_id"])
    with engine.begin() as conn:
        assert upsert(conn, schema.stg_payments, [], ["payment_id"]) == UpsertResult()


def test_nothing_is_committed_by_upsert_itself(engine: sa.Engine) -> None:

    def upsert_then_fail() -> None:
        with engine.begin() as conn:
            upsert(conn, schema.stg_payments, [payment(1)], ["payment_id"])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        upsert_then_fail()
    with engine.connect() as conn:
        assert rows_of(conn, schema.stg_payments) == []


@pytest.mark.postgres
def test_copy_merge_has_the_same_semantics(migrated_pg_url: str) -> None:
    eng = migrated_engine(migrated_pg_url)
    t, key = schema.stg_financial_actions, ["processed_on", "line_key"]
    rows = [fa(f"a{i}") for i in range(3000)]
    try:
        with eng.begin() as conn:
            assert copy_merge(conn, t, rows, key) == UpsertResult(3000, 0, 0)
        with eng.begin() as conn:
            assert copy_merge(conn, t, rows, key) == UpsertResult(0, 0, 3000)
        rows[0] = fa("a0", reference="ORD-9")
        rows[1] = fa("a1", amount=1)
        rows.append(fa("a1", amount=2))  # repeated key: the last one wins
        with eng.begin() as conn:
            assert copy_merge(conn, t, rows, key) == UpsertResult(0, 2, 2998, duplicates=1)
        with eng.connect() as conn:
            got = {r["action_id"]: r for r in rows_of(conn, t)}
        assert got["a0"]["reference"] == "ORD-9"
        assert got["a1"]["holding_amount_minor"] == 2
        assert got["a1"]["updated_at"] > got["a2"]["updated_at"]
        csv_stream = io.BytesIO(
            b"line_key,occurrence,action_id,breakdown_type,action_type,processed_on,holding_currency,"
            b"holding_amount_e8,holding_amount_minor,source_file_id,source\r\n"
            b"ceabd4e2b0d52814030b779d0685f779,1,a2,Gross,Capture,2026-01-01T00:00:00Z,EUR,1000000000,1000,file_1,"
            b"report:FinancialActions\r\n"
            b"63e19c87ed5dc4459ed78d71680f785f,1,new,Gross,Refund,2026-01-02T00:00:00Z,EUR,-5,0,file_2,report:FinancialActions\r\n"
        )
        with eng.begin() as conn:  # a CSV stream whose header names the columns
            assert copy_merge(conn, t, csv_stream, key) == UpsertResult(1, 0, 1)
    finally:
        eng.dispose()
