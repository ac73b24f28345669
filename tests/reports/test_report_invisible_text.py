"""Bidi controls and zero-width characters from an API reach the HTML report as visible escapes.

A right-to-left override in an order number reordered everything the page showed after it on
that line; a zero-width space made two different ids look alike. The page writes them as
``\\uNNNN``, as the CSV and XLSX exports already did."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import report_world as w
import sqlalchemy as sa

from checkout_freshportal.reports.render import render_report
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import recon

HOSTILE = "FP-1009\u202eevil\u200b\u2066x\ufeff"


@pytest.fixture
def html(sqlite_migrated_template: Path, tmp_path: Path) -> str:
    shutil.copyfile(sqlite_migrated_template, tmp_path / "wh.sqlite")
    engine = make_engine(f"sqlite:///{tmp_path / 'wh.sqlite'}")
    try:
        w.plant(engine)
        e = recon.recon_exceptions
        with engine.begin() as conn:
            conn.execute(sa.update(e).where(e.c.order_id == "o9").values(order_number=HOSTILE))
        paths = render_report(engine, tmp_path / "out", as_of=w.AS_OF)
    finally:
        engine.dispose()
    return paths.html.read_text(encoding="utf-8")


def test_bidi_and_zero_width_characters_are_shown_escaped(html: str) -> None:
    for ch in "\u202e\u200b\u2066\ufeff":
        assert ch not in html, f"U+{ord(ch):04X} written raw"
    assert "FP-1009\\u202eevil\\u200b\\u2066x\\ufeff" in html
