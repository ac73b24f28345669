"""The DAG's ``render_report`` task body (plugins/recon_tasks.py) when ``reconcile`` failed before
writing its ``recon_runs`` row: it must still write a report, saying the run did not complete
(it once raised LookupError, leaving ``latest`` silently stale)."""

from __future__ import annotations

from pathlib import Path

import pytest
import recon_tasks


def test_the_report_of_a_run_without_its_row_is_rendered_with_a_banner(
    seeded_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFP_WAREHOUSE_URL", seeded_sqlite_url)
    monkeypatch.setenv("CFP_REPORT_OUT_DIR", str(tmp_path))
    out = recon_tasks.render_report(None, "manual__2026-12-01T00:00:00+00:00")
    assert out["banner"].startswith("reconciliation run manual__2026-12-01T00:00:00+00:00 did not complete")
    html = (tmp_path / "latest" / "report.html").read_text(encoding="utf-8")
    assert "did not complete" in html
