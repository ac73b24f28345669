"""render_report and cfp report: the folder layout, ``latest``, exact amounts in CSV and XLSX
(JPY 0 decimals, EUR 2, KWD 3), no personal data anywhere, untrusted text escaped in HTML."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import report_world as w
import sqlalchemy as sa
from openpyxl import load_workbook

from checkout_freshportal.cli import main
from checkout_freshportal.reports.render import ReportPaths, render_report, slug
from checkout_freshportal.reports.settings import ReportSettings
from checkout_freshportal.warehouse.engine import make_engine


@pytest.fixture
def engine(migrated_sqlite_url: str):
    eng = make_engine(migrated_sqlite_url)
    w.plant(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def rendered(sqlite_migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """One report of the planted world, read by several tests (rendering costs about a second)."""
    root = tmp_path_factory.mktemp("rendered")
    shutil.copyfile(sqlite_migrated_template, root / "wh.sqlite")
    eng = make_engine(f"sqlite:///{root / 'wh.sqlite'}")
    try:
        w.plant(eng)
        return render_report(eng, root / "reports", as_of=w.AS_OF)
    finally:
        eng.dispose()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_layout_latest_and_exact_exports(rendered: ReportPaths) -> None:
    paths, out = rendered, rendered.latest.parent
    assert paths.directory == out / "2026-03-31" / "120000Z-run-2"
    assert paths.run_id == "run-2"
    assert paths.rows == {"exceptions": 6, "matches": 3, "payouts": 2}
    assert (out / "latest" / "report.html").read_bytes() == paths.html.read_bytes()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left behind

    exc = {r["kind"]: r for r in _csv(paths.exceptions_csv)}
    head = list(_csv(paths.exceptions_csv)[0])
    assert head[:13] == [
        "kind", "severity", "status", "order_number", "payment_id", "payout_id", "currency",
        "expected_amount", "actual_amount", "first_seen", "last_seen", "age_days", "detail",
    ]  # fmt: skip
    assert (exc["missing_payment"]["expected_amount"], exc["missing_payment"]["actual_amount"]) == (
        "-1234.567",
        "0.000",
    )
    assert (exc["payout_mismatch"]["expected_amount"], exc["payout_mismatch"]["actual_amount"]) == (
        "4900",
        "4950",
    )
    assert exc["orphan_payment"]["actual_amount"] == "123.45"
    assert exc["status_drift"]["expected_amount"] == ""
    assert exc["status_drift"]["age_days"] == "45"
    assert exc["amount_mismatch"]["first_seen"] == "2026-03-26T12:00:00.000000Z"
    assert exc["chargeback_lost"]["status"] == "resolved"

    po = {r["payout_id"]: r for r in _csv(paths.payouts_csv)}
    assert (po["po_eur_1"]["payout_amount"], po["po_eur_1"]["interchange_amount"]) == ("96.00", "-1.23")
    assert (po["po_eur_1"]["lines_amount"], po["po_eur_1"]["payout_fee_amount"]) == ("97.00", "-1.00")
    assert po["po_eur_1"]["difference_amount"] == "0.00"
    assert po["po_eur_1"]["minimum_billing_fee_amount"] == "-1.77"
    assert (po["po_jpy_1"]["lines_amount"], po["po_jpy_1"]["difference_amount"]) == ("4950", "-50")
    m = {r["payment_id"]: r for r in _csv(paths.matches_csv)}
    assert (m["pay_kwd1"]["order_amount"], m["pay_kwd1"]["confirmed"]) == ("12.345", "false")

    wb = load_workbook(paths.xlsx, read_only=True)
    assert wb.sheetnames == ["exceptions", "matches", "payouts"]
    sheet = list(wb["exceptions"].iter_rows(values_only=True))
    cols = sheet[0]
    xrow = {r[0]: dict(zip(cols, r, strict=False)) for r in sheet[1:]}  # trailing empties are cut
    assert xrow["missing_payment"]["expected_amount"] == "-1234.567"  # exact text
    assert xrow["missing_payment"]["expected_minor"] == -1234567  # an integer a sheet sums exactly
    assert xrow["payout_mismatch"]["actual_amount"] == "4950"
    prow = list(wb["payouts"].iter_rows(values_only=True))
    assert prow[1][:4] == ("po_eur_1", "2026-03-25", "EUR", "96.00")


def test_no_personal_data_and_escaped_html(rendered: ReportPaths) -> None:
    paths = rendered
    blobs = {p.name: p.read_bytes() for p in paths.directory.iterdir()}
    with zipfile.ZipFile(paths.xlsx) as z:
        blobs.update({f"xlsx:{n}": z.read(n) for n in z.namelist()})
    for name, data in blobs.items():
        text = data.decode("utf-8", errors="replace")
        assert w.EMAIL not in text, name
        assert w.PAN not in text, name
        assert "411111" not in text, name  # the planted BIN is never selected
    html = paths.html.read_text(encoding="utf-8")
    assert w.EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    # self-contained: no URL the browser would fetch
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "@import" not in html
    assert "url(" not in html.replace("url(#", "")
    assert html.count('class="chart"') == 6  # match rate, exceptions, 2 payout currencies, cash, declines
    assert "Order FP-1002" in html
    assert "Order FP-1009 has open exceptions but is not" in html


def test_the_run_row_names_its_report(engine: sa.Engine, tmp_path: Path) -> None:
    paths = render_report(engine, tmp_path / "reports", as_of=w.AS_OF)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT report_path FROM recon_runs WHERE run_id = :r"), {"r": paths.run_id}
        ).scalar_one()
    assert stored == str(paths.directory)


def test_rerender_replaces_latest(engine: sa.Engine, tmp_path: Path) -> None:
    first = render_report(engine, tmp_path, run_id="run-1")
    assert first.directory.name == "120000Z-run-1"
    assert first.as_of == w.AS_OF.replace(day=30)
    second = render_report(engine, tmp_path, as_of=w.AS_OF)
    assert (tmp_path / "latest").resolve() == second.directory.resolve()
    assert first.html.exists()  # dated folders stay
    again = render_report(engine, tmp_path, as_of=w.AS_OF)  # same run and time: replaced in place
    assert again.directory == second.directory
    assert again.html.exists()
    with pytest.raises(LookupError):
        render_report(engine, tmp_path, run_id="nope")
    assert slug("scheduled__2026-03-31T12:00:00+00:00") == "scheduled__2026-03-31T12-00-00-00-00"
    assert slug("../../etc") == "etc"


def test_empty_warehouse_renders(tmp_path: Path, sqlite_migrated_template: Path) -> None:
    db = tmp_path / "empty.sqlite"
    shutil.copyfile(sqlite_migrated_template, db)
    eng = make_engine(f"sqlite:///{db}")
    try:
        paths = render_report(eng, tmp_path / "out", as_of=w.AS_OF)
    finally:
        eng.dispose()
    html = paths.html.read_text(encoding="utf-8")
    assert "no reconciliation run yet" in html
    assert "No open exceptions" in html
    assert paths.directory.name == "120000Z-no-run"
    assert _csv(paths.exceptions_csv) == []


def test_cfp_report_command(engine: sa.Engine, tmp_path: Path, capsys, monkeypatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CFP_REPORT_TRACE_ORDERS", "1")
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", str(tmp_path), "--url", url, "--as-of", "2026-03-31T12:00:00", "--json"])
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == "run-2"
    assert out["latest"] == str(tmp_path / "latest")
    assert any(line.startswith("KWD: 1 orders 12.345") for line in out["headline"])
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert "Order FP-1002" in html
    assert "Order FP-1009" not in html
    assert ReportSettings.from_env({"CFP_REPORT_OUT_DIR": "/srv/reports"}).out_dir == "/srv/reports"
    with pytest.raises(SystemExit, match="cfp report"):
        main(["report", "--out", str(tmp_path), "--url", url, "--as-of", "yesterday"])


def test_formula_guard_and_full_sheet(tmp_path: Path, monkeypatch) -> None:
    from checkout_freshportal.reports import exports as ex

    assert ex._text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert ex._text("-2+3") == "'-2+3"
    assert ex._text(ex.Amount("-1.23")) == "-1.23"  # our amounts are never prefixed
    assert ex._text(-5) == "-5"
    monkeypatch.setattr(ex, "XLSX_MAX_ROWS", 2)
    export = ex.Export("rows", ("n", "text"), lambda: iter([(1, "a"), (2, "=b"), (3, "c")]))
    ex.write_xlsx([export], tmp_path / "x.xlsx")
    assert ex.write_csv(export, tmp_path / "rows.csv") == 3
    values = list(load_workbook(tmp_path / "x.xlsx", read_only=True)["rows"].iter_rows(values_only=True))
    assert values[:3] == [("n", "text"), (1, "a"), (2, "'=b")]
    assert values[3][0] == "truncated at 2 rows: rows.csv has every row"
    assert len(values) == 4


def test_control_characters_do_not_break_the_workbook(tmp_path: Path) -> None:
    """An order number from FreshPortal with an escape character once made openpyxl refuse the
    whole workbook (IllegalCharacterError), failing the report; it is written visibly instead."""
    from checkout_freshportal.reports import exports as ex

    export = ex.Export("rows", ("n", "text"), lambda: iter([(1, "FP-\x1b[31m1"), (2, "tab\tnewline\nok")]))
    ex.write_xlsx([export], tmp_path / "x.xlsx")
    values = list(load_workbook(tmp_path / "x.xlsx", read_only=True)["rows"].iter_rows(values_only=True))
    assert values[1:] == [(1, "FP-\\x1b[31m1"), (2, "tab\tnewline\nok")]


def test_hidden_characters_are_shown_escaped_in_both_exports(tmp_path: Path) -> None:
    """A bidi override or a terminal escape in a payload's text would reorder or hide what a cell
    shows (``\u202e`` turns "exe.txt" around); both files write them visibly, tab and line feed
    stay."""
    from checkout_freshportal.reports import exports as ex

    rows = [(1, "ref \u202eoNtxt.exe"), (2, "FP\x1b[2J\r1"), (3, "two\nlines\tok")]
    export = ex.Export("rows", ("n", "text"), lambda: iter(rows))
    ex.write_xlsx([export], tmp_path / "x.xlsx")
    ex.write_csv(export, tmp_path / "rows.csv")
    expected = [("1", "ref \\u202eoNtxt.exe"), ("2", "FP\\x1b[2J\\x0d1"), ("3", "two\nlines\tok")]
    with (tmp_path / "rows.csv").open(newline="", encoding="utf-8") as fh:
        assert [tuple(r) for r in csv.reader(fh)][1:] == expected
    values = list(load_workbook(tmp_path / "x.xlsx", read_only=True)["rows"].iter_rows(values_only=True))
    assert [(str(n), t) for n, t in values[1:]] == expected


def test_a_run_that_did_not_complete_gets_the_last_good_figures_under_a_banner(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The DAG's ``reconcile`` failed (no row, or a failed one): the report is still written."""
    gone = render_report(engine, tmp_path, run_id="manual__gone", fallback=True)
    assert gone.run_id == "run-2"  # the newest succeeded run's figures, as that run saw them
    assert gone.as_of == w.AS_OF.replace(hour=11)
    assert gone.banner == (
        "reconciliation run manual__gone did not complete: figures are from run run-2 "
        "(as of 2026-03-31 11:00:00 UTC)"
    )
    assert gone.directory.name == "110000Z-manual__gone"  # never replaces run-2's own report
    assert gone.banner in gone.html.read_text(encoding="utf-8")
    assert (tmp_path / "latest").resolve() == gone.directory.resolve()
    failed = render_report(engine, tmp_path, run_id="run-3", fallback=True)  # its row says failed
    assert failed.banner is not None
    assert failed.banner.startswith("reconciliation run run-3 did not complete: figures are from run run-2")
    with engine.connect() as conn:
        paths = dict(conn.execute(sa.text("SELECT run_id, report_path FROM recon_runs")).all())
    assert paths == {"run-1": None, "run-2": None, "run-3": None}
    with pytest.raises(LookupError, match="no reconciliation run"):  # cfp report --run-id: an error
        render_report(engine, tmp_path, run_id="manual__gone")


