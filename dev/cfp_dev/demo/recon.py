"""The last part of ``make demo``: the warehouse brought up to date, then the ``reconciliation`` DAG.

Runs after the money part on the same stack:

1. ``freshportal_refunds`` and ``freshportal_captures`` once more when the scenario has no
   money cases of its own (a planted scenario's refund request must be executed too);
2. ``checkout_ingest`` again (the refunds and captures the demo made moved balances and wrote
   financial actions) and ``freshportal_payment_requests`` again (its ``sync_orders`` stages
   what FreshPortal shows now: statuses pushed, or edited by hand);
3. ``reconciliation`` triggered through the REST API like every other step, with the
   scenario's ``demo.reconciliation.settings`` (a planted scenario compares FreshPortal's
   status at once: ``status_grace`` 0) and ``full``; its task states, the report folder
   (XCom of ``render_report``) and the headline figures per currency;
4. for a planted scenario: each planted case's expected exceptions beside what reconciliation
   found (``planted_check``), the control orders clean, and nothing found that was not planted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cfp_dev.demo.money import FAST_OUTCOMES, run_until
from cfp_dev.demo.stack import DemoStack

Printer = Callable[[str], None]


def _report(stack: DemoStack, dag_id: str, run_id: str, out: Printer) -> str:
    airflow = stack.airflow
    run = airflow.wait_run(dag_id, run_id)
    states = airflow.task_states(dag_id, run_id)
    bad = [f"{t} {st}" for t, st in sorted(states.items()) if st not in ("success", "skipped")]
    out(f"[demo] {dag_id}: {run['state']}" + (f" ({', '.join(bad)})" if bad else ""))
    return str(run["state"])


def _trigger(stack: DemoStack, dag_id: str, conf: dict[str, Any], out: Printer) -> tuple[str, str]:
    stack.airflow.wait_dag(dag_id)
    run_id = stack.airflow.trigger(dag_id, conf=conf)
    return run_id, _report(stack, dag_id, run_id, out)


def _requests_answered(stack: DemoStack) -> Callable[[], bool]:
    from cfp_dev.demo.flow import fp_state

    def done() -> bool:
        state = fp_state(stack.freshportal_url)
        return not any(r["status"] in ("requested", "approved") for r in state["refund_requests"])

    return done


def catch_up(stack: DemoStack, scenario: dict[str, Any], out: Printer) -> bool:
    """Steps 1-2: what reconciliation reads brought up to date the way the DAGs do it."""
    ok = True
    if not scenario["demo"].get("money"):
        ok &= run_until(stack, "freshportal_refunds", FAST_OUTCOMES, _requests_answered(stack), out, 3)
        _, state = _trigger(stack, "freshportal_captures", {"settings": FAST_OUTCOMES}, out)
        ok &= state == "success"
    # Both at once (they write different tables): one DAG-run start-up less to wait for.
    runs = {
        "checkout_ingest": {"settings": {"settle_hours": 0}},
        "freshportal_payment_requests": {"settings": {"confirmed_after": scenario["demo"]["go_live"]}},
    }
    started = {dag_id: stack.airflow.trigger(dag_id, conf=conf) for dag_id, conf in runs.items()}
    for dag_id, run_id in started.items():
        ok &= _report(stack, dag_id, run_id, out) == "success"
    return ok


def print_headline(engine: sa.Engine, run_id: str, out: Printer) -> None:
    """The report's headline figures per currency (reports.headline), one line each."""
    from checkout_freshportal.reports.headline import headline, headline_lines

    out("\n[demo] headline figures of the run, per currency (exact, major units):")
    for line in headline_lines(headline(engine, run_id=run_id)):
        out(f"        {line}")


def check_planted(engine: sa.Engine, scenario: dict[str, Any], out: Printer) -> bool:
    """Step 4: planted cases beside what reconciliation found; True when exactly as planted."""
    from cfp_dev.demo.planted_check import control_orders, expected_keys
    from checkout_freshportal.warehouse.schema.recon import recon_exceptions as t

    expected = expected_keys(engine, scenario)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.exception_key, t.c.order_number).where(t.c.status == "open"))
        found = {r.exception_key: r.order_number for r in rows}
    out(f"\n{'planted case':<22} {'expected exception':<60} ok")
    for key, case in sorted(expected.items(), key=lambda kv: kv[1]):
        out(f"{case:<22} {key[:60]:<60} {'yes' if key in found else 'NO'}")
    extra = sorted(set(found) - set(expected))
    dirty = sorted({n for k, n in found.items() if n in set(control_orders(scenario))})
    for key in extra:
        out(f"{'(not planted)':<22} {key[:60]:<60} NO")
    out(f"[demo] control orders with an exception: {dirty or 'none'}")
    return set(found) == set(expected) and not dirty


def run_reconciliation_step(
    stack: DemoStack, scenario: dict[str, Any], out: Printer = print
) -> tuple[bool, Path]:
    """Steps 1-4 of the module docstring: (every run succeeded and, planted, matched; report)."""
    from checkout_freshportal.warehouse.engine import make_engine

    began = time.monotonic()
    ok = catch_up(stack, scenario, out)
    planted = scenario["demo"].get("reconciliation")
    settings = dict(planted["settings"]) if planted else {}
    run_id, state = _trigger(stack, "reconciliation", {"settings": settings, "full": True}, out)
    ok &= state == "success"
    paths = stack.airflow.xcom("reconciliation", run_id, "render_report") or {}
    report = next((v for k, v in sorted(paths.items()) if k.endswith("html")), None)
    engine = make_engine(stack.warehouse_url)
    try:
        print_headline(engine, run_id, out)
        if planted:
            ok &= check_planted(engine, scenario, out)
    finally:
        engine.dispose()
    out(f"[demo] reconciliation part: {time.monotonic() - began:.0f}s")
    return ok, Path(report) if report else stack.home / "reports" / "latest" / "report.html"
