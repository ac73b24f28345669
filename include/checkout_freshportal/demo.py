"""``make demo``: the main job end to end on the embedded default.

Starts the Checkout.com sandbox with a seeded scenario, a standalone Airflow on loopback with
the SQLite warehouse, triggers ``checkout_ingest`` through the REST API like an operator would,
and prints what landed beside what the scenario holds. Exit status 0 only if they agree.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from checkout_freshportal.config import DEMO_DIR
from checkout_freshportal.demo_stack import AirflowStandalone, free_port, start_process, venv_bin, wait_http
from checkout_freshportal.money import to_major
from checkout_freshportal.sync.landed import compare_with_scenario, landed_summary

FROZEN_CLOCK = ("--clock-speed", "0.000001")


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


def run_demo(seed: int = 42, keep_running: bool = False) -> int:
    from checkout_freshportal.sandbox.checkout import DEFAULT_SECRET_KEY
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import upgrade

    started = time.monotonic()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    logs = DEMO_DIR / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    warehouse_file = DEMO_DIR / "warehouse.sqlite"
    _reset_warehouse(warehouse_file)
    warehouse_url = f"sqlite:///{warehouse_file}"

    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    print(f"[demo] Checkout.com sandbox (seed {seed}) on {sandbox_url}")
    sandbox = start_process(
        "sandbox-checkout",
        # The sandbox clock is frozen so the scenario cannot move between the ingestion and the
        # comparison below (with the clock running, an authorization could be captured in between).
        [
            venv_bin("cfp"),
            "sandbox",
            "checkout",
            "--port",
            str(sandbox_port),
            "--seed",
            str(seed),
            *FROZEN_CLOCK,
        ],
        dict(os.environ),
        logs,
    )
    airflow = AirflowStandalone(
        home=DEMO_DIR / "airflow",
        env_extra={
            "CFP_WAREHOUSE_URL": warehouse_url,
            "CFP_INGEST_SCHEDULE": "none",
            "AIRFLOW_CONN_CHECKOUT_DEFAULT": json.dumps(
                {"conn_type": "checkout", "host": sandbox_url, "password": DEFAULT_SECRET_KEY}
            ),
        },
    )
    try:
        wait_http(f"{sandbox_url}/_sandbox/summary", 60, sandbox.proc, sandbox.log_path)
        engine = make_engine(warehouse_url)
        upgrade(engine)
        print(f"[demo] warehouse migrated: {warehouse_file}")
        print("[demo] starting Airflow standalone (scheduler, dag-processor, api-server, triggerer) ...")
        airflow.start()
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
        scenario = requests.get(f"{sandbox_url}/_sandbox/summary", timeout=10).json()
        rows = compare_with_scenario(scenario, landed_summary(engine))
        _print_comparison(rows)
        ok = all(r["ok"] for r in rows)
        print(
            f"\n[demo] {'everything the scenario holds landed' if ok else 'MISMATCH'} "
            f"in {time.monotonic() - started:.0f}s"
        )
        if keep_running:
            print(f"[demo] still running: Airflow {airflow.base_url}, sandbox {sandbox_url}; Ctrl-C stops")
            while True:
                time.sleep(3600)
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        airflow.stop()
        sandbox.stop()
