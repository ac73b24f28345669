"""load_report_file on both engines (and both PostgreSQL methods): idempotent, exact, loud."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from checkout_freshportal import money
from checkout_freshportal.warehouse import (
    ReportColumnsError,
    ReportFileChangedError,
    ReportFormatError,
    ReportLoadError,
    ReportRowsError,
    load_report_file,
    report_arrow,
    report_stage,
    schema,
)
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.report_loader import iter_raw_report_file, open_raw_report_file

from wh_helpers import FA_HEADER, PAYOUT_HEADER, fa_line, migrated_engine, payout_line, rows_of, to_csv

FA = schema.stg_financial_actions
LINES = schema.financial_action_lines().subquery()  # each line with its payout id
BOOKKEEPING = {"first_seen_at", "updated_at", "source", "source_file_id"}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres-copy", marks=pytest.mark.postgres),
        pytest.param("postgres-rows", marks=pytest.mark.postgres),
    ]
)
def wh(request):
    """(engine, method): SQLite, PostgreSQL through COPY, PostgreSQL through the row path."""
    url = request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    eng = migrated_engine(url)
    yield eng, {"sqlite": "auto", "postgres-copy": "copy", "postgres-rows": "rows"}[request.param]
    eng.dispose()


def load(wh, data: bytes | str, file_id: str, report_type: str = "FinancialActions", **kw):
    eng, method = wh
    stream = io.StringIO(data) if isinstance(data, str) else io.BytesIO(data)
    with eng.begin() as conn:
        return load_report_file(
            conn,
            report_id=f"rpt_{file_id}",
            report_type=report_type,
            file_id=file_id,
            filename=f"{file_id}.csv",
            stream=stream,
            method=method,
            **kw,
        )


def staged(wh) -> dict[tuple[str, str], dict]:
    with wh[0].connect() as conn:
        return {(r["action_id"], r["breakdown_type"]): r for r in rows_of(conn, LINES)}


def _assigned(wh) -> list[tuple[str, int]]:
    """(file id, payouts_assigned) of every loaded report file."""
    t = schema.raw_report_files
    with wh[0].connect() as conn:
        got = conn.execute(sa.select(t.c.file_id, t.c.payouts_assigned))
        return [(r.file_id, r.payouts_assigned) for r in got]


def staged_list(wh) -> list[dict]:
    with wh[0].connect() as conn:
        return rows_of(conn, LINES)


def count(wh, table: sa.Table) -> int:
    with wh[0].connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def replay(wh, file_id: str) -> list:
    with wh[0].connect() as conn:
        return list(iter_raw_report_file(conn, file_id))


def stored_bytes(wh, file_id: str) -> bytes:
    with wh[0].connect() as conn:
        return open_raw_report_file(conn, file_id).read()


def test_overlapping_date_range_files_store_each_line_once(wh) -> None:
    day1 = [fa_line(f"act_{i}", b) for i in range(0, 6) for b in ("Gross", "Scheme Fee")]
    day2 = [fa_line(f"act_{i}", b) for i in range(3, 9) for b in ("Gross", "Scheme Fee")]
    r1 = load(wh, to_csv(day1), "file_d1")
    r2 = load(wh, to_csv(day2), "file_d2")
    assert (r1.rows, r1.staged_inserted, r1.staged_updated, r1.staged_unchanged) == (12, 12, 0, 0)
    assert (r2.rows, r2.staged_inserted, r2.staged_updated, r2.staged_unchanged) == (12, 6, 0, 6)
    rows = staged(wh)
    assert len(rows) == 18
    assert rows[("act_3", "Gross")]["source_file_id"] == "file_d1"  # unchanged lines keep their lineage
    # raw keeps every line of every file (compressed, once per file); no line was rejected
    assert [x.row for x in replay(wh, "file_d1")] == day1
    assert [x.line_no for x in replay(wh, "file_d2")] == list(range(2, 14))
    assert stored_bytes(wh, "file_d2") == to_csv(day2)
    assert count(wh, schema.raw_report_rows) == 0


def test_by_payout_file_fills_payout_id_and_a_later_date_range_file_keeps_it(wh) -> None:
    lines = [fa_line("act_1", "Gross"), fa_line("act_1", "Scheme Fee"), fa_line("act_2", "Gross")]
    load(wh, to_csv(lines), "file_range_1")
    by_payout = [{**ln, "Payout ID": "po_77"} for ln in lines[:2]]
    r = load(wh, to_csv(by_payout), "file_payout", "FinancialActionsByPayoutId")
    # the lines themselves are unchanged; their payout ids are recorded beside them
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged, r.payouts_assigned) == (0, 0, 2, 2)
    r = load(wh, to_csv(lines), "file_range_2")  # overlaps again, with no payout id
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged, r.payouts_assigned) == (0, 0, 3, 0)
    rows = staged(wh)
    assert rows[("act_1", "Gross")]["payout_id"] == rows[("act_1", "Scheme Fee")]["payout_id"] == "po_77"
    assert rows[("act_2", "Gross")]["payout_id"] is None
    assert rows[("act_1", "Gross")]["source"] == "report:FinancialActions"
    r = load(wh, to_csv(by_payout), "file_payout_again", "FinancialActionsByPayoutId")
    assert r.payouts_assigned == 0  # the same payout ids again write nothing
    moved = [{**by_payout[0], "Payout ID": "po_78"}]  # another payout id (a correction) wins
    assert load(wh, to_csv(moved), "file_payout_2", "FinancialActionsByPayoutId").payouts_assigned == 1
    assert staged(wh)[("act_1", "Gross")]["payout_id"] == "po_78"
    with wh[0].connect() as conn:
        paid = {r["payout_id"]: r for r in rows_of(conn, schema.stg_financial_action_payouts)}
    assert paid["po_77"]["source_file_id"] == "file_payout"
    assert paid["po_78"]["source_file_id"] == "file_payout_2"
    files = {f: n for f, n in _assigned(wh)}
    assert (files["file_payout"], files["file_payout_2"], files["file_range_2"]) == (2, 1, 0)


def test_reloading_a_file_is_skipped_and_a_changed_file_is_refused(wh) -> None:
    data = to_csv([fa_line("act_1"), fa_line("act_2")])
    first = load(wh, data, "file_1")
    again = load(wh, data, "file_1")
    assert again.skipped_already_loaded
    assert not first.skipped_already_loaded
    assert (again.rows, again.staged_inserted, again.staged_updated) == (2, 0, 0)
    assert again.sha256 == first.sha256
    assert count(wh, schema.raw_report_files) == 1
    assert count(wh, schema.raw_report_file_contents) == 1
    assert stored_bytes(wh, "file_1") == data
    with pytest.raises(ReportFileChangedError, match="file_1"):
        load(wh, to_csv([fa_line("act_1", **{"Holding Currency Amount": "11.00"})]), "file_1")


def test_a_bad_line_fails_the_whole_file_with_line_numbers(wh) -> None:
    lines = [
        fa_line("act_1"),
        fa_line("act_2", **{"Holding Currency Amount": "12,50"}),
        fa_line("act_3"),
        fa_line("act_4", **{"Processed On": "2026-02-30T10:00:00Z"}),
        fa_line("act_5", **{"Holding Currency": "EURO"}),
        fa_line("act_6", **{"Action ID": ""}),
    ]
    eng, method = wh
    with eng.begin() as conn:  # the caller's transaction goes on; only the file is undone
        ok = load_report_file(
            conn,
            report_id="r",
            report_type="FinancialActions",
            file_id="good",
            filename="g.csv",
            stream=io.BytesIO(to_csv([fa_line("act_9")])),
            method=method,
        )
        with pytest.raises(ReportRowsError) as err:
            load_report_file(
                conn,
                report_id="r",
                report_type="FinancialActions",
                file_id="bad",
                filename="b.csv",
                stream=io.BytesIO(to_csv(lines)),
                method=method,
            )
    assert ok.staged_inserted == 1
    e = err.value
    assert (e.bad, e.total) == (4, 6)
    assert e.line_numbers == [3, 5, 6, 7]
    assert "line 3: Holding Currency Amount: not an amount" in str(e)
    assert 'line 5: Processed On: not an ISO 8601 timestamp: "2026-02-30T10:00:00Z"' in str(e)
    assert 'line 6: Holding Currency: unknown currency "EURO"' in str(e)
    assert "line 7: Action ID: missing" in str(e)
    assert set(staged(wh)) == {("act_9", "Gross")}
    with eng.connect() as conn:
        assert {r["file_id"] for r in rows_of(conn, schema.raw_report_file_contents)} == {"good"}
        assert [r["file_id"] for r in rows_of(conn, schema.raw_report_files)] == ["good"]
        assert rows_of(conn, schema.raw_report_rows) == []


def test_a_tolerated_share_of_bad_lines_stays_in_raw_with_its_error(wh) -> None:
    lines = [fa_line(f"act_{i}") for i in range(9)] + [fa_line("act_x", **{"Holding Currency Amount": "1e5"})]
    with pytest.raises(ReportRowsError):
        load(wh, to_csv(lines), "f", max_bad_share=0.05)
    r = load(wh, to_csv(lines), "f", max_bad_share=0.1)
    assert (r.rows, r.rejected, r.rejected_lines, r.staged_inserted) == (10, 1, (11,), 9)
    with wh[0].connect() as conn:
        raw = {x["line_no"]: x for x in rows_of(conn, schema.raw_report_rows)}
        files = rows_of(conn, schema.raw_report_files)
    assert set(raw) == {11}  # only the rejected line has a row of its own
    assert raw[11]["parse_error"].startswith("Holding Currency Amount: not an amount")
    assert raw[11]["row"]["Holding Currency Amount"] == "1e5"
    assert files[0]["rows_rejected"] == 1
    assert files[0]["rows"] == 10
    lines = replay(wh, "f")  # the replay has every line, the rejected one with its reason
    assert [x.parse_error is None for x in lines] == [True] * 9 + [False]
    assert lines[-1].parse_error == raw[11]["parse_error"]
    assert lines[-1].row == raw[11]["row"]


def test_columns_by_name_in_any_order_and_unknown_columns_kept_in_raw(wh) -> None:
    header = [*reversed(FA_HEADER), "Brand New Column"]
    line = {**fa_line("act_1"), "Brand New Column": "surprise, with a comma"}
    r = load(wh, to_csv([line], header), "f")
    assert r.staged_inserted == 1
    row = staged(wh)[("act_1", "Gross")]
    assert (row["holding_currency"], row["holding_amount_minor"], row["reference"]) == ("EUR", 1000, "ORD-1")
    with wh[0].connect() as conn:
        raw = next(iter_raw_report_file(conn, "f")).row
        files = rows_of(conn, schema.raw_report_files)
    assert raw["Brand New Column"] == "surprise, with a comma"
    assert raw == line
    assert files[0]["header"] == header


def test_header_names_are_matched_leniently_and_optional_columns_may_be_missing(wh) -> None:
    minimal = [
        "  action id",
        "ACTION TYPE",
        "Breakdown  Type",
        "processed on",
        "Holding Currency",
        "Holding Currency Amount",
    ]
    data = "\ufeff" + ",".join(minimal) + "\r\nact_1,Refund,Gross,2026-01-02T00:00:00Z,gbp,-5.5\r\n"
    r = load(wh, data, "f")  # a text stream, with a byte-order mark
    assert r.staged_inserted == 1
    row = staged(wh)[("act_1", "Gross")]
    assert (row["holding_currency"], row["holding_amount_minor"], row["holding_amount_e8"]) == (
        "GBP",
        -550,
        -550_000_000,
    )
    assert row["payment_id"] is None
    assert row["processing_amount_minor"] is None
    assert row["requested_on"] is None


def test_a_missing_required_column_lists_expected_and_found(wh) -> None:
    header = [h for h in FA_HEADER if h != "Holding Currency Amount"]
    with pytest.raises(ReportColumnsError) as err:
        load(wh, to_csv([fa_line()], header), "f")
    assert "Holding Currency Amount" in str(err.value)
    assert "Holding Currency Amount" in err.value.expected
    assert "Holding Currency Amount" not in err.value.found
    assert err.value.found == header


def test_identical_lines_and_lines_told_apart_by_fee_detail_are_all_staged(wh) -> None:
    """One action can carry two lines of one breakdown type (docs/checkout-com.md)."""
    fee = {
        "Breakdown Type": "Scheme Fee",
        "Holding Currency Amount": "-0.1",
        "Processing Currency Amount": "-0.1",
    }
    lines = [
        fa_line("act_1"),
        fa_line("act_1", **fee, **{"Fee Detail": "Scheme fixed fee"}),
        fa_line("act_1", **fee, **{"Fee Detail": "Scheme variable fee"}),
        fa_line("act_1", **fee, **{"Fee Detail": "Scheme variable fee"}),  # identical to the line above
        fa_line("act_1", **{"Action Type": "Refund"}),  # the same action id under another type
    ]
    r = load(wh, to_csv(lines), "f")
    assert (r.rows, r.staged_inserted) == (5, 5)
    rows = staged_list(wh)
    assert sorted((x["breakdown_type"], x["fee_detail"] or "", x["occurrence"]) for x in rows) == [
        ("Gross", "", 1),
        ("Gross", "", 1),
        ("Scheme Fee", "Scheme fixed fee", 1),
        ("Scheme Fee", "Scheme variable fee", 2),
        ("Scheme Fee", "Scheme variable fee", 3),
    ]


@pytest.mark.parametrize(
    ("tail", "line"),
    [(b"a,b,c\r\n", 3), (b'"unterminated,' + b"x" * 30 + b"\r\n", 3), (b"\xff\xfe,bad\r\n", 3)],
)
def test_a_structurally_broken_file_fails(wh, tail: bytes, line: int) -> None:
    data = to_csv([fa_line("act_1")]) + tail
    with pytest.raises(ReportFormatError) as err:
        load(wh, data, "f", max_bad_share=1.0)
    if b"\xff" not in tail:
        assert f"line {line}" in str(err.value)
    assert count(wh, FA) == 0
    assert count(wh, schema.raw_report_files) == 0


def test_empty_file_and_header_only(wh) -> None:
    r0 = load(wh, b"", "f0")  # a quiet period: no header at all
    assert (r0.rows, r0.staged_inserted, r0.skipped_already_loaded) == (0, 0, False)
    assert replay(wh, "f0") == []
    assert load(wh, b"", "f0").skipped_already_loaded
    header_only = load(wh, ",".join(FA_HEADER).encode(), "f2")  # no final line break
    assert header_only.rows == 0
    r = load(wh, to_csv([]), "f1")
    assert (r.rows, r.staged_inserted, r.skipped_already_loaded) == (0, 0, False)


def test_unknown_report_type_is_refused(wh) -> None:
    with pytest.raises(ReportLoadError, match="no staging for report type"):
        load(wh, to_csv([fa_line()]), "f", "Authentication")


AMOUNT_CASES = [
    # (currency, amount, e8, minor)
    ("JPY", "1000", 100_000_000_000, 1000),
    ("JPY", "2.5", 250_000_000, 2),  # exponent 0, a tie: to even
    ("JPY", "3.5", 350_000_000, 4),
    ("EUR", "12.34", 1_234_000_000, 1234),
    ("EUR", "0.19526938", 19_526_938, 20),  # 8 decimals, exact in e8
    ("EUR", "-0.005", -500_000, 0),  # negative tie to even
    ("EUR", "-0.015", -1_500_000, -2),
    ("EUR", "-0.00500001", -500_001, -1),
    ("KWD", "1.2345", 123_450_000, 1234),  # exponent 3, a tie: to even
    ("KWD", "1.2355", 123_550_000, 1236),
    ("BHD", "-0.0005", -50_000, 0),
    ("CLF", "0.00005", 5_000, 0),  # exponent 4
    ("USD", "92233720368.54775807", 2**63 - 1, 9_223_372_036_855),
    ("USD", "-92233720368.54775807", -(2**63) + 1, -9_223_372_036_855),
    ("EUR", "+7", 700_000_000, 700),
]


def test_amounts_convert_exactly_per_exponent_class(wh) -> None:
    lines = [
        fa_line(f"act_{i}", **{"Holding Currency": cur, "Holding Currency Amount": amount})
        for i, (cur, amount, _, _) in enumerate(AMOUNT_CASES)
    ]
    load(wh, to_csv(lines), "f")
    rows = staged(wh)
    for i, (cur, amount, e8, minor) in enumerate(AMOUNT_CASES):
        row = rows[(f"act_{i}", "Gross")]
        assert (row["holding_amount_e8"], row["holding_amount_minor"]) == (e8, minor), (cur, amount)
        assert minor == money.to_minor(Decimal(amount), cur)


def _rejections(wh, column: str, values: list[str]) -> dict[str, str | None]:
    lines = [fa_line(f"act_{i}", **{column: v}) for i, v in enumerate(values)]
    load(wh, to_csv(lines), "f", max_bad_share=1.0)
    with wh[0].connect() as conn:
        raw = {r["line_no"]: r["parse_error"] for r in rows_of(conn, schema.raw_report_rows)}
    return {v: raw[i + 2] for i, v in enumerate(values)}


def test_amounts_outside_the_grammar_are_rejected(wh) -> None:
    bad = [
        "1.123456789",
        "1e5",
        " 1.00",
        "1.",
        ".5",
        "--1",
        "92233720368.54775808",
        "123456789012",
        "NaN",
        "1,00",
    ]
    got = _rejections(wh, "Holding Currency Amount", bad)
    for value, err in got.items():
        assert err is not None, value
        assert err.startswith("Holding Currency Amount: "), value
    assert (
        got["92233720368.54775808"] == 'Holding Currency Amount: amount out of range: "92233720368.54775808"'
    )
    assert count(wh, FA) == 0


TS_CASES = [
    ("2023-05-24T09:12:27.4695512Z", datetime(2023, 5, 24, 9, 12, 27, 469551, tzinfo=UTC)),  # 7 digits: cut
    (
        "2023-05-24T09:12:27.999999999Z",
        datetime(2023, 5, 24, 9, 12, 27, 999999, tzinfo=UTC),
    ),  # never rounds up
    ("2023-05-24T09:12:27Z", datetime(2023, 5, 24, 9, 12, 27, tzinfo=UTC)),
    ("2023-05-24T11:12:27.5+02:00", datetime(2023, 5, 24, 9, 12, 27, 500000, tzinfo=UTC)),
    ("2023-05-24 04:12:27-0500", datetime(2023, 5, 24, 9, 12, 27, tzinfo=UTC)),
    ("2023-05-24T09:12", datetime(2023, 5, 24, 9, 12, tzinfo=UTC)),  # no offset: UTC
    ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC)),  # date only: midnight UTC
]


def test_timestamps(wh) -> None:
    lines = [fa_line(f"act_{i}", **{"Processed On": text}) for i, (text, _) in enumerate(TS_CASES)]
    load(wh, to_csv(lines), "f")
    rows = staged(wh)
    for i, (text, expected) in enumerate(TS_CASES):
        assert rows[(f"act_{i}", "Gross")]["processed_on"] == expected, text


def test_bad_timestamps_are_rejected(wh) -> None:
    bad = [
        "2023-02-29T00:00:00Z",
        "2023-13-01",
        "2023-05-24T24:00:00Z",
        "24/05/2023",
        "2023-05-24T09:12:27+15:00",
        "today",
        "2023-05-24T09:12:27z",
        " 2023-05-24",
    ]
    for value, err in _rejections(wh, "Processed On", bad).items():
        assert err == f'Processed On: not an ISO 8601 timestamp: "{value}"'


def test_payouts_file(wh) -> None:
    lines = [
        payout_line("po_1"),
        payout_line(
            "po_2",
            **{
                "Holding Currency": "JPY",
                "Payout Amount": "120000",
                "Payout Date": "2026-01-05T23:30:00-05:00",
                "Merchant Payout Fees": "",
                "Card Payment Scheme Fees": "-3",
            },
        ),
    ]
    r = load(wh, to_csv(lines, PAYOUT_HEADER), "file_po", "Payouts")
    assert (r.table, r.staged_inserted) == ("stg_payouts", 2)
    with wh[0].connect() as conn:
        got = {x["payout_id"]: x for x in rows_of(conn, schema.stg_payouts)}
    p1, p2 = got["po_1"], got["po_2"]
    assert (p1["currency"], p1["payout_date"], p1["payout_amount_minor"], p1["payout_amount_e8"]) == (
        "EUR",
        date(2026, 1, 5),
        123456,
        123_456_000_000,
    )
    assert (p1["card_payment_interchange_fees_e8"], p1["card_payment_interchange_fees_minor"]) == (
        -812_345_678,
        -812,
    )
    assert p1["period_start"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert (p2["payout_date"], p2["payout_amount_minor"], p2["merchant_payout_fees_minor"]) == (
        date(2026, 1, 6),
        120000,
        None,
    )
    again = load(wh, to_csv(lines, PAYOUT_HEADER), "file_po_2", "Payouts")
    assert (again.staged_unchanged, again.staged_updated) == (2, 0)


def _tricky_file(seed: int, n: int = 300) -> bytes:
    """Lines that stress both CSV parsers and every conversion (valid by construction)."""
    rnd = random.Random(seed)
    curs = ["JPY", "EUR", "usd", "KWD", "BHD", "CLF", "SEK"]
    texts = ["plain", 'with "quotes"', "with, comma", "multi\nline", "ünïcödé ✓", " padded ", ""]
    lines = []
    for i in range(n):
        frac = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 9)))
        sec = f"{rnd.randint(0, 59):02d}" + (f".{frac}" if frac else "")
        off = rnd.choice(["Z", "+00:00", "-05:30", "+1400", ""])
        day = f"20{rnd.randint(10, 40)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        ts = f"{day}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{sec}{off}"

        def amount() -> str:
            whole = str(rnd.choice([0, 1, 5, 10, 999, 10**6, rnd.randint(0, 10**10)]))
            dec = "".join(rnd.choice("0123456789") for _ in range(rnd.choice([0, 1, 2, 3, 4, 5, 8])))
            if rnd.random() < 0.2:
                dec = (dec[:-1] if dec else "") + "5"  # ties
            return rnd.choice(["", "-", "+"]) + whole + (f".{dec}" if dec else "")

        lines.append(
            fa_line(
                f"act_{i}",
                rnd.choice(["Gross", "Scheme Fee", "Interchange Fee"]),
                **{
                    "Reference": rnd.choice(texts),
                    "Fee Detail": rnd.choice(texts),
                    "Processed On": ts,
                    "Requested On": rnd.choice(["", ts[:10], ts]),
                    "Holding Currency": rnd.choice(curs),
                    "Holding Currency Amount": amount(),
                    "Processing Currency": rnd.choice(curs),
                    "Processing Currency Amount": rnd.choice(["", amount()]),
                    "Transaction Currency": rnd.choice([*curs, ""]),
                    "Transaction Currency Amount": "",
                    "FX Rate Applied": rnd.choice(["", "1", "1.2345678901", "-0.5"]),
                },
            )
        )
    return to_csv(lines, newline=rnd.choice(["\r\n", "\n"]))


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_copy_and_row_paths_produce_identical_rows(
    migrated_pg_url: str, migrated_sqlite_url: str, seed: int
) -> None:
    """Same file: PostgreSQL COPY then PostgreSQL rows -> all unchanged; and SQLite agrees."""
    data = _tricky_file(seed)
    pg = migrated_engine(migrated_pg_url)
    lite = migrated_engine(migrated_sqlite_url)
    try:
        first = load((pg, "copy"), data, "f_copy")
        second = load((pg, "rows"), data, "f_rows")
        assert first.staged_inserted == first.rows == 300
        assert (second.staged_inserted, second.staged_updated, second.staged_unchanged) == (0, 0, 300)
        load((lite, "rows"), data, "f_copy")
        with pg.connect() as a, lite.connect() as b:
            pg_rows = [
                {k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows_of(a, FA, "action_id")
            ]
            lite_rows = [
                {k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows_of(b, FA, "action_id")
            ]
            assert pg_rows == lite_rows
            raw_pg = list(iter_raw_report_file(a, "f_copy"))
            raw_lite = list(iter_raw_report_file(b, "f_copy"))
            assert raw_pg == raw_lite
            assert len(raw_pg) == 300
            assert open_raw_report_file(a, "f_rows").read() == data
    finally:
        pg.dispose()
        lite.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("block_bytes", [300, 4096])
def test_small_blocks_give_the_same_rows(
    migrated_pg_url: str, migrated_sqlite_url: str, monkeypatch, block_bytes: int
) -> None:
    """Blocks cut between records (quoted newlines across cuts, csv and split paths mixed, the
    first block's timestamp shapes contradicted later) change nothing."""
    monkeypatch.setattr(report_arrow, "BLOCK_BYTES", block_bytes)
    fixed = [fa_line(f"act_f{i}", **{"Requested On": ""}) for i in range(8)]  # 7 digits + Z
    tricky = list(csv.DictReader(io.StringIO(_tricky_file(7, 120).decode(), newline="")))
    data = to_csv(fixed + tricky)
    pg, lite = migrated_engine(migrated_pg_url), migrated_engine(migrated_sqlite_url)
    try:
        a = load((pg, "copy"), data, "f")
        b = load((lite, "rows"), data, "f")
        assert a.rows == b.rows == a.staged_inserted == 128
        with pg.connect() as x, lite.connect() as y:
            strip = lambda rows: [{k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows]  # noqa: E731
            assert strip(rows_of(x, FA, "action_id")) == strip(rows_of(y, FA, "action_id"))
            assert open_raw_report_file(x, "f").read() == data
    finally:
        pg.dispose()
        lite.dispose()


@pytest.mark.postgres
def test_an_overlap_merged_batch_by_batch_matches_the_row_path(
    migrated_pg_url: str, migrated_sqlite_url: str, monkeypatch
) -> None:
    """Existing keys spread over many small batches (each merged by the COPY worker right after
    its COPY) end as on SQLite: payout ids filled, changes counted, nothing doubled."""
    monkeypatch.setattr(report_arrow, "BLOCK_BYTES", 600)
    monkeypatch.setattr(report_stage, "BATCH_LINES", 3)
    first = [fa_line(f"act_{i:03d}") for i in range(40)]
    second = [
        fa_line(f"act_{i:03d}", **{"Payout ID": "po_1", "Reference": "changed" if i % 7 == 0 else "ref"})
        for i in range(20, 60)
    ]
    pg, lite = migrated_engine(migrated_pg_url), migrated_engine(migrated_sqlite_url)
    try:
        results = []
        for wh in ((pg, "copy"), (lite, "rows")):
            load(wh, to_csv(first), "f1")
            r = load(wh, to_csv(second), "f2")
            results.append((r.staged_inserted, r.staged_updated + r.staged_unchanged))
        assert results[0] == results[1] == (20, 20)
        with pg.connect() as x, lite.connect() as y:
            strip = lambda rows: [{k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows]  # noqa: E731
            got = strip(rows_of(x, LINES, "action_id"))
            assert got == strip(rows_of(y, LINES, "action_id"))
            assert len(got) == 60
            assert [r["payout_id"] for r in got] == [None] * 20 + ["po_1"] * 40
    finally:
        pg.dispose()
        lite.dispose()


def _random_value(rnd: random.Random, kind: str) -> str:
    pools = {
        "amount": [
            "1",
            "-0.5",
            "+12.34",
            "12345678901",
            "99999999999.99999999",
            "1.123456789",
            "1e5",
            " 1",
            "",
        ],
        "ts": [
            "2026-01-31T10:00:00.1234567Z",
            "2026-04-31",
            "2024-02-29",
            "2023-02-29",
            "2026-01-02 10:00",
            "2026-01-02T10:00:00+05:30",
            "2026-01-02T10:00:00.123456789",
            "2026-01-02T10:00:00.1234567+0100",
            "2026-13-01",
            "2026-01-02T24:00:00Z",
            "",
        ],
        "currency": ["EUR", "eur", "JPY", "XAU", "EURO", ""],
        "decimal": ["1", "-0.5", "1.", "abc", ""],
        "text": ["x", ""],
    }
    return rnd.choice(pools[kind])


@pytest.mark.parametrize("seed", range(5))
def test_arrow_checks_never_accept_what_the_line_validator_rejects(seed: int) -> None:
    rnd = random.Random(seed)
    spec = rc.FINANCIAL_ACTIONS
    hmap = rc.map_header(FA_HEADER, spec)
    kinds = {f.header: f.kind for f in spec.fields}
    validate = rc.make_validator(spec, hmap)
    rows = [
        [
            _random_value(rnd, kinds.get(h, "text")) if rnd.random() < 0.3 else v
            for h, v in ((h, fa_line()[h]) for h in FA_HEADER)
        ]
        for _ in range(1500)
    ]
    batch = pa.RecordBatch.from_arrays(
        [pa.array(list(col), pa.string()) for col in zip(*rows, strict=True)],
        names=[f"c{i}" for i in range(len(FA_HEADER))],
    )
    ok = report_arrow.fast_ok(batch, spec, hmap).to_pylist()
    assert all(validate(r) is None for r, proven in zip(rows, ok, strict=True) if proven)
    assert any(ok)  # the fast path does take plain lines
    assert not all(ok)  # and leaves the doubtful ones to the line validator


def test_arrow_body_matches_a_whole_file_reader(monkeypatch) -> None:
    data = _tricky_file(11, 200)
    header_len = len(data.split(b"\n", 1)[0]) + 1
    whole = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    for size in (300, 5000, 1 << 20):
        monkeypatch.setattr(report_arrow, "BLOCK_BYTES", size)
        stream = io.BufferedReader(io.BytesIO(data[header_len:]))  # type: ignore[arg-type]
        got = [r for b in report_arrow.open_body(stream, len(FA_HEADER), "f", 1) for r in _rows(b)]
        assert got == whole, size


def _rows(batch: pa.RecordBatch) -> list[list[str]]:
    return [list(r.values()) for r in batch.to_pylist()]


def test_identical_lines_arriving_again_in_an_overlapping_file_are_not_doubled(wh) -> None:
    same = fa_line("act_1", "Scheme Fee", **{"Holding Currency Amount": "-0.1"})
    load(wh, to_csv([same, same, fa_line("act_2")]), "f1")
    r = load(wh, to_csv([fa_line("act_3"), same, same, same]), "f2")
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (2, 0, 2)
    occurrences = sorted((x["action_id"], x["occurrence"]) for x in staged_list(wh))
    assert occurrences == [("act_1", 1), ("act_1", 2), ("act_1", 3), ("act_2", 1), ("act_3", 1)]


def test_first_seen_at_is_set_once_and_updated_at_moves_only_on_a_change(wh) -> None:
    t1, t2, t3 = (datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3))
    lines = [fa_line("act_1"), fa_line("act_2")]
    load(wh, to_csv(lines), "f1", now=t1)
    changed = [fa_line("act_1", **{"Reference": "new"}), fa_line("act_2"), fa_line("act_3")]
    r = load(wh, to_csv(changed), "f2", now=t2)
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (1, 1, 1)
    r = load(wh, to_csv(changed), "f3", now=t3)
    assert (r.staged_inserted, r.staged_updated, r.staged_unchanged) == (0, 0, 3)
    rows = staged(wh)
    a1, a2, a3 = rows[("act_1", "Gross")], rows[("act_2", "Gross")], rows[("act_3", "Gross")]
    assert (a1["first_seen_at"], a1["updated_at"], a1["reference"], a1["source_file_id"]) == (
        t1,
        t2,
        "new",
        "f2",
    )
    assert (a2["first_seen_at"], a2["updated_at"], a2["source_file_id"]) == (t1, t1, "f1")
    assert (a3["first_seen_at"], a3["updated_at"]) == (t2, t2)


def test_ties_round_half_even_in_every_amount_column(wh) -> None:
    cases = [
        ("EUR", "0.005", 0),
        ("EUR", "0.015", 2),
        ("EUR", "-0.025", -2),
        ("JPY", "-3.5", -4),
        ("KWD", "0.0125", 12),
    ]
    lines = [
        fa_line(
            f"act_{i}",
            **{
                "Holding Currency": cur,
                "Processing Currency": cur,
                "Entity Country Tax Currency": cur.lower(),
                "Holding Currency Amount": amount,
                "Processing Currency Amount": amount,
                "Tax Currency Amount": amount,
            },
        )
        for i, (cur, amount, _) in enumerate(cases)
    ]
    load(wh, to_csv(lines), "f")
    rows = staged(wh)
    for i, (cur, amount, minor) in enumerate(cases):
        row = rows[(f"act_{i}", "Gross")]
        for col in ("holding", "processing", "tax"):
            assert row[f"{col}_amount_minor"] == minor == money.to_minor(Decimal(amount), cur), (col, amount)
        assert row["tax_currency"] == cur


def test_the_raw_file_replays_and_restages_anywhere(wh, tmp_path) -> None:
    data = "\ufeff".encode() + to_csv([fa_line(f"act_{i}", **{"Reference": f"r\n{i}"}) for i in range(50)])
    load(wh, data, "f")
    assert stored_bytes(wh, "f") == data  # byte for byte, byte-order mark and CRLF included
    with wh[0].connect() as conn:
        assert [x.row["Reference"] for x in iter_raw_report_file(conn, "f")] == [f"r\n{i}" for i in range(50)]
        other = migrated_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
        try:
            with other.begin() as dst:
                r = load_report_file(
                    dst,
                    report_id="r",
                    report_type="FinancialActions",
                    file_id="f",
                    filename="f.csv",
                    stream=open_raw_report_file(conn, "f"),
                )
            assert r.staged_inserted == 50
            with other.connect() as dst:
                assert len(rows_of(dst, FA)) == 50
        finally:
            other.dispose()


def test_a_damaged_raw_file_is_detected(wh) -> None:
    import pyarrow as pa

    data = to_csv([fa_line(f"act_{i}") for i in range(20)])
    load(wh, data, "f")
    # valid compressed bytes of other content: only the sha256 and size can tell
    bad = pa.compress(data.replace(b"act_7", b"act_X"), codec="zstd", asbytes=True)
    t = schema.raw_report_file_contents
    with wh[0].begin() as conn:
        conn.execute(sa.update(t).where(t.c.file_id == "f").values(content=bad))
    with wh[0].connect() as conn, pytest.raises(ReportLoadError, match="does not match"):
        open_raw_report_file(conn, "f").read()


def test_quoted_empty_fields_are_null_like_unquoted_ones(wh) -> None:
    line = fa_line("act_1", **{"Payment ID": "", "Fee Detail": "", "Requested On": ""})
    data = to_csv([line]).decode()
    head, body = data.split("\r\n", 1)
    quoted = body.replace(",,", ',"",')  # every empty field quoted
    r = load(wh, f"{head}\r\n{quoted}", "f")
    assert r.staged_inserted == 1
    row = staged(wh)[("act_1", "Gross")]
    assert (row["payment_id"], row["fee_detail"], row["requested_on"], row["payout_id"]) == (None,) * 4
    assert next(iter(replay(wh, "f"))).row["Payment ID"] == ""
