"""End to end on a live standalone Airflow: signed webhook -> sidecar -> REST trigger -> DAG run.

The DAG folder is ``tests/sidecar/dags`` (a stand-in ``checkout_events`` that marks events
processed), so this proves the sidecar's half of the near-real-time path on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from sidecar_helpers import KEYS, envelope, post, rows, sidecar_env, signed, start_sidecar

from cfp_dev.demo.stack import AirflowStandalone
from checkout_freshportal.warehouse.migrate import upgrade

DAGS = Path(__file__).resolve().parent / "dags"


def _metric(text: str, name: str) -> float:
    return float(next(ln.split()[-1] for ln in text.splitlines() if ln.startswith(name + " ")))


@pytest.mark.airflow
@pytest.mark.slow
@pytest.mark.postgres
def test_webhook_reaches_a_dag_run_that_processes_it(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    af = AirflowStandalone(
        home=tmp_path / "airflow",
        env_extra={"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "CFP_WAREHOUSE_URL": pg_url},
    )
    sidecar = None
    try:
        af.start()
        af.wait_dag("checkout_events")
        env = sidecar_env(
            pg_url,
            CFP_SIDECAR_TRIGGER_ENABLED="true",
            CFP_AIRFLOW_URL=af.base_url,
            CFP_AIRFLOW_USER="admin",
            CFP_AIRFLOW_PASSWORD=af.password,
            CFP_SIDECAR_TRIGGER_DELAY="0.5",
        )
        sidecar = start_sidecar(env, tmp_path / "logs")

        sent_at = time.monotonic()
        bodies = [envelope("evt_e2e_1"), envelope("evt_e2e_2", "payment_refunded", shape="events")]
        for body in bodies:
            assert post(sidecar.url, body, signed(body, KEYS[1])).json() == {"status": "stored"}
        poison = b'{"id":"evt_e2e_poison","data":[1]}'  # id readable, no type: poison under its id
        assert post(sidecar.url, poison, signed(poison)).json() == {"status": "poison"}
        bad = envelope("evt_e2e_forged")
        assert post(sidecar.url, bad, signed(bad, b"forged")).status_code == 401

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            by_id = {r["event_id"]: r for r in rows(pg_url)}
            if all(by_id[f"evt_e2e_{i}"]["processed_at"] is not None for i in (1, 2)):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"events not processed; sidecar log:\n{sidecar.managed.log_path.read_text()[-3000:]}")
        latency = time.monotonic() - sent_at

        assert set(by_id) == {"evt_e2e_1", "evt_e2e_2", "evt_e2e_poison"}
        assert by_id["evt_e2e_poison"]["processed_at"] is None  # never applied
        runs = af.api("GET", "/dags/checkout_events/dagRuns").json()["dag_runs"]
        assert len(runs) == 1, runs  # two events, one run (coalesced)
        [run] = runs
        assert run["dag_run_id"].startswith("sidecar__")
        assert run["conf"]["triggered_by"] == "cfp-sidecar"
        assert run["conf"]["pending_events"] == 2
        assert af.wait_run("checkout_events", run["dag_run_id"], timeout=60)["state"] == "success"

        metrics = requests.get(f"{sidecar.url}/metrics", timeout=10).text
        assert _metric(metrics, "cfp_sidecar_trigger_calls_total") == 1
        assert _metric(metrics, "cfp_sidecar_trigger_failures_total") == 0
        assert _metric(metrics, "cfp_sidecar_trigger_leader") == 1
        assert _metric(metrics, "cfp_sidecar_unprocessed_events") == 0
        assert _metric(metrics, "cfp_sidecar_poison_events") == 1
        log = sidecar.managed.log_path.read_text()
        assert af.password not in log
        assert KEYS[0].decode() not in log
        assert KEYS[1].decode() not in log
        print(f"\nwebhook -> event processed by the DAG run: {latency:.1f} s")
    finally:
        if sidecar is not None:
            sidecar.stop()
        af.stop()
