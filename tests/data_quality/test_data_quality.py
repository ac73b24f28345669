"""The data-quality suite on real warehouses (SQLite and PostgreSQL) through Great Expectations.

Great Expectations costs seconds to import, so each warehouse kind runs the suite a few times
in one test rather than once per check: a clean dataset passes; the same dataset with one
planted bad row per check fails exactly those checks, each with its count and sample key;
results are stored and replaced on rerun; a critical failure raises naming the checks.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dq_dataset import AS_OF, EXPECTED, plant_bad_rows, seed_clean

from checkout_freshportal.reconcile.quality import (
    DataQualityFailed,
    QualityResult,
    QualitySettings,
    build_checks,
    run_quality,
)
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema.recon import recon_dq_results, recon_runs

SETTINGS = QualitySettings()
FRESHNESS = {c.name for c in build_checks("sqlite", AS_OF, SETTINGS) if c.name.startswith("freshness_")}


def _stored(engine: sa.Engine, run_id: str) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(recon_dq_results).where(recon_dq_results.c.run_id == run_id)).all()
    return {r.check_name: r for r in rows}


def _dq_status(engine: sa.Engine, run_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(recon_runs.c.dq_status).where(recon_runs.c.run_id == run_id)
        ).scalar_one()


def _add_run(engine: sa.Engine, run_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(recon_runs).values(
                run_id=run_id, as_of=AS_OF, mode="full", status="running", started_at=AS_OF
            )
        )


def _norm(key: str) -> str:
    return key.replace("-", "")


def _check_planted(result: QualityResult) -> None:
    failed = {c.name for c in result.checks if not c.success}
    assert failed == set(EXPECTED), f"unexpected: {failed - set(EXPECTED)}, missed: {set(EXPECTED) - failed}"
    for name, (count, sample) in EXPECTED.items():
        check = result.by_name(name)
        assert check.error is None, (name, check.error)
        assert check.unexpected_count == count, (name, check.unexpected_count)
        assert any(_norm(sample) in _norm(s) for s in check.samples), (name, check.samples)


@pytest.fixture
def quiet_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: Great Expectations must leave it empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_suite_on_a_warehouse(migrated_warehouse_url: str, quiet_cwd: Path, tmp_path: Path) -> None:
    engine = make_engine(migrated_warehouse_url)
    try:
        # an empty warehouse: every freshness check says so, nothing else fails
        empty = run_quality(engine, run_id="empty", as_of=AS_OF, settings=SETTINGS)
        assert {c.name for c in empty.checks if not c.success} == FRESHNESS
        assert {c.observed for c in empty.checks if not c.success} == {"source is empty (no rows)"}
        assert empty.status == "warning"
        empty.raise_for_critical()  # warnings never raise

        seed_clean(engine)
        _add_run(engine, "clean")
        clean = run_quality(engine, run_id="clean", as_of=AS_OF, settings=SETTINGS)
        assert [c.name for c in clean.checks if not c.success] == []
        assert clean.status == "passed"
        assert _dq_status(engine, "clean") == "passed"
        stored = _stored(engine, "clean")
        assert set(stored) == {c.name for c in clean.checks}
        assert all(r.success and r.unexpected_count == 0 for r in stored.values())

        # a week later nothing new arrived: every source is stale (warnings)
        late = run_quality(engine, run_id="late", as_of=AS_OF + timedelta(days=9), settings=SETTINGS)
        assert {c.name for c in late.checks if not c.success} == FRESHNESS
        assert all(c.observed.startswith("stale: newest row at") for c in late.checks if not c.success)

        plant_bad_rows(engine)
        # Data Docs do not depend on the engine: rendered once (SQLite), it costs seconds
        docs = tmp_path / "docs" if engine.dialect.name == "sqlite" else None
        bad = run_quality(engine, run_id="clean", as_of=AS_OF, settings=SETTINGS, docs_dir=docs)
        _check_planted(bad)
        assert bad.status == "failed"
        summary = json.loads(json.dumps(bad.as_dict()))
        assert summary["status"] == "failed"
        assert {f["check_name"] for f in summary["failures"]} == set(EXPECTED)
        # rerun of the same run id: its rows replaced, not added; the run's verdict updated
        stored = _stored(engine, "clean")
        assert len(stored) == len(bad.checks)
        assert stored["payout_lines_tie_out"].unexpected_count == 1
        assert stored["payout_lines_tie_out"].details["samples"] == ["po_4"]
        assert "500" in stored["payout_lines_tie_out"].observed
        assert _dq_status(engine, "clean") == "failed"
        assert len(_stored(engine, "late")) == len(bad.checks)  # other runs untouched

        with pytest.raises(DataQualityFailed) as raised:
            bad.raise_for_critical()
        message = str(raised.value)
        critical = {c.name for c in bad.failed_critical}
        assert critical
        assert all(f"{name} (" in message for name in critical)
        assert "unique_payment_id (stg_payments): 1 unexpected, e.g. pay_1" in message
        assert "refund_requests_order_exists" not in message  # a warning
        assert "\n" not in message

        if docs is not None:
            assert (docs / "index.html").is_file()
            pages = list((docs / "validations").rglob("*.html"))
            assert len(pages) == 9  # one per checked table
            assert any("lines of each payout plus its payout fee" in p.read_text() for p in pages)
        assert list(quiet_cwd.iterdir()) == []
    finally:
        engine.dispose()


def test_settings_from_environment() -> None:
    env = {"CFP_DQ_PAYOUTS_MAX_AGE": "10d", "CFP_DQ_FRESHNESS_CRITICAL": "true", "CFP_DQ_SAMPLE_SIZE": "3"}
    settings = QualitySettings.load(env=env)
    assert settings.payouts_max_age == timedelta(days=10)
    checks = build_checks("postgresql", AS_OF, settings)
    assert {c.severity for c in checks if c.name in FRESHNESS} == {"critical"}
    with pytest.raises(Exception, match="CFP_DQ_SAMPLE_SIZE"):
        QualitySettings.load(env={"CFP_DQ_SAMPLE_SIZE": "0"})


def test_failure_message_is_escaped_and_bounded() -> None:
    from checkout_freshportal.reconcile.quality import CheckResult

    bad = CheckResult(
        name="unique_payment_id",
        table="stg_payments",
        severity="critical",
        success=False,
        unexpected_count=9,
        samples=tuple(f"pay_{i}" for i in range(7)),
    )
    result = QualityResult("run\n1", AS_OF, (bad,))
    with pytest.raises(DataQualityFailed) as raised:
        result.raise_for_critical()
    text = str(raised.value)
    assert "run\\x0a1" in text
    assert "\n" not in text
    assert "pay_4" in text
    assert "pay_5" not in text
    assert raised.value.failed == (bad,)


def test_great_expectations_is_imported_inside_functions_only() -> None:
    """Importing the package must not import Great Expectations (seconds; DAG files import the
    library at parse time): no module-level import of it in any module of the package."""
    import ast

    import checkout_freshportal.reconcile.quality as package

    top_level = []
    for module in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in tree.body:  # statements at module level (functions' bodies are not walked)
            for sub in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else ():
                names = []
                if isinstance(sub, ast.Import):
                    names = [a.name for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    names = [sub.module or ""]
                top_level += [f"{module.name}: {n}" for n in names if n.startswith("great_expectations")]
    assert top_level == []
    assert len(build_checks("sqlite", AS_OF, SETTINGS)) == len(EXPECTED) + len(FRESHNESS)


def test_unreachable_warehouse_fails_without_its_password() -> None:
    from checkout_freshportal.reconcile.quality.gx_runner import QualitySuiteError

    engine = make_engine("postgresql+psycopg://cfp:s3cret-pw@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(QualitySuiteError) as raised:
        run_quality(engine, run_id="r", as_of=AS_OF, settings=SETTINGS)
    assert "s3cret-pw" not in str(raised.value)
    assert "cannot open the warehouse" in str(raised.value)
