"""A customer's full e-mail address in an id, a reference or a code reaches no finance output.

Masking was applied to the free-text columns only; an order number, a payment or payout id, a
payment's reference and a decline's response code are whatever an API sent, and a hostile-input
review planted an address in each (and an unmasked one in ``stg_orders.customer_email_masked``):
it was printed whole in the HTML (the exceptions table, the "not in the warehouse" line, the
response-code tables, the money chain), ``exceptions.csv``, the workbook, ``cfp trace`` and
``cfp exceptions show/list``. Each output now masks every outside string's addresses where it is
built (``j***@domain``, ids keep their digits); amounts stay exact.
"""

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

from checkout_freshportal.cli import main
from checkout_freshportal.reports.render import ReportPaths, render_report
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import ops, recon, stg

VICTIM = "victim.person@example.org"
MASKED = "v***@example.org"
PAY = "pay_1234567890123"  # digits a card mask would cut


def _plant_addresses(engine: sa.Engine) -> None:
    e, p, o, d = recon.recon_exceptions, stg.stg_payments, stg.stg_orders, ops.ops_payment_declines
    with engine.begin() as conn:
        # FP-1009 is not in the warehouse: its number is printed on its own line
        conn.execute(sa.update(e).where(e.c.order_id == "o9").values(order_number=f"FP-1009 {VICTIM}"))
        conn.execute(sa.update(e).where(e.c.order_id == "o2").values(payment_id=f"{PAY} {VICTIM}"))
        conn.execute(sa.update(e).where(e.c.payout_id == "po_jpy_1").values(payout_id=VICTIM))
        conn.execute(sa.update(p).where(p.c.payment_id == "pay_jpy1").values(reference=f"FP-1002/{VICTIM}"))
        conn.execute(sa.update(d).where(d.c.decline_id == "dec_0").values(response_code=VICTIM))
        conn.execute(sa.update(o).where(o.c.order_id == "o2").values(customer_email_masked=VICTIM))


@pytest.fixture(scope="module")
def world_url(sqlite_migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("addresses")
    shutil.copyfile(sqlite_migrated_template, root / "wh.sqlite")
    url = f"sqlite:///{root / 'wh.sqlite'}"
    eng = make_engine(url)
    try:
        w.plant(eng)
        _plant_addresses(eng)
    finally:
        eng.dispose()
    return url


@pytest.fixture(scope="module")
def rendered(world_url: str, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    eng = make_engine(world_url)
    try:
        return render_report(eng, tmp_path_factory.mktemp("out"), as_of=w.AS_OF)
    finally:
        eng.dispose()


def _cfp(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--url", url])
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def _without_charts(html: bytes) -> bytes:
    return re.sub(rb"<svg.*?</svg>", b"", html, flags=re.S)


def test_no_file_of_the_report_holds_the_address(rendered: ReportPaths) -> None:
    blobs = {p.name: p.read_bytes() for p in rendered.directory.iterdir()}
    blobs["report.html"] = _without_charts(blobs["report.html"])  # the chart: the test below
    with zipfile.ZipFile(rendered.xlsx) as z:
        blobs.update({f"xlsx:{n}": z.read(n) for n in z.namelist()})
    for name, data in blobs.items():
        assert b"victim.person" not in data, name


def test_the_declines_chart_does_not_draw_the_address(rendered: ReportPaths) -> None:
    """The legend cuts a response code to 20 characters: masked after the cut, no whole
    address was left to recognise (charts.label masks first)."""
    assert b"victim.person" not in rendered.html.read_bytes()


def test_the_html_shows_the_masked_forms(rendered: ReportPaths) -> None:
    html = rendered.html.read_text(encoding="utf-8")
    assert "Order FP-1009 v***@example.org has open exceptions but is not" in html
    assert f"<code>{PAY} {MASKED}</code>" in html  # the id's digits are not a card's
    assert f"<code>{MASKED}</code>" in html  # the payout
    assert f"<td>{MASKED}</td>" in html  # a response code
    assert f"customer {MASKED};" in html  # the money chain's customer, as stored
    assert '<td>JPY</td><td class="num">10,000</td>' in html.replace("\n", "")  # amounts as they were


def test_the_exports_show_the_masked_forms_and_exact_amounts(rendered: ReportPaths) -> None:
    with rendered.exceptions_csv.open(encoding="utf-8", newline="") as fh:
        rows = {r["kind"]: r for r in csv.DictReader(fh)}
    assert rows["missing_payment"]["order_number"] == f"FP-1009 {MASKED}"
    assert rows["amount_mismatch"]["payment_id"] == f"{PAY} {MASKED}"
    assert rows["payout_mismatch"]["payout_id"] == MASKED
    assert (rows["missing_payment"]["expected_amount"], rows["payout_mismatch"]["actual_amount"]) == (
        "-1234.567",
        "4950",
    )


def test_trace_and_exceptions_commands_mask_ids_and_references(
    world_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    traced = _cfp(world_url, capsys, "trace", "FP-1002", "--json")
    d = json.loads(traced)
    (payment,) = [p["payment"] for p in d["payments"] if p["payment"]["payment_id"] == "pay_jpy1"]
    assert payment["reference"] == f"FP-1002/{MASKED}"
    assert d["order"]["customer_email_masked"] == MASKED
    assert d["exceptions"][0]["payment_id"] == f"{PAY} {MASKED}"
    text = _cfp(world_url, capsys, "trace", "FP-1002")
    assert f"customer {MASKED};" in text
    shown = _cfp(world_url, capsys, "exceptions", "show", "amount_mismatch:order:o2")
    assert f"{PAY} {MASKED}" in shown
    listed = _cfp(world_url, capsys, "exceptions", "list", "--json")
    by_key = {r["exception_key"]: r for r in map(json.loads, listed.splitlines())}
    assert by_key["missing_payment:order:o9"]["order_number"] == f"FP-1009 {MASKED}"
    assert by_key["payout_mismatch:payout:po_jpy_1"]["payout_id"] == MASKED
    table = _cfp(world_url, capsys, "exceptions", "list")
    assert f"order FP-1009 {MASKED}" in table
    for out in (traced, text, shown, listed, table):
        assert "victim.person" not in out
