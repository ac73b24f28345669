"""One ``freshportal_refunds`` run through Airflow (``dag.test``), started when a file appears.

Run as a script by ``test_refunds_dag.py``: two of these, each with its own Airflow home (a
copy of the session's initialised metadata database), race on the same PostgreSQL warehouse and
simulators -- two DAG runs started at the same moment, as a scheduler with ``max_active_runs``
raised, a manual trigger beside a scheduled run, or two deployments by mistake would start them.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main(ready_file: str, go_file: str, logical_minute: int, settings: str) -> int:
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags["freshportal_refunds"]
    Path(ready_file).touch()
    deadline = time.monotonic() + 120
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.01)
    run = dag.test(
        run_conf={"settings": json.loads(settings)},
        logical_date=datetime(2026, 4, 1, 0, logical_minute, tzinfo=UTC),
    )
    print(json.dumps({"state": str(run.state)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
