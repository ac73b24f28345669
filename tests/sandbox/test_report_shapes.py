"""Report files have the shapes Checkout.com writes (docs/checkout-com.md#reports), in the
simulator's files and in the hand-made fixtures the loader tests read."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cfp_dev.sandbox.checkout import SandboxConfig, build_world
from cfp_dev.sandbox.checkout.model import Report
from cfp_dev.sandbox.checkout.reports import FA_COLUMNS, PAYOUT_COLUMNS, csv_chunks, report_rows
from cfp_dev.sandbox.checkout.world import World
from checkout_freshportal.money import to_minor

from .conftest import FIXED_NOW

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
TS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
#: Signed major units, no trailing zeros, at most 8 decimals.
AMOUNT = re.compile(r"-?(0|[1-9]\d*)(\.\d{0,7}[1-9])?")


def _file(world: World, report: Report) -> bytes:
    header, rows = report_rows(world, report)
    return b"".join(csv_chunks(header, rows))


def _rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SandboxConfig(now=FIXED_NOW, days=5, payments_per_day=60))


def _of_type(world: World, report_type: str) -> list[Report]:
    return [r for r in world.reports if r.type == report_type]


def test_financial_actions_files_share_the_35_columns_then_fee_detail(world: World) -> None:
    for report_type in ("FinancialActions", "FinancialActionsByPayoutId"):
        raw = _file(world, _of_type(world, report_type)[-1])
        assert raw.split(b"\r\n", 1)[0].decode().split(",") == [*FA_COLUMNS, "Fee Detail"]
    assert len(FA_COLUMNS) == 35
    assert "Transaction Currency" not in FA_COLUMNS
    plain = build_world(SandboxConfig(now=FIXED_NOW, days=2, report_fee_detail=False))
    raw = _file(plain, _of_type(plain, "FinancialActions")[-1])
    assert raw.split(b"\r\n", 1)[0].decode().split(",") == list(FA_COLUMNS)


def test_lines_are_crlf_timestamps_local_without_offset_amounts_trimmed(world: World) -> None:
    endings = Counter()
    for report in _of_type(world, "FinancialActions"):
        raw = _file(world, report)
        assert b"\n" not in raw.replace(b"\r\n", b"")
        endings[raw.endswith(b"\r\n")] += 1
        for row in _rows(raw):
            assert TS.fullmatch(row["Processed On"]), row["Processed On"]
            assert TS.fullmatch(row["Requested On"]), row["Requested On"]
            for col in ("Holding Currency Amount", "Processing Currency Amount"):
                assert AMOUNT.fullmatch(row[col]), row[col]
    assert endings[True]
    assert endings[False]  # some files end without a final line break


def test_one_action_carries_several_lines_of_one_breakdown_type(world: World) -> None:
    rows = _rows(_file(world, _of_type(world, "FinancialActions")[-1]))
    per_action = Counter((r["Action ID"], r["Breakdown Type"]) for r in rows)
    twice = [k for k, n in per_action.items() if n > 1 and k[1] == "Scheme Variable Fee"]
    assert twice
    details = {r["Fee Detail"] for r in rows if (r["Action ID"], r["Breakdown Type"]) == twice[0]}
    assert len(details) == 2  # told apart by Fee Detail
    whole = Counter(tuple(r.values()) for r in rows)
    assert any(n == 2 for n in whole.values())  # and some lines are identical, row number only


def test_non_payment_and_entity_level_lines_are_listed(world: World) -> None:
    rows = [r for rep in _of_type(world, "FinancialActions") for r in _rows(_file(world, rep))]
    action_prefixes = Counter(r["Action ID"].split("_", 1)[0] for r in rows)
    assert {"act", "sid", "opg", "rtau", "nta"} <= set(action_prefixes)
    payment_prefixes = {r["Payment ID"].split("_", 1)[0] for r in rows}
    assert {"pay", "vau", "nt", ""} <= payment_prefixes
    entity_types = {r["Action Type"] for r in rows if not r["Payment ID"]}
    assert {"Top Up", "Adjustment", "Security Deposit Reservation", "Authentication"} <= entity_types


def test_by_payout_files_list_held_back_lines_without_payout_id_and_add_up(world: World) -> None:
    empty_ids = 0
    payout_rows = {
        row["Payout ID"]: row for rep in _of_type(world, "Payouts") for row in _rows(_file(world, rep))
    }
    for report in _of_type(world, "FinancialActionsByPayoutId"):
        rows = _rows(_file(world, report))
        empty_ids += sum(1 for r in rows if not r["Payout ID"])
        po = world.payouts_by_id[report.payout_id or ""]
        paid = sum((Decimal(r["Holding Currency Amount"]) for r in rows if r["Payout ID"]), Decimal(0))
        assert to_minor(paid, po.currency) - po.merchant_fee == po.amount
        if po.id in payout_rows:
            assert to_minor(payout_rows[po.id]["Payout Amount"], po.currency) == po.amount
    assert empty_ids > 0


def test_payouts_file_has_the_documented_columns(world: World) -> None:
    raw = _file(world, _of_type(world, "Payouts")[0])
    rows = _rows(raw)
    assert list(rows[0]) == list(PAYOUT_COLUMNS)
    assert {"Reporting Start Date", "Reporting End Date", "Pay To Cards"} <= set(rows[0])
    assert not {"Period Start", "Period End"} & set(rows[0])
    assert rows[0]["Reporting Start Date"].endswith(" 00:00:00")
    assert rows[0]["Reporting End Date"].endswith(" 23:59:59")


def test_quiet_period_gives_a_header_only_or_an_empty_file() -> None:
    quiet = build_world(SandboxConfig(now=FIXED_NOW, days=3, payments_per_day=0))
    report = _of_type(quiet, "FinancialActions")[-1]
    assert _file(quiet, report) == (",".join([*FA_COLUMNS, "Fee Detail"]) + "\r\n").encode()
    empty = build_world(SandboxConfig(now=FIXED_NOW, days=3, payments_per_day=0, empty_report_files="empty"))
    assert _file(empty, _of_type(empty, "FinancialActions")[-1]) == b""


def test_report_time_zone_moves_settlement_days_and_timestamps() -> None:
    tz = ZoneInfo("America/Los_Angeles")
    w = build_world(SandboxConfig(now=FIXED_NOW, days=4, payments_per_day=48, report_time_zone=tz.key))
    po = w.payouts[-1]
    local_start = po.period_start.astimezone(tz)
    assert (local_start.hour, local_start.minute) == (0, 0)
    assert po.created_on.astimezone(tz).hour == 5  # outside UTC settlements run at 05:00 local
    report = next(r for r in w.reports if r.payout_id == po.id)
    row = _rows(_file(w, report))[0]
    fa = w.fa_by_action[row["Action ID"]]
    assert row["Processed On"] == f"{fa.processed_on.astimezone(tz):%Y-%m-%d %H:%M:%S}"
    with pytest.raises(ValueError, match="report_time_zone"):
        SandboxConfig(report_time_zone="Mars/Olympus")


def test_utc_is_the_default_zone(world: World) -> None:
    po = world.payouts[-1]
    assert po.period_start.astimezone(UTC).time() == datetime.min.time()
    assert po.created_on.astimezone(UTC).hour == 2


# ---------------------------------------------------------------- the fixtures loader tests read
def _fixture(pattern: str) -> bytes:
    (path,) = FIXTURES.glob(pattern)
    return path.read_bytes()


def test_by_payout_fixture_has_the_real_shapes() -> None:
    raw = _fixture("financial-actions_*_00000000K7QX_1.csv")
    assert not raw.endswith(b"\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    rows = _rows(raw)
    assert list(rows[0]) == [*FA_COLUMNS, "Fee Detail"]
    assert any(not r["Payout ID"] for r in rows)
    whole = Counter(tuple(r.values()) for r in rows)
    assert 2 in whole.values()
    assert {r["Action ID"][:4] for r in rows} >= {"opg_", "rtau", "nta_", "sid_"}
    assert all(
        TS.fullmatch(r["Processed On"]) and AMOUNT.fullmatch(r["Holding Currency Amount"]) for r in rows
    )
    # the payouts fixture describes this payout: its lines with the id plus the merchant fee
    (payout,) = _rows(_fixture("payouts_*.csv"))
    paid = sum((Decimal(r["Holding Currency Amount"]) for r in rows if r["Payout ID"]), Decimal(0))
    assert to_minor(paid + Decimal(payout["Merchant Payout Fees"]), "EUR") == to_minor(
        payout["Payout Amount"], "EUR"
    )
    assert list(payout) == list(PAYOUT_COLUMNS)


def test_header_only_fixture_is_the_header_line() -> None:
    raw = _fixture("financial-actions_*_20221119_20221120_1.csv")
    assert raw == (",".join(FA_COLUMNS) + "\r\n").encode()
