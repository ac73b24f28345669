"""One unreadable item never blocks the rest, against the real simulator.

The simulator's poison hook (``/_sandbox/poison``) makes one payment, one dispute and one report
listing entry carry a value that cannot be read, and one report file a header without the
report's columns, in real HTTP answers. One run must land everything else, move every watermark,
keep the four items raw in ``ops_quarantine`` and then fail naming them; later runs retry them
without blocking, park them after ``quarantine_attempts``, and heal them once the poison is gone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
import requests
import sqlalchemy as sa

from checkout_freshportal.errors import is_permanent
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.raw import payload_sha256

from ingest_fixtures import LOAD_BOOKKEEPING, client_for, migrated_engine, snapshot

BAD_FILE = "Not A Report,At All\r\n1,2\r\n"
# The refresh watermark follows load times (first_seen_at), which differ from run to run.
WATERMARKS = (
    "select source, value from sync_watermarks "
    "where source <> 'checkout.refresh.first_seen_at' order by source"
)


def sandbox_now(sandbox):
    return parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])


def poison(sandbox, **body: Any) -> None:
    requests.post(f"{sandbox.base_url}/_sandbox/poison", json=body, timeout=10).raise_for_status()


def cure(sandbox) -> None:
    requests.delete(f"{sandbox.base_url}/_sandbox/poison", timeout=10).raise_for_status()


def settings(**kw: Any) -> IngestSettings:
    return IngestSettings(settle=timedelta(0), **kw)


def pick_victims(sandbox) -> dict[str, str]:
    """A payment, a dispute, and two financial-actions reports neither first nor last (so the
    reports watermark ends where a clean run's does): one to poison in the listing, one whose
    first file is poisoned."""
    client = client_for(sandbox)
    now = sandbox_now(sandbox)
    payments = list(client.search_payments(now - timedelta(days=5), now - timedelta(days=2), limit=100))
    disputes = list(client.list_disputes(from_=now - timedelta(days=30), to=now))
    reports = sorted(
        (r for r in client.list_reports(now - timedelta(days=30), now) if r["type"] == "FinancialActions"),
        key=lambda r: r["created_on"],
    )
    assert payments
    assert disputes
    assert len(reports) >= 4
    return {
        "payment": payments[len(payments) // 2]["id"],
        "dispute": disputes[0]["id"],
        "entry": reports[1]["id"],
        "file_report": reports[2]["id"],
        "file": reports[2]["files"][0]["id"],
        "entry_files": ",".join(f["id"] for f in reports[1]["files"]),
    }


def poison_all(sandbox, v: dict[str, str]) -> None:
    poison(sandbox, id=v["payment"], patch={"amount": "ten"})
    poison(sandbox, id=v["dispute"], patch={"amount": "ten"})
    poison(sandbox, id=v["entry"], patch={"created_on": "the day before yesterday"})
    poison(sandbox, id=v["file"], content=BAD_FILE)


def run(sandbox, engine, cfg: IngestSettings, run_id: str) -> dict[str, Any]:
    return ingest.run_all(client_for(sandbox), engine, cfg, now=sandbox_now(sandbox), run_id=run_id)


def failing_run(sandbox, engine, cfg: IngestSettings, run_id: str) -> ingest.QuarantinedItemsError:
    with pytest.raises(ingest.QuarantinedItemsError) as caught:
        run(sandbox, engine, cfg, run_id)
    return caught.value


def quarantine_rows(engine) -> dict[tuple[str, str], store.QuarantineItem]:
    with engine.connect() as conn:
        return {(i.source, i.item_id): i for i in store.list_items(conn, with_payload=True)}


def clean_snapshot(sandbox, url: str) -> tuple[dict, list]:
    engine = migrated_engine(url)
    run(sandbox, engine, settings(), "clean")
    with engine.connect() as conn:
        marks = conn.execute(sa.text(WATERMARKS)).all()
    snap = snapshot(engine, drop=LOAD_BOOKKEEPING)
    engine.dispose()
    return snap, marks


def test_one_run_lands_everything_but_the_poison_then_heals(sandbox, warehouse_factory):
    victims = pick_victims(sandbox)
    clean, clean_marks = clean_snapshot(sandbox, warehouse_factory())
    engine = migrated_engine(warehouse_factory())
    poison_all(sandbox, victims)

    error = failing_run(sandbox, engine, settings(), "poisoned")

    # Loud, permanent, and naming count, ids and reasons.
    text = str(error)
    assert is_permanent(error)
    assert "4 item(s) could not be read" in text
    assert "4 new" in text
    for key in ("payment", "dispute", "entry", "file"):
        assert victims[key] in text
    assert "amount must be an integer" in text
    assert "ReportColumnsError" in text
    assert "TimestampError" in text
    assert error.results is not None
    assert error.results["ingest_payments"]["quarantine"]["new"]

    # Everything else landed and every watermark moved as far as a clean run's.
    with engine.connect() as conn:
        assert conn.execute(sa.text(WATERMARKS)).all() == clean_marks
        payments = set(conn.execute(sa.text("select payment_id from stg_payments")).scalars())
        disputes = set(conn.execute(sa.text("select dispute_id from stg_disputes")).scalars())
        files = set(conn.execute(sa.text("select file_id from raw_report_files")).scalars())
    clean_payments = {r[0] for r in clean["stg_payments"]}
    assert payments == clean_payments - {victims["payment"]}
    assert disputes == {r[0] for r in clean["stg_disputes"]} - {victims["dispute"]}
    lost_files = {victims["file"], *victims["entry_files"].split(",")}
    assert files == {r[0] for r in clean["raw_report_files"]} - lost_files

    # Four rows, each with its raw copy where raw_location says.
    rows = quarantine_rows(engine)
    assert set(rows) == {
        ("checkout.payments", victims["payment"]),
        ("checkout.disputes", victims["dispute"]),
        ("checkout.reports", victims["entry"]),
        ("checkout.report_files", victims["file"]),
    }
    assert {(r.state, r.attempts, r.run_id) for r in rows.values()} == {("quarantined", 1, "poisoned")}
    pay = rows[("checkout.payments", victims["payment"])]
    assert pay.raw_location == "raw_api_objects"
    with engine.connect() as conn:
        raw = conn.execute(
            sa.text("select payload from raw_api_objects where object_id = :i and payload_sha256 = :h"),
            {"i": victims["payment"], "h": pay.payload_sha256},
        ).scalar_one()
    assert "ten" in str(raw)
    entry = rows[("checkout.reports", victims["entry"])]
    assert entry.raw_location == "payload"
    assert entry.payload["created_on"] == "the day before yesterday"
    assert entry.payload_sha256 == payload_sha256(entry.payload)
    bad_file = rows[("checkout.report_files", victims["file"])]
    assert bad_file.raw_location == "raw_report_file_contents"
    assert bad_file.parent_id == victims["file_report"]
    assert stored_file(engine, victims["file"]) == BAD_FILE.encode()

    # The poison still there: the next run retries each item once, is not blocked, fails again.
    again = failing_run(sandbox, engine, settings(), "still-poisoned")
    assert "4 failed again" in str(again)
    assert "0 new" in str(again)
    assert {r.attempts for r in quarantine_rows(engine).values()} == {2}
    with engine.connect() as conn:
        assert conn.execute(sa.text(WATERMARKS)).all() == clean_marks

    # The poison gone: the next run resolves all four and the warehouse equals a clean run's,
    # but for the raw versions of the two API objects: the poisoned ones, and what the retry
    # read by id (GET /payments/{id}, /disputes/{id}) where a clean run kept the search's and
    # the list's (both victims are older than the re-walk and the disputes overlap).
    cure(sandbox)
    out = run(sandbox, engine, settings(), "healed")
    assert len(out["ingest_payments"]["quarantine"]["resolved"]) == 1
    assert len(out["ingest_reports"]["quarantine"]["resolved"]) == 2
    rows = quarantine_rows(engine)
    assert {(r.state, r.run_id) for r in rows.values()} == {("resolved", "healed")}
    assert all(r.resolved_at is not None for r in rows.values())
    healed = snapshot(engine, drop=LOAD_BOOKKEEPING)

    def others(rows: list[tuple]) -> list[tuple]:
        return [r for r in rows if r[1] not in (victims["payment"], victims["dispute"])]

    assert others(healed.pop("raw_api_objects")) == others(clean.pop("raw_api_objects"))
    assert healed == clean
    engine.dispose()


def stored_file(engine, file_id: str) -> bytes:
    with engine.connect() as conn:
        parts = conn.execute(
            sa.text("select content from raw_report_file_contents where file_id = :f order by part"),
            {"f": file_id},
        ).scalars()
        return pa.CompressedInputStream(pa.BufferReader(b"".join(parts)), "zstd").read()


def test_items_park_after_their_attempts_and_come_back_when_requeued(sandbox, migrated_warehouse_url):
    victims = pick_victims(sandbox)
    engine = migrated_engine(migrated_warehouse_url)
    poison_all(sandbox, victims)
    cfg = settings(quarantine_attempts=2)

    failing_run(sandbox, engine, cfg, "r1")
    second = failing_run(sandbox, engine, cfg, "r2")  # attempt 2 of 2: failed again, now parked
    assert "parked" in str(second)
    assert {r.state for r in quarantine_rows(engine).values()} == {"parked"}

    # Parked items no longer fail runs, but every run counts them.
    out = run(sandbox, engine, cfg, "r3")
    assert out["ingest_payments"]["quarantine"]["parked"] == 1
    assert out["ingest_reports"]["quarantine"]["parked"] == 2
    assert out["ingest_reports"]["quarantine"]["retried"] == 0
    assert {r.attempts for r in quarantine_rows(engine).values()} == {2}

    # Re-queued, they are retried by the next run (and fail it, the poison being there).
    with engine.begin() as conn:
        item = store.requeue(conn, "checkout.payments", victims["payment"])
        assert item.state == "requeued"
        assert item.requeued_at is not None
        assert store.requeue_all(conn) == 4
    failing_run(sandbox, engine, cfg, "r4")
    assert {(r.state, r.attempts) for r in quarantine_rows(engine).values()} == {("parked", 3)}

    cure(sandbox)
    with engine.begin() as conn:
        store.requeue_all(conn, "checkout.report_files")
    out = run(sandbox, engine, cfg, "r5")
    assert out["ingest_reports"]["quarantine"]["resolved"] == [f"checkout.report_files {victims['file']}"]
    states = {k[0]: r.state for k, r in quarantine_rows(engine).items()}
    assert states["checkout.report_files"] == "resolved"
    assert states["checkout.payments"] == "parked"
    with engine.begin() as conn:
        with pytest.raises(store.UnknownQuarantineItemError, match="resolved"):
            store.requeue(conn, "checkout.report_files", victims["file"])
        with pytest.raises(store.UnknownQuarantineItemError, match="no quarantined item 'pay_nope'"):
            store.requeue(conn, "checkout.payments", "pay_nope")
    engine.dispose()


def test_more_unreadable_items_than_the_limit_fail_the_step_instead(sandbox, migrated_warehouse_url):
    """A bug or a format change looks like every item being bad: past the limit the step stops
    and the batch at hand does not land, rather than quarantining everything."""
    victims = pick_victims(sandbox)
    engine = migrated_engine(migrated_warehouse_url)
    poison_all(sandbox, victims)

    with pytest.raises(q.TooManyUnreadableError) as caught:
        run(sandbox, engine, settings(quarantine_max_new_per_step=1), "too-many")

    assert is_permanent(caught.value)
    assert victims["file"] in str(caught.value)
    rows = quarantine_rows(engine)
    assert ("checkout.reports", victims["entry"]) in rows  # the first of the step, within the limit
    assert ("checkout.report_files", victims["file"]) not in rows  # the second rolled back
    engine.dispose()


def test_a_file_storage_refuses_is_quarantined_with_its_listing_entry(sandbox, migrated_warehouse_url):
    victims = pick_victims(sandbox)
    engine = migrated_engine(migrated_warehouse_url)
    poison(sandbox, id=victims["file"], status=404)

    error = failing_run(sandbox, engine, settings(), "gone")

    assert f"checkout.report_files {victims['file']} [quarantined, attempt 1]: NotFoundError" in str(error)
    row = quarantine_rows(engine)[("checkout.report_files", victims["file"])]
    assert row.raw_location == "payload"  # no bytes to keep: the listing's entry and the error
    assert row.payload["report_id"] == victims["file_report"]
    assert row.payload["download_error"].startswith("NotFoundError")
    cure(sandbox)
    assert run(sandbox, engine, settings(), "back")["ingest_reports"]["files_loaded"] == 1
    assert quarantine_rows(engine)[("checkout.report_files", victims["file"])].state == "resolved"
    engine.dispose()
