"""``make demo``: both jobs end to end on the demo's own SQLite warehouse.

The warehouse is ``.demo/warehouse.sqlite``, handed to every process as ``CFP_WAREHOUSE_URL``
(the library has no default of its own) and migrated first by the deploy step ``cfp db
upgrade``. Builds one shared scenario (``sandbox/shared_scenario.py``) and starts, on loopback,
the Checkout.com and FreshPortal sandboxes loading it, a standalone Airflow with that warehouse
and every Connection in its environment, and the webhook sidecar. Then:

1. **ingestion**: triggers ``checkout_ingest`` through the REST API like an operator would and
   prints what landed beside what the scenario holds;
2. **near real time** (``flow``): payment links for the open orders, simulated customers
   paying, signed webhooks -> sidecar -> ``checkout_events`` -> FreshPortal, and the
   FreshPortal payment-status distribution beside the scenario's expected one;
3. **money** (``money``): the scenario's disputes played as webhooks, ``freshportal_refunds``
   and ``freshportal_captures`` triggered until every request and release is answered, and
   each outcome beside the one the scenario expects.

Exit status 0 only if all three agree. Docs: docs/demo.md.
"""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from cfp_dev.demo.landed import compare_with_scenario, landed_summary
from cfp_dev.demo.stack import FROZEN_CLOCK, DemoStack
from cfp_dev.paths import DEMO_DIR
from checkout_freshportal.money import to_major

__all__ = ["FROZEN_CLOCK", "run_demo"]


def _reset_warehouse(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _shown(row: dict[str, Any], value: Any) -> str:
    """Counts as they are; money in major units of its currency, exactly (no rounding)."""
    currency = row["what"].rsplit(" ", 1)[-1]
    if isinstance(value, int) and len(currency) == 3 and currency.isupper():
        return f"{to_major(value, currency):,}"
    if isinstance(value, str):
        return f"{Decimal(value):,}"
    return f"{value:,}"


def _print_comparison(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["what"]) for r in rows)
    print(f"\n{'what':<{width}}  {'scenario':>20}  {'warehouse':>20}  ok")
    print("-" * (width + 48))
    for r in rows:
        mark = "yes" if r["ok"] else "NO"
        print(f"{r['what']:<{width}}  {_shown(r, r['expected']):>20}  {_shown(r, r['landed']):>20}  {mark}")
    print("(money in major units of each currency, to the minor unit; report amounts to 8 decimals)")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISMATCH"


def _scenario(seed: int, scenario_file: str | None) -> dict[str, Any]:
    """The generated shared scenario, or a file's moved to the wall clock (ages kept)."""
    from datetime import UTC, datetime

    from cfp_dev.sandbox.planted import rebase
    from cfp_dev.sandbox.shared_scenario import build_shared_scenario, read_scenario

    if scenario_file is None:
        return build_shared_scenario(seed)
    scenario = read_scenario(scenario_file)
    return rebase(scenario, datetime.now(UTC)) if "now" in scenario else scenario