def test_no_completed_run_at_all_renders_the_empty_report_with_the_banner(
    tmp_path: Path, sqlite_migrated_template: Path
) -> None:
    db = tmp_path / "empty.sqlite"
    shutil.copyfile(sqlite_migrated_template, db)
    eng = make_engine(f"sqlite:///{db}")
    try:
        paths = render_report(eng, tmp_path / "out", as_of=w.AS_OF, run_id="manual__first", fallback=True)
    finally:
        eng.dispose()
    assert paths.run_id is None
    html = paths.html.read_text(encoding="utf-8")
    assert "reconciliation run manual__first did not complete: no completed run yet" in html
    assert "no reconciliation run yet" in html


def test_old_dated_folders_are_deleted_after_a_successful_render(engine: sa.Engine, tmp_path: Path) -> None:
    """keep_days: dated folders older than that go; latest, the new report and others stay."""
    out = tmp_path / "reports"
    for day in ("2026-02-27", "2026-02-28", "2026-03-01", "2026-03-30"):
        (out / day / "120000Z-old").mkdir(parents=True)
    (out / "notes-by-finance").mkdir()  # not a dated folder: never touched
    (out / "2026-13-45").mkdir()  # not a date
    paths = render_report(engine, out, as_of=w.AS_OF, settings=ReportSettings(keep_days=30))
    left = sorted(p.name for p in out.iterdir())
    assert left == ["2026-03-01", "2026-03-30", "2026-03-31", "2026-13-45", "latest", "notes-by-finance"]
    assert (out / "latest").resolve() == paths.directory.resolve()
    # A report of an old --as-of prunes relative to its own date: newer folders all stay.
    old = render_report(engine, out, run_id="run-1", as_of=w.AS_OF.replace(day=1, month=1))
    assert old.directory.parent.name == "2026-01-01"
    assert sorted(p.name for p in out.iterdir())[:4] == [
        "2026-01-01",
        "2026-03-01",
        "2026-03-30",
        "2026-03-31",
    ]
    render_report(engine, out, as_of=w.AS_OF, settings=ReportSettings(keep_days=1))
    assert sorted(p.name for p in out.iterdir() if p.name[0] == "2") == [
        "2026-03-30",
        "2026-03-31",
        "2026-13-45",
    ]
    assert ReportSettings.from_env({"CFP_REPORT_KEEP_DAYS": "7", "CFP_REPORT_HISTORY_DAYS": "30"}) == (
        ReportSettings(keep_days=7, history_days=30)
    )


def test_cfp_report_says_which_folder_it_cannot_write(engine: sa.Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    blocker = tmp_path / ("a-file-with-a-long-name-" + "x" * 150)  # shown whole, not cut like log text
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", str(blocker / "reports"), "--url", url])
    said = str(done.value.code)
    assert said.startswith(
        f"cfp report: cannot write the report under {blocker / 'reports'}: Not a directory"
    )
    assert "Traceback" not in said
