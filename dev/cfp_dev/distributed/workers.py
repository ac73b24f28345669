"""Which Celery worker ran which task: the task instances' ``hostname`` read through the REST API.

Each worker reports its ``--celery-hostname`` as the task instance's host name (see
``hostname.py``), so the REST API alone tells the workers apart, as it would for containers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cfp_dev.demo.airflow_api import AirflowApi

Printer = Callable[[str], None]


def worker_usage(task_instances: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Host name -> DAG id -> how many task instances ran there (one that never ran has no host)."""
    usage: dict[str, Counter[str]] = defaultdict(Counter)
    for ti in task_instances:
        host = ti.get("hostname")
        if host:
            usage[host][ti["dag_id"]] += 1
    return dict(usage)


def check_workers(
    airflow: AirflowApi, workers: Iterable[str], out: Printer = print
) -> tuple[bool, dict[str, Counter[str]]]:
    """Print who ran what; True only when every named worker ran a task and nothing ran elsewhere."""
    usage = worker_usage(airflow.task_instances())
    names = list(workers)
    width = max([len(h) for h in [*names, *usage]] + [6])
    out(f"{'worker':<{width}}  {'tasks':>5}  DAGs (task instances)")
    for host in sorted(set(names) | set(usage)):
        dags = usage.get(host, Counter())
        shown = ", ".join(f"{d} {n}" for d, n in sorted(dags.items())) or "-"
        out(f"{host:<{width}}  {sum(dags.values()):>5}  {shown}")
    idle = [w for w in names if not usage.get(w)]
    elsewhere = sorted(set(usage) - set(names))
    if idle:
        out(f"[demo] MISMATCH: worker(s) that ran no task: {idle}")
    if elsewhere:
        out(f"[demo] MISMATCH: task instances ran on host(s) that are not workers: {elsewhere}")
    return not idle and not elsewhere, usage
