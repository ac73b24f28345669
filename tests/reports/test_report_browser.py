"""The HTML report in a real browser: Debian's chromium driven by Playwright, opened from
file://, with no console error, no network request besides the file itself, and every chart
drawn with a non-zero size.

Browsers cannot be downloaded here, so Playwright drives the system binary through
``executable_path``. Outside CI a machine without chromium skips with the reason; under
``CI=true`` the test must run (``make test`` installs chromium first), so it fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import report_world as w

from checkout_freshportal.reports.render import render_report
from checkout_freshportal.warehouse.engine import make_engine

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "chromium not installed (Debian package `chromium`; `make test` installs it)"
        if IN_CI:
            pytest.fail(msg + " (CI=true: the browser test must run)")
        pytest.skip(msg)
    return path


def test_report_opens_in_chromium(tmp_path: Path, sqlite_migrated_template: Path) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    shutil.copyfile(sqlite_migrated_template, tmp_path / "wh.sqlite")
    eng = make_engine(f"sqlite:///{tmp_path / 'wh.sqlite'}")
    try:
        w.plant(eng)
        paths = render_report(eng, tmp_path / "reports", as_of=w.AS_OF)
    finally:
        eng.dispose()
    url = (tmp_path / "reports" / "latest" / "report.html").resolve().as_uri()

    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    failed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(url, wait_until="load")
            charts = page.evaluate(
                """() => Array.from(document.querySelectorAll('svg.chart')).map(s => {
                    const r = s.getBoundingClientRect();
                    const drawn = s.querySelectorAll('path, use, rect').length;
                    return {name: s.dataset.chart, width: r.width, height: r.height, drawn};
                })"""
            )
            title = page.title()
            escaped = page.locator("text=<script>alert(1)</script>").count()
        finally:
            browser.close()

    assert [c for c in console if c.startswith(("error", "warning"))] == []
    assert errors == []
    assert failed == []
    assert requests == [url]  # the file itself, nothing else
    assert title == "Reconciliation report 2026-03-31 12:00 UTC"
    names = [c["name"] for c in charts]
    assert names == ["match-rate", "exceptions-age", "payouts-eur", "payouts-jpy", "cash", "declines"]
    for c in charts:
        assert c["width"] > 100, c
        assert c["height"] > 100, c
        assert c["drawn"] > 10, c
    assert escaped >= 1  # the planted tag is shown as text, never run
    assert paths.html.exists()
