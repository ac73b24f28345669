"""``cfp rebuild staging`` against real ingestion, on SQLite and PostgreSQL.

Ingestion runs against the Checkout.com simulator (payments, actions, disputes, report files),
webhooks go through the events service, then the staged tables are wiped or corrupted and
rebuilt from the raw layer with the simulator stopped and the client pointed at a closed port:
every staged table must come back row for row (bookkeeping columns aside, see
``rebuild_helpers.BOOKKEEPING``), the raw layer and the watermarks must not move, and a partial
range must leave the rows of raw items stored outside it as they were.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from rebuild_helpers import STAGED, cfp, snapshot, table_rows

from cfp_dev.sandbox.checkout import SandboxServer
from checkout_freshportal.cli import main
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.sync.chargebacks.disputes import WEBHOOK_SOURCE
from checkout_freshportal.sync.events import service as events
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import format_ts, parse_ts
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.mappers import DEFAULT_SOURCE

from events_fixtures import add_order, store_bodies
from events_world import T0, play
from ingest_fixtures import client_for, migrated_engine, sandbox_config

SETTINGS = IngestSettings(settle=timedelta(0))
NOW = "2026-03-02T12:00:00Z"
MAPPING = load_mapping(environ={})
#: A port nothing listens on: a client built from the environment would fail at its first call.
CLOSED = "http://127.0.0.1:9"
WHOLE = ("--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z")


def _world(url: str) -> sa.Engine:
    """A warehouse after real ingestion and webhooks; the simulator is stopped when it returns."""
    engine = migrated_engine(url)
    with SandboxServer(sandbox_config(now=NOW)) as server:
        clock = requests.get(f"{server.base_url}/_sandbox/clock", timeout=10).json()["now"]
        now = parse_ts(clock)
        assert now is not None
        ingest.run_all(client_for(server), engine, SETTINGS, now=now, run_id="r1")
    add_order(engine, "700001", "FP-700001", 10_000)
    paid = play("approve", [("capture_full", 1, 60), ("dispute", 100, 60)], reference="FP-700001")
    refunded = play("approve", [("capture_full", 1, 60), ("refund", 40, 60)])
    store_bodies(engine, [e.body() for e in [*paid.events, *refunded.events]], T0)
    events.apply_events(engine, None, MAPPING)
    return engine


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(
                conn.execute(sa.select(sa.func.count()).select_from(schema.metadata.tables[name])).scalar()
                or 0
            )
            for name in STAGED
        }


def _wipe(engine: sa.Engine) -> None:
    """Every rebuildable row gone, and the payouts corrupted rather than deleted."""
    with engine.begin() as conn:
        for name in (
            "stg_payments",
            "stg_payment_actions",
            "stg_financial_actions",
            "stg_financial_action_payouts",
        ):
            conn.execute(schema.metadata.tables[name].delete())
        d = schema.stg_disputes
        conn.execute(d.delete().where(d.c.source == DEFAULT_SOURCE))
        conn.execute(schema.stg_payouts.update().values(payout_amount_minor=0, payout_amount_e8=0))


@pytest.mark.slow
def test_rebuild_gives_back_every_staged_row(migrated_warehouse_url, capsys, monkeypatch) -> None:
    engine = _world(migrated_warehouse_url)
    counts = _counts(engine)
    for name in (
        "stg_payments",
        "stg_payment_actions",
        "stg_disputes",
        "stg_financial_actions",
        "stg_payouts",
    ):
        assert counts[name] > 0, f"the world staged no {name}: the test would prove nothing"
    assert counts["stg_financial_action_payouts"] > 0
    assert counts["stg_payment_status"] == 2
    d = schema.stg_disputes
    with engine.begin() as conn:  # a dispute a webhook merged into after ingestion staged it
        merged = conn.execute(
            sa.select(sa.func.min(d.c.dispute_id)).where(d.c.source == DEFAULT_SOURCE)
        ).scalar()
        conn.execute(
            d.update().where(d.c.dispute_id == merged).values(source=WEBHOOK_SOURCE, category="fraudulent")
        )
    with engine.connect() as conn:
        webhook_disputes = conn.execute(
            sa.select(sa.func.count()).where(d.c.source != DEFAULT_SOURCE)
        ).scalar()
    assert webhook_disputes == 2
    before = snapshot(engine)
    raw_before = {t: table_rows(engine, t, frozenset()) for t in ("raw_api_objects", "raw_report_files")}
    marks = table_rows(engine, "sync_watermarks", frozenset())

    _wipe(engine)
    monkeypatch.setenv("CFP_CHECKOUT_BASE_URL", CLOSED)
    status, dry = cfp(
        capsys, "rebuild", "staging", *WHOLE, "--url", migrated_warehouse_url, "--dry-run", "--json"
    )
    assert status == 0
    assert dry["dry_run"] is True
    assert _counts(engine)["stg_payments"] == 0  # rolled back
    by_table = {t["table"]: t for t in dry["tables"]}
    assert by_table["stg_payments"]["added"] == counts["stg_payments"]

    status, out = cfp(capsys, "rebuild", "staging", *WHOLE, "--url", migrated_warehouse_url, "--json")
    assert status == 0
    by_table = {t["table"]: t for t in out["tables"]}
    assert by_table["stg_payments"]["added"] == counts["stg_payments"]
    assert by_table["stg_disputes"]["kept_webhook_rows"] == 1
    assert by_table["stg_payouts"]["changed"] == counts["stg_payouts"]
    lines = by_table["stg_financial_actions+stg_financial_action_payouts"]
    want = counts["stg_financial_actions"] + counts["stg_financial_action_payouts"]
    assert (lines["added"], lines["same"], lines["changed"], lines["removed"]) == (want, 0, 0, 0)
    after = snapshot(engine)
    for name in STAGED:
        assert after[name] == before[name], f"{name} differs after the rebuild"
    assert {t: table_rows(engine, t, frozenset()) for t in raw_before} == raw_before
    assert table_rows(engine, "sync_watermarks", frozenset()) == marks

    # Again: everything is already what the raw layer says.
    status, again = cfp(capsys, "rebuild", "staging", *WHOLE, "--url", migrated_warehouse_url, "--json")
    assert status == 0
    for t in again["tables"]:
        assert (t["changed"], t["added"], t["removed"]) == (0, 0, 0), t
    assert snapshot(engine) == before


def _split(times: list[datetime]) -> datetime:
    """A stored time with raw items on both sides of it."""
    distinct = sorted(set(times))
    assert len(distinct) >= 2, "all raw items were stored at one instant: no partial range to test"
    return distinct[len(distinct) // 2]


@pytest.mark.slow
def test_a_partial_range_leaves_rows_of_raw_items_stored_outside_it(migrated_warehouse_url, capsys) -> None:
    engine = _world(migrated_warehouse_url)
    before = snapshot(engine)
    raw, files = schema.raw_api_objects, schema.raw_report_files
    with engine.connect() as conn:
        newest: dict[str, datetime] = {}
        for oid, at in conn.execute(
            sa.select(raw.c.object_id, raw.c.fetched_at).where(raw.c.source == "checkout.payments")
        ):
            newest[oid] = max(at, newest.get(oid, at))
        loaded = dict(
            conn.execute(
                sa.select(files.c.file_id, files.c.loaded_at).where(
                    files.c.staged_table == "stg_financial_actions"
                )
            ).all()
        )
    pay_split, file_split = _split(list(newest.values())), _split(list(loaded.values()))
    with engine.begin() as conn:
        conn.execute(schema.stg_payments.update().values(reference="CORRUPT"))
        conn.execute(schema.stg_financial_actions.update().values(reference="CORRUPT"))

    for table, split in (("stg_payments", pay_split), ("stg_financial_actions", file_split)):
        status, _ = cfp(
            capsys, "rebuild", "staging", "--from", format_ts(split), "--to", "2100-01-01T00:00:00Z",
            "--tables", table, "--url", migrated_warehouse_url, "--json",
        )  # fmt: skip
        assert status == 0

    pay = _by_key(engine, schema.stg_payments, "payment_id")
    restored = {pid for pid, at in newest.items() if at >= pay_split}
    assert restored
    assert set(pay) - restored
    for pid, row in pay.items():
        assert row["reference"] != "CORRUPT" if pid in restored else row["reference"] == "CORRUPT"
    assert _without(table_rows(engine, "stg_payments"), before["stg_payments"], engine) is None

    fa = schema.stg_financial_actions
    with engine.connect() as conn:
        lines = conn.execute(sa.select(fa.c.source_file_id, fa.c.reference)).all()
    late = {f for f, at in loaded.items() if at >= file_split}
    assert any(f in late for f, _ in lines)
    assert any(f not in late for f, _ in lines)
    for file_id, reference in lines:
        assert (reference == "CORRUPT") == (file_id not in late)
    # the tables the range did not name are exactly as they were
    after = snapshot(engine)
    for name in STAGED:
        if name not in ("stg_payments", "stg_financial_actions"):
            assert after[name] == before[name], name


def _by_key(engine: sa.Engine, table: sa.Table, key: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r[key]: dict(r) for r in conn.execute(sa.select(table)).mappings()}


def _without(rows: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], engine: sa.Engine) -> str | None:
    """Rows equal to ``expected`` but for the reference column (the one the test corrupted)."""
    cols = [c.name for c in schema.stg_payments.c if c.name not in {"first_seen_at", "updated_at"}]
    i = cols.index("reference")
    strip = [tuple(v for j, v in enumerate(r) if j != i) for r in rows]
    want = [tuple(v for j, v in enumerate(r) if j != i) for r in expected]
    return None if strip == want else "rows differ beyond the reference"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("stg_payment_status", "use `cfp replay webhooks`"),
        ("stg_orders", "FreshPortal orders are not stored raw"),
        ("stg_refund_requests", "FreshPortal refund requests are not stored raw"),
        ("stg_nonsense", "is not a staged table"),
    ],
)
def test_tables_the_raw_layer_cannot_give_back_are_refused_with_the_reason(
    sqlite_url: str, table: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["rebuild", "staging", *WHOLE, "--tables", table, "--url", sqlite_url])
    assert message in str(exc.value.code)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", "is not before"),
        ("2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z", "is not before"),
        ("yesterday", "2026-03-01T00:00:00Z", "is not an ISO 8601 timestamp"),
        ("0001-01-01T00:00:00+01:00", "2026-03-01T00:00:00Z", "is out of range"),
        ("2026-03-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "is out of range"),
    ],
)
def test_bad_ranges_are_refused_before_anything_runs(
    sqlite_url: str, start: str, end: str, message: str
) -> None:
    for command in (["rebuild", "staging"], ["replay", "webhooks"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--from", start, "--to", end, "--url", sqlite_url])
        assert message in str(exc.value.code)


def test_a_timestamp_without_offset_is_read_as_utc_and_said_so(capsys, migrated_sqlite_url) -> None:
    status, out = cfp(
        capsys, "rebuild", "staging", "--from", "2026-03-01", "--to", "2026-03-02T00:00:00",
        "--url", migrated_sqlite_url, "--json",
    )  # fmt: skip
    assert status == 0
    assert out["range"] == {"from": "2026-03-01T00:00:00.000000Z", "to": "2026-03-02T00:00:00.000000Z"}
    assert len(out["notes"]) == 2
    assert all("read as UTC" in n for n in out["notes"])


def test_the_text_output_names_every_table_and_the_assumption(capsys, migrated_sqlite_url) -> None:
    status, out = cfp(
        capsys, "rebuild", "staging", "--from", "2026-03-01", "--to", "2026-03-02T00:00:00Z",
        "--url", migrated_sqlite_url, "--dry-run",
    )  # fmt: skip
    assert status == 0
    assert "note: --from '2026-03-01' has no UTC offset: read as UTC" in out
    assert "dry run (rolled back)" in out
    for table in ("stg_payments", "stg_payment_actions", "stg_disputes", "stg_payouts"):
        assert f"  {table}: 0 selected" in out
    assert "stg_financial_actions+stg_financial_action_payouts: 0 selected" in out


@pytest.mark.parametrize("tables", ["", " , "])
def test_an_empty_tables_list_is_refused_not_read_as_every_table(sqlite_url: str, tables: str) -> None:
    """``--tables "$UNSET"`` must not widen a rebuild to every table."""
    with pytest.raises(SystemExit) as exc:
        main(["rebuild", "staging", *WHOLE, "--tables", tables, "--url", sqlite_url])
    assert "--tables names no table" in str(exc.value.code)
