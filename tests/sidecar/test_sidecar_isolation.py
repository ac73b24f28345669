"""One refused row never fails another request: the group-commit writer isolates it.

Envelope validation keeps hostile values away from SQL, so these tests hand the writer rows that
skip it (as a future bug or a new column might), mixed into concurrent batches of good rows.
Every good row must commit and be answered; a refused row becomes poison under its body's hash;
only a row whose poison form is refused too gets an error, and only that one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import string
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sidecar_helpers import envelope, rows

from checkout_freshportal.sidecar.metrics import SidecarMetrics
from checkout_freshportal.sidecar.store import EventRecord, StoreUnavailable, make_sidecar_engine
from checkout_freshportal.sidecar.writer import GroupCommitWriter, Outcome, is_data_error


def _record(event_id: str, *, body: bytes | None = None, **fields: object) -> EventRecord:
    values: dict[str, object] = {
        "event_id": event_id,
        "event_type": "payment_captured",
        "subject_id": "pay_1",
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "body": body
        if body is not None
        else f"hostile body of {event_id!r}".encode("utf-8", "backslashreplace"),
        "key_index": 0,
    }
    values.update(fields)
    return EventRecord(**values)  # type: ignore[arg-type]


_LONG = "evt_" + "".join(random.Random(1).choices(string.ascii_letters + string.digits, k=7996))
#: name -> (record, backends that refuse it). A refused row must come back as poison.
HOSTILE: dict[str, tuple[EventRecord, set[str]]] = {
    "nul_in_id": (_record("evt_\nFORGED\x00"), {"postgresql"}),
    "surrogate_in_id": (_record("evt_\ud800\nFORGED"), {"postgresql", "sqlite"}),
    "incompressible_8000_char_id": (_record(_LONG), {"postgresql"}),
    "surrogate_in_type": (_record("evt_sur_type", event_type="payment_\udfff"), {"postgresql", "sqlite"}),
    "nul_in_subject": (_record("evt_nul_subject", subject_id="pay_\x00"), {"postgresql"}),
}
#: refused as an event AND as poison (the poison row keeps key_index): only this one fails.
UNSTORABLE = _record("evt_unstorable", key_index=2**70)


async def _deliver_all(
    writer: GroupCommitWriter, records: list[EventRecord]
) -> list[Outcome | BaseException]:
    return await asyncio.gather(*(writer.submit(r, 30) for r in records), return_exceptions=True)


def test_isolation_under_concurrent_batches(migrated_url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_sidecar_engine(migrated_url)
    backend = engine.dialect.name
    metrics = SidecarMetrics()
    writer = GroupCommitWriter(engine, metrics, max_batch=1000, writers=2)
    good = [
        _record(f"evt_good_{i:04d}", body=envelope(f"evt_good_{i:04d}"), subject_id=f"pay_{i}")
        for i in range(300)
    ]
    hostile = [rec for rec, _ in HOSTILE.values()]
    mixed = good + hostile + [UNSTORABLE]
    random.Random(7).shuffle(mixed)
    caplog.set_level(logging.WARNING, logger="checkout_freshportal.sidecar")
    writer.start()
    try:
        results = asyncio.run(_deliver_all(writer, mixed))
        # the writer is healthy afterwards
        [after] = asyncio.run(_deliver_all(writer, [_record("evt_after", body=envelope("evt_after"))]))
    finally:
        writer.stop()
        engine.dispose()
    by_id = dict(zip((r.event_id for r in mixed), results, strict=True))

    for rec in good:
        outcome = by_id[rec.event_id]
        assert isinstance(outcome, Outcome), (rec.event_id, outcome)
        assert outcome.new
        assert outcome.record is rec
    for name, (rec, refused_by) in HOSTILE.items():
        outcome = by_id[rec.event_id]
        assert isinstance(outcome, Outcome), (name, outcome)
        assert outcome.new, name
        if backend in refused_by:
            assert outcome.record.is_poison, name
            assert outcome.record.event_id == "poison:" + hashlib.sha256(rec.body).hexdigest()
            assert outcome.record.poison_reason
            assert "refused" in outcome.record.poison_reason
        else:
            assert outcome.record is rec, name
    assert isinstance(by_id[UNSTORABLE.event_id], StoreUnavailable)
    assert isinstance(after, Outcome)
    assert after.new

    assert (metrics.value("cfp_sidecar_batch_isolations_total") or 0) >= 1
    # batches really were shared: more rows than transactions
    assert (metrics.value("cfp_sidecar_commit_batch_size_sum") or 0) > (
        metrics.value("cfp_sidecar_commit_batch_size_count") or 0
    )
    stored = {r["event_id"]: r for r in rows(migrated_url)}
    assert {rec.event_id for rec in good} <= set(stored)
    assert all(not stored[rec.event_id]["is_poison"] for rec in good)
    refused = [rec for rec, by in HOSTILE.values() if backend in by]
    poison_rows = [r for r in stored.values() if r["is_poison"]]
    assert sorted(bytes(r["body"]) for r in poison_rows) == sorted(rec.body for rec in refused)
    assert len(stored) == len(good) + len(HOSTILE) + 1  # + evt_after; never UNSTORABLE
    # hostile ids reach the log escaped and on one line
    messages = [r.getMessage() for r in caplog.records]
    assert any("refused by the database" in m for m in messages)
    for m in messages:
        for unwanted in ("\n", "\x00", "\ud800"):
            assert unwanted not in m, m


def test_a_database_failure_is_not_bisected(tmp_path) -> None:
    """Not migrated (no table): every request gets the error at once; no row-by-row retries."""
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    engine = make_sidecar_engine(url)
    metrics = SidecarMetrics()
    writer = GroupCommitWriter(engine, metrics)
    writer.start()
    try:
        results = asyncio.run(_deliver_all(writer, [_record(f"evt_{i}") for i in range(20)]))
    finally:
        writer.stop()
        engine.dispose()
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert metrics.value("cfp_sidecar_batch_isolations_total") == 0
    assert metrics.value("cfp_sidecar_database_up") == 0


def test_data_errors_are_told_from_database_errors() -> None:
    import sqlite3

    assert is_data_error(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert is_data_error(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert is_data_error(sqlite3.IntegrityError("constraint"))
    assert not is_data_error(sqlite3.OperationalError("database is locked"))
    assert not is_data_error(sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("no such table")))
    import psycopg

    assert is_data_error(psycopg.errors.ProgramLimitExceeded())
    assert is_data_error(psycopg.errors.UntranslatableCharacter())
    assert not is_data_error(psycopg.errors.AdminShutdown())
    assert not is_data_error(psycopg.errors.UndefinedTable())
    assert not is_data_error(psycopg.OperationalError("connection refused"))
