"""``reconciliation`` end to end through Airflow (``dag.test``) on SQLite, with the FreshPortal
simulator for notes: one run whose data-quality suite fails a critical check. The report is
still written and shows the failure, no note goes out (the note step is skipped: customer
service must not act on exceptions found in data known to be wrong), and the watcher leaf fails
the run.

One ``dag.test`` (its first call in a process costs ~10 s): the success path of each step is
covered by the library's own tests; what only a real run shows is the wiring (trigger rules,
the shared as_of, Connections from the environment, the retry policy on a permanent failure).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import seed as s
import sqlalchemy as sa

from cfp_dev.sandbox.freshportal import FreshPortalSandboxServer
from checkout_freshportal.freshportal.client import FreshPortalClient
from checkout_freshportal.warehouse.schema.recon import recon_dq_results, recon_exceptions, recon_runs
from checkout_freshportal.warehouse.schema.stg import stg_orders

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _states(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


def test_a_failed_critical_check_is_reported_not_noted_and_fails_the_run(
    dagbag,
    seeded_sqlite_url: str,
    fp_server: FreshPortalSandboxServer,
    fp: FreshPortalClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = sa.create_engine(seeded_sqlite_url)
    with engine.begin() as conn:  # FreshPortal shows a negative amount paid: a critical check fails
        order = conn.execute(sa.select(stg_orders).where(stg_orders.c.order_id == s.ORDER_ID)).one()._asdict()
        order.update(order_id="5003", order_number="FP-500003", amount_minor=2000, amount_paid_minor=-1)
        conn.execute(sa.insert(stg_orders), order)
        # The seeded order number with an ANSI escape is for the trace's escaping tests; the
        # XLSX export refuses control characters (reported to the report's owner).
        conn.execute(
            sa.update(stg_orders).where(stg_orders.c.order_id == "5002").values(order_number="FP-500002")
        )
    out = tmp_path / "reports"
    monkeypatch.setenv("CFP_WAREHOUSE_URL", seeded_sqlite_url)
    monkeypatch.setenv("CFP_REPORT_OUT_DIR", str(out))
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
        json.dumps({"conn_type": "freshportal", "host": fp_server.base_url, "password": fp_server.api_key}),
    )
    run = dagbag.dags["reconciliation"].test(
        run_conf={"full": True, "settings": {"payment_due_days": 3}},
        logical_date=datetime(2026, 12, 1, tzinfo=UTC),
    )
    states = _states(run)
    assert run.state == "failed", states
    assert states == {
        "reconcile": ("success", 1),
        "data_quality": ("failed", 1),  # permanent: not retried
        "render_report": ("success", 1),
        "note_exceptions": ("skipped", 1),  # data quality failed: no notes from this run
        "fail_if_a_step_failed": ("failed", 1),
    }
    with engine.connect() as conn:
        recon_run = conn.execute(sa.select(recon_runs).where(recon_runs.c.run_id == run.run_id)).one()
        failed = (
            conn.execute(
                sa.select(recon_dq_results.c.check_name).where(
                    recon_dq_results.c.run_id == run.run_id, sa.not_(recon_dq_results.c.success)
                )
            )
            .scalars()
            .all()
        )
        exceptions = conn.execute(sa.select(recon_exceptions)).mappings().all()
    engine.dispose()
    assert (recon_run.status, recon_run.dq_status) == ("succeeded", "failed")
    assert "orders_amounts_not_negative" in failed
    html = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert "orders_amounts_not_negative" in html  # the report shows the failed data-quality run
    # The seeded missing payment is paid (the payment's reference is the order number): resolved.
    by_key = {e["exception_key"]: e for e in exceptions}
    assert (by_key[s.EXCEPTION_KEY]["status"], by_key[s.EXCEPTION_KEY]["state_version"]) == ("resolved", 2)
    assert by_key["missing_payment:order:5003"]["status"] == "open"
    # Nothing was noted: the exceptions stay owed for the next run whose data passes.
    with_order = [e for e in exceptions if e["order_id"] is not None]
    assert with_order
    for e in with_order:
        assert e["notified_version"] is None, e["exception_key"]
        assert e["state_version"] > 0
    for order_id in {e["order_id"] for e in with_order} | {"5001"}:
        refs = [n.external_ref for n in fp.list_notes(order_id)]
        assert not [r for r in refs if r.startswith("cfp-exception:")], order_id