def run_demo(seed: int = 42, keep_running: bool = False, scenario_file: str | None = None) -> int:
    from cfp_dev.demo.flow import run_flow
    from cfp_dev.demo.money import run_money
    from cfp_dev.demo.recon import run_reconciliation_step
    from cfp_dev.sandbox.shared_scenario import write_scenario
    from checkout_freshportal.warehouse.engine import make_engine

    started = time.monotonic()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    logs = DEMO_DIR / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    warehouse_file = DEMO_DIR / "warehouse.sqlite"
    _reset_warehouse(warehouse_file)
    # A fresh Airflow metadata database: one left by an earlier demo may hold DAGs serialized
    # with their schedules on, whose due runs the scheduler would start before re-parsing.
    shutil.rmtree(DEMO_DIR / "airflow", ignore_errors=True)
    warehouse_url = f"sqlite:///{warehouse_file}"

    # One scenario for both sandboxes: FreshPortal order number = Checkout.com payment reference.
    scenario = _scenario(seed, scenario_file)
    shutil.rmtree(DEMO_DIR / "reports", ignore_errors=True)
    scenario_path = write_scenario(scenario, DEMO_DIR / "shared-scenario.json")
    # The sandbox clock is frozen so the scenario cannot move between the ingestion and the
    # comparison below (with the clock running, an authorization could be captured in between).
    stack = DemoStack(home=DEMO_DIR, scenario_path=scenario_path, warehouse_url=warehouse_url)
    airflow = stack.airflow
    sandbox_url = stack.checkout_url
    print(f"[demo] Checkout.com sandbox ({scenario_file or f'seed {seed}'}) on {sandbox_url}")
    print(
        f"[demo] FreshPortal sandbox on {stack.freshportal_url}: {len(scenario['freshportal']['orders'])} "
        f"orders ({scenario['demo']['history_orders']} from before go-live, "
        f"{len(scenario['demo']['customers'])} open); shared scenario {scenario_path}"
    )
    try:
        # The deploy step comes first, as in any deployment: tasks and the sidecar only check
        # that the schema is at head and refuse to run otherwise.
        print(f"[demo] deploy step `cfp db upgrade`: {stack.migrate()}")
        # Airflow takes the longest to come up: launch it first, start the rest meanwhile.
        print("[demo] starting Airflow standalone (scheduler, dag-processor, api-server, triggerer) ...")
        stack.launch_airflow()
        stack.start_sandboxes()
        engine = make_engine(warehouse_url)
        stack.start_sidecar()
        print(f"[demo] webhook sidecar on {stack.sidecar_url} (logs in {stack.logs})")
        stack.wait_airflow()
        print(f"[demo] Airflow on {airflow.base_url} (user admin, password in {airflow.home}/passwords.json)")
        airflow.wait_dag("checkout_ingest")
        # The sandbox's history runs up to this second and it has no index lag, so the demo
        # asks for no settle margin; production keeps the 2-minute default.
        run_id = airflow.trigger("checkout_ingest", conf={"settings": {"settle_hours": 0}})
        print(f"[demo] triggered checkout_ingest run {run_id}; waiting ...")
        run = airflow.wait_run("checkout_ingest", run_id)
        states = airflow.task_states("checkout_ingest", run_id)
        print(f"[demo] run {run['state']}: " + ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
        for task_id in sorted(states):
            out = airflow.xcom("checkout_ingest", run_id, task_id)
            if isinstance(out, dict):
                keep = {
                    k: out[k]
                    for k in ("fetched", "inserted", "updated", "files_loaded", "watermark")
                    if k in out
                }
                print(f"        {task_id}: {keep}")
        if run["state"] != "success":
            print(f"[demo] FAILED: see {airflow.home}/logs and the Airflow UI")
            return 1
        summary = requests.get(f"{sandbox_url}/_sandbox/summary", timeout=10).json()
        rows = compare_with_scenario(summary, landed_summary(engine))
        _print_comparison(rows)
        ok = all(r["ok"] for r in rows)
        print(
            f"\n[demo] {'everything the scenario holds landed' if ok else 'MISMATCH'} "
            f"in {time.monotonic() - started:.0f}s"
        )
        print("\n[demo] near real time: orders -> payment links -> customers pay -> webhooks -> FreshPortal")
        flow_ok = run_flow(stack, scenario)
        money_ok = True
        if scenario["demo"].get("money"):
            print("\n[demo] refunds, disputes and captures: FreshPortal requests -> Checkout.com -> answers")
            money_ok = run_money(stack, scenario)
        print("\n[demo] reconciliation: warehouse brought up to date, then the reconciliation DAG")
        recon_ok, report = run_reconciliation_step(stack, scenario)
        every = ok and flow_ok and money_ok and recon_ok
        print(
            f"\n[demo] {'every job agrees with the scenario' if every else 'MISMATCH'} "
            f"(ingestion {_verdict(ok)}, payment status {_verdict(flow_ok)}, "
            f"refunds/disputes/captures {_verdict(money_ok)}, reconciliation {_verdict(recon_ok)}) "
            f"in {time.monotonic() - started:.0f}s"
        )
        print(f"[demo] report: {report}")
        if keep_running:
            print(
                f"[demo] still running: Airflow {airflow.base_url}, Checkout.com sandbox {sandbox_url}, "
                f"FreshPortal sandbox {stack.freshportal_url}, sidecar {stack.sidecar_url}; Ctrl-C stops"
            )
            while True:
                time.sleep(3600)
        return 0 if every else 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
