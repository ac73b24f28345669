"""Report files in the shapes Checkout.com writes (docs/checkout-com.md), on both engines.

Overlapping date-range and by-payout files, lines without a card payment, empty payout ids,
timestamps in an entity's settlement time zone (DST included), the Payouts report's own column
names; and the PostgreSQL and SQLite paths staging the same rows, row for row.
"""

from __future__ import annotations

import importlib
import io
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from checkout_freshportal.warehouse import load_report_file, schema
from checkout_freshportal.warehouse.report_convert import TimeZones, identity_of, line_key

from wh_helpers import PAYOUT_HEADER, fa_line, migrated_engine, payout_line, rows_of, to_csv

FA = schema.stg_financial_actions
LINES = schema.financial_action_lines().subquery()  # each line with its payout id
BOOKKEEPING = {"first_seen_at", "updated_at"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def eng(request):
    e = migrated_engine(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    yield e
    e.dispose()


def load(eng, data: bytes, file_id: str, report_type: str = "FinancialActions", **kw):
    with eng.begin() as conn:
        return load_report_file(
            conn,
            report_id=f"rpt_{file_id}",
            report_type=report_type,
            file_id=file_id,
            filename=f"{file_id}.csv",
            stream=io.BytesIO(data),
            **kw,
        )


def staged(eng) -> list[dict]:
    with eng.connect() as conn:
        return rows_of(conn, LINES)


def _day() -> list[dict[str, str]]:
    fee = {
        "Breakdown Type": "Scheme Fee",
        "Holding Currency Amount": "-0.0123",
        "Processing Currency Amount": "",
    }
    return [
        fa_line("act_1"),
        fa_line("act_1", **fee, **{"Fee Detail": "fixed"}),
        fa_line("act_1", **fee, **{"Fee Detail": "variable"}),
        fa_line("act_2", **{"Holding Currency Amount": "110", "Processing Currency Amount": "110"}),
    ]


@pytest.mark.parametrize("by_payout_first", [False, True])
def test_a_line_in_a_date_range_and_a_by_payout_file_is_staged_once_with_its_payout(
    eng, by_payout_first
) -> None:
    plain = _day()
    paid = [{**x, "Payout ID": "po_1"} for x in plain]
    paid[-1]["Payout ID"] = ""  # some lines of a by-payout file have none
    files = [(paid, "FinancialActionsByPayoutId"), (plain, "FinancialActions")]
    if not by_payout_first:
        files.reverse()
    first = load(eng, to_csv(files[0][0]), "f1", files[0][1])
    second = load(eng, to_csv(files[1][0]), "f2", files[1][1])
    assert (first.staged_inserted, second.staged_inserted) == (4, 0)
    rows = staged(eng)
    assert len(rows) == 4
    assert sorted(r["payout_id"] or "" for r in rows) == ["", "po_1", "po_1", "po_1"]  # never erased
    # a payout id is recorded beside the line, which itself is unchanged
    assert (second.staged_updated, second.staged_unchanged) == (0, 4)
    assert (first.payouts_assigned, second.payouts_assigned) == ((3, 0) if by_payout_first else (0, 3))
    with eng.connect() as conn:
        assert len(rows_of(conn, schema.stg_financial_action_payouts)) == 3


def test_a_payout_row_left_without_its_line_does_not_block_the_line_coming_back(eng) -> None:
    # Lines deleted by hand (a partial rebuild) can leave their payout rows behind: the line
    # arriving again is new, its payout id merges into the row that is there.
    paid = [{**x, "Payout ID": "po_1"} for x in _day()]
    load(eng, to_csv(paid), "f1", "FinancialActionsByPayoutId")
    with eng.begin() as conn:
        conn.execute(sa.delete(FA))
    again = [{**x, "Payout ID": "po_2"} for x in _day()[:2]] + paid[2:]
    r = load(eng, to_csv(again), "f2", "FinancialActionsByPayoutId")
    assert (r.staged_inserted, r.payouts_assigned) == (4, 2)  # two moved to po_2, two unchanged
    assert sorted(x["payout_id"] for x in staged(eng)) == ["po_1", "po_1", "po_2", "po_2"]


def test_copies_of_one_identity_at_two_instants_are_keyed_alike_whichever_file_holds_them(eng) -> None:
    # Identical lines told apart by row number, at two processed_on instants: a file holding
    # only the later copy must key it as the file holding both does, or money counts twice.
    fee = {"Holding Currency Amount": "-0.5", "Processing Currency Amount": ""}
    day1 = fa_line("act_7", "Scheme Fee", **fee, **{"Processed On": "2026-01-01 10:00:00"})
    day2 = fa_line("act_7", "Scheme Fee", **fee, **{"Processed On": "2026-01-02 10:00:00"})
    assert load(eng, to_csv([day2]), "f_a").staged_inserted == 1
    r = load(eng, to_csv([day1, day2]), "f_b")
    assert (r.staged_inserted, r.staged_unchanged) == (1, 1)
    assert sorted(x["processed_on"].day for x in staged(eng)) == [1, 2]


def test_a_line_at_another_instant_is_another_line_on_both_engines(eng) -> None:
    # The same identity read in another settlement time zone lands at another instant: a new
    # line (docs/warehouse.md), inserted by the COPY path as by the row path.
    line = [fa_line("act_1", **{"Processed On": "2026-01-05 10:00:00"})]
    load(eng, to_csv(line), "f_utc")
    r = load(eng, to_csv(line), "f_cet", time_zones=TimeZones("Europe/Amsterdam"))
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (1, 0, 0)
    assert sorted(x["processed_on"].hour for x in staged(eng)) == [9, 10]


def test_a_line_staged_without_a_content_hash_gets_one_when_it_comes_again(eng) -> None:
    load(eng, to_csv(_day()), "f1")
    with eng.begin() as conn:  # as migration 0007 leaves the lines staged before it
        conn.execute(sa.update(FA).values(content_hash=None))
    r = load(eng, to_csv(_day()), "f2")
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (0, 0, 4)
    assert all(x["content_hash"] is not None for x in staged(eng))


def test_a_failed_load_leaves_no_reader_thread_behind(eng, monkeypatch) -> None:
    # The reader runs ahead of the loader; when the loader fails after the reader has reached the
    # end of a small file, the load must still fail at once and stop the reader.
    import threading

    from checkout_freshportal.warehouse import report_convert

    def boom(self, batch, first):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(report_convert.Converter, "convert", boom)
    with pytest.raises(RuntimeError, match="conversion failed"):
        load(eng, to_csv(_day() * 50), "f_fail")
    assert [t.name for t in threading.enumerate() if t.name == "report-reader"] == []


def test_a_line_whose_content_changed_is_updated_and_one_that_did_not_is_left_alone(eng) -> None:
    # Overlapping lines are compared by their content hash: only a real change goes to the server.
    day = _day()
    load(eng, to_csv(day), "f1")
    changed = [{**day[0], "Reference": "ORD-corrected"}, *day[1:]]
    r = load(eng, to_csv(changed), "f2")
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (0, 1, 3)
    rows = {(x["action_id"], x["breakdown_type"], x["fee_detail"]): x for x in staged(eng)}
    assert rows[("act_1", "Gross", None)]["reference"] == "ORD-corrected"
    assert rows[("act_1", "Gross", None)]["source_file_id"] == "f2"
    assert rows[("act_1", "Scheme Fee", "fixed")]["source_file_id"] == "f1"  # unchanged: lineage stays


def test_one_action_id_under_several_action_types_and_identical_lines_are_all_kept(eng) -> None:
    # Checkout.com's sample repeats an action id under another action type, and writes identical
    # lines it tells apart only by row number: every one is a real line, and loading the same
    # file again (an overlapping file) adds none.
    gross = {"Holding Currency Amount": "10", "Processing Currency Amount": "10"}
    lines = [
        fa_line("act_7", **gross, **{"Action Type": "Capture"}),
        fa_line("act_7", **gross, **{"Action Type": "Refund"}),
        fa_line(
            "act_7", "Scheme Fee", **{"Holding Currency Amount": "-0.5", "Processing Currency Amount": ""}
        ),
        fa_line(
            "act_7", "Scheme Fee", **{"Holding Currency Amount": "-0.5", "Processing Currency Amount": ""}
        ),
    ]
    assert load(eng, to_csv(lines), "f1").staged_inserted == 4
    again = load(eng, to_csv(lines), "f2")
    assert (again.staged_inserted, again.staged_updated, again.staged_unchanged) == (0, 0, 4)
    rows = staged(eng)
    assert sorted(r["action_type"] for r in rows).count("Refund") == 1
    assert len({r["line_key"] for r in rows}) == 4


def test_lines_without_a_card_payment_are_staged(eng) -> None:
    lines = [
        fa_line("act_9", "Authentication Fee", **{"Payment ID": "vau_1", "Action Type": "Authentication"}),
        fa_line("nta_1", "Network Token Fee", **{"Payment ID": "nt_1", "Action Type": "Network Token"}),
        fa_line("opg_1", "Optimisation Fee", **{"Payment ID": "", "Action Type": "Optimisation"}),
        fa_line("rtau_1", "Account Updater Fee", **{"Payment ID": "", "Action Type": "Account Updater"}),
        fa_line("mbf_1", "Minimum Billing Fee", **{"Payment ID": "", "Action Type": "Minimum Billing Fee"}),
        fa_line(
            "sd_1", "Security Deposit", **{"Payment ID": "", "Action Type": "Security Deposit Reservation"}
        ),
        fa_line("tu_1", "Top Up", **{"Payment ID": "", "Action Type": "Top Up", "Processing Currency": ""}),
    ]
    lines[-1]["Processing Currency Amount"] = ""
    r = load(eng, to_csv(lines), "f")
    assert r.staged_inserted == len(lines)
    got = {x["action_id"]: x for x in staged(eng)}
    assert got["opg_1"]["payment_id"] is None
    assert got["act_9"]["payment_id"] == "vau_1"
    assert got["tu_1"]["processing_currency"] is None
    assert got["tu_1"]["processing_amount_e8"] is None


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_line_ends_and_no_final_line_break(eng, newline) -> None:
    data = to_csv(_day(), newline=newline).rstrip(b"\r\n")
    assert load(eng, data, "f").staged_inserted == 4
    e8 = sorted(x["holding_amount_e8"] for x in staged(eng))
    assert e8 == [-1_230_000, -1_230_000, 1_000_000_000, 11_000_000_000]
    assert {x["fee_detail"] for x in staged(eng)} == {None, "fixed", "variable"}


def test_timestamps_are_read_in_the_entity_settlement_time_zone(eng) -> None:
    zones = TimeZones("UTC", {"ent_nl": "Europe/Amsterdam", "ent_ny": "America/New_York"})
    lines = [
        fa_line("act_utc", **{"Processed On": "2026-01-02 10:00:00"}),  # ent_client: default UTC
        fa_line("act_nl", **{"Client Entity ID": "ent_nl", "Processed On": "2026-07-01 12:00:00.5"}),
        fa_line("act_ny", **{"Client Entity ID": "ent_ny", "Processed On": "2026-01-15 07:00:00"}),
        # an explicit offset is kept whatever the zone
        fa_line("act_off", **{"Client Entity ID": "ent_nl", "Processed On": "2026-01-02T10:00:00+02:00"}),
        # Amsterdam, spring gap (02:00-03:00 does not exist on 2026-03-29): fold=0, the offset
        # before the gap (+01:00); autumn fold (02:30 twice on 2026-10-25): the first, +02:00
        fa_line("act_gap", **{"Client Entity ID": "ent_nl", "Processed On": "2026-03-29 02:30:00"}),
        fa_line("act_fold", **{"Client Entity ID": "ent_nl", "Processed On": "2026-10-25 02:30:00"}),
    ]
    load(eng, to_csv(lines), "f", time_zones=zones)
    got = {x["action_id"]: x["processed_on"] for x in staged(eng)}
    assert got == {
        "act_utc": datetime(2026, 1, 2, 10, tzinfo=UTC),
        "act_nl": datetime(2026, 7, 1, 10, 0, 0, 500000, tzinfo=UTC),
        "act_ny": datetime(2026, 1, 15, 12, tzinfo=UTC),
        "act_off": datetime(2026, 1, 2, 8, tzinfo=UTC),
        "act_gap": datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        "act_fold": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    }


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        TimeZones("UTC", {"ent": "Mars/Olympus"})


@pytest.mark.parametrize(
    "names", [("Reporting Start Date", "Reporting End Date"), ("Period Start", "Period End")]
)
def test_payouts_period_columns_and_pay_to_cards(eng, names) -> None:
    header = [
        {"Reporting Start Date": names[0], "Reporting End Date": names[1]}.get(h, h) for h in PAYOUT_HEADER
    ]
    line = payout_line("po_1")
    line[names[0]], line[names[1]] = line.pop("Reporting Start Date"), line.pop("Reporting End Date")
    load(eng, to_csv([line], header), "f", "Payouts", time_zones=TimeZones("Europe/London"))
    with eng.connect() as conn:
        (row,) = rows_of(conn, schema.stg_payouts)
    assert row["period_start"] == datetime(2026, 1, 1, tzinfo=UTC)  # London is UTC in January
    assert row["period_end"] == datetime(2026, 1, 2, tzinfo=UTC)
    assert (row["pay_to_cards_e8"], row["pay_to_cards_minor"], row["payout_date"]) == (
        -200_000_000,
        -200,
        date(2026, 1, 5),
    )


def _files() -> list[tuple[bytes, str, str]]:
    """A realistic sequence: duplicates, an overlapping by-payout file, quoted text, CRLF."""
    day1 = [*_day(), fa_line("act_3", **{"Reference": 'ORD "7", shop\nB'})]
    day2 = [
        *_day()[2:],
        fa_line("act_4", **{"Client Entity ID": "ent_nl", "Processed On": "2026-03-29 02:30:00"}),
    ]
    paid = [{**x, "Payout ID": "po_9"} for x in day1[:3]]
    return [
        (to_csv(day1), "d1", "FinancialActions"),
        (to_csv(day2, newline="\n"), "d2", "FinancialActions"),
        (to_csv(paid), "p1", "FinancialActionsByPayoutId"),
        (to_csv([payout_line("po_9")], PAYOUT_HEADER), "po", "Payouts"),
    ]


@pytest.mark.postgres
def test_postgres_and_sqlite_stage_the_same_rows(pg_url: str, sqlite_url: str) -> None:
    zones = TimeZones("UTC", {"ent_nl": "Europe/Amsterdam"})
    pg, lite = migrated_engine(pg_url), migrated_engine(sqlite_url)
    try:
        for data, file_id, report_type in _files():
            a = load(pg, data, file_id, report_type, time_zones=zones)
            b = load(lite, data, file_id, report_type, time_zones=zones)
            assert (a.method, b.method) == ("copy", "rows")
            assert (a.staged_inserted, a.staged_updated, a.staged_unchanged) == (
                b.staged_inserted,
                b.staged_updated,
                b.staged_unchanged,
            )
            assert a.payouts_assigned == b.payouts_assigned
        for table in (LINES, schema.stg_financial_action_payouts, schema.stg_payouts):
            key = ["payout_id"] if table is schema.stg_payouts else ["processed_on", "line_key"]
            with pg.connect() as x, lite.connect() as y:
                left, right = rows_of(x, table, *key), rows_of(y, table, *key)
            strip = lambda rows: [{k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows]  # noqa: E731
            assert len(left) == {LINES: 6, schema.stg_payouts: 1}.get(table, 3)
            assert strip(left) == strip(right)
    finally:
        pg.dispose()
        lite.dispose()


def test_migration_0006_carries_old_rows_and_keys_them_as_the_loader_does(sqlite_url: str) -> None:
    from checkout_freshportal.warehouse import migrate

    migrate.upgrade(sqlite_url, "0005")
    engine = sa.create_engine(sqlite_url)
    old = {
        "action_id": "act_1",
        "breakdown_type": "Gross",
        "payment_id": "pay_1",
        "action_type": "Capture",
        "payout_id": "po_1",
        "processed_on": "2026-01-02 10:00:00.000000",
        "holding_currency": "EUR",
        "holding_amount_e8": 1_000_000_000,
        "holding_amount_minor": 1000,
        "processing_currency": "EUR",
        "processing_amount_e8": 1_000_000_000,
        "processing_amount_minor": 1000,
        "transaction_currency": "EUR",
        "transaction_amount_e8": 1_000_000_000,
        "transaction_amount_minor": 1000,
        "source_file_id": "f_old",
        "first_seen_at": "2026-01-03 00:00:00.000000",
        "updated_at": "2026-01-03 00:00:00.000000",
        "source": "report:FinancialActions",
    }
    with engine.begin() as conn:
        cols = ", ".join(old)
        conn.execute(
            sa.text(f"INSERT INTO stg_financial_actions ({cols}) VALUES ({', '.join(':' + c for c in old)})"),
            old,
        )
    engine.dispose()
    migrate.upgrade(sqlite_url)
    eng = migrated_engine(sqlite_url)
    try:
        (row,) = staged(eng)
        assert (row["action_id"], row["payout_id"], row["occurrence"]) == ("act_1", "po_1", 1)
        identity = identity_of(row)
        assert row["line_key"].replace("-", "") == line_key(identity, 1)
        versions = "checkout_freshportal.warehouse.migrations.versions."
        # 0006 keyed it with md5, 0007 re-keyed it with the loader's xxh3 function
        assert importlib.import_module(versions + "0006_report_lines").line_key(row, 1) == (
            importlib.import_module(versions + "0007_payout_assignments").md5_line_key(row, 1)
        )
        assert importlib.import_module(versions + "0007_payout_assignments").line_key(row, 1) == line_key(
            identity, 1
        )
        # the same line arriving in a file now finds the carried row
        r = load(
            eng, to_csv([fa_line("act_1", **{"Payment ID": "pay_1", "Tax Currency Amount": ""})]), "f_new"
        )
        assert (r.staged_inserted, r.staged_updated) == (0, 1)
        (row,) = staged(eng)
        assert row["payout_id"] == "po_1"
        assert row["source_file_id"] == "f_new"
        assert row["content_hash"] is not None  # stored by the update; the carried row had none
        # down to 0006: md5 keys and the payout id back in the line
        eng.dispose()
        migrate.downgrade(sqlite_url, "0006")
        with sa.create_engine(sqlite_url).connect() as conn:
            (back,) = conn.execute(sa.text("SELECT line_key, payout_id FROM stg_financial_actions")).all()
        mig6 = importlib.import_module(versions + "0006_report_lines")
        assert (back.line_key.replace("-", ""), back.payout_id) == (mig6.line_key(row, 1), "po_1")
    finally:
        eng.dispose()
