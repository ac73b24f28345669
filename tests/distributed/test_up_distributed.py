"""`make up-distributed` end to end: the docker-compose topology as plain processes.

One run of the whole pipeline on a small scenario (every DAG runs at least once: ingestion,
payment requests, events, refunds, captures, reconciliation) with Airflow on the CeleryExecutor:
api-server, scheduler, dag-processor, triggerer and two Celery workers on PostgreSQL metadata, a
PostgreSQL warehouse and a Redis broker. Checked: the demo's own verdicts, that both workers ran
task instances (their ``hostname`` through the REST API), and that nothing it started outlives it.

Needs PostgreSQL and Redis: outside CI the test skips with the reason when either is down; under
CI=true it fails instead. Its databases have names of their own (dropped afterwards) and its
broker another Redis database number than ``make up-distributed``'s, so it never wipes a stack
started by hand.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from cfp_dev.demo.procs import _group_alive
from cfp_dev.demo.run import demo
from cfp_dev.distributed.settings import DistributedSettings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

#: The smallest generated scenario that still has every kind of case (money cases included).
SMALL = {"days": 1, "payments_per_day": 8, "open_orders": 10}

EVERY_DAG = {
    "checkout_ingest",
    "freshportal_payment_requests",
    "checkout_events",
    "freshportal_refunds",
    "freshportal_captures",
    "reconciliation",
}


@pytest.fixture
def settings(pg_server_url: str) -> DistributedSettings:
    redis_url = os.environ.get("CFP_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
    settings = DistributedSettings(
        pg_url=pg_server_url,
        redis_url=redis_url,
        db_prefix=f"cfp_dist_t{uuid.uuid4().hex[:8]}",
        # The test servers are scratch servers wherever CI puts them; the databases are uniquely named.
        allowed_hosts=tuple(
            h for h in [sa.engine.make_url(pg_server_url).host, urlsplit(redis_url).hostname] if h
        ),
    )
    reason = settings.unreachable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the distributed run must run)")
        pytest.skip(reason)
    return settings


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.airflow
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_the_pipeline_runs_on_two_celery_workers_and_stops_cleanly(
    tmp_path: Path, settings: DistributedSettings
) -> None:
    try:
        result = demo(seed=7, size=SMALL, distributed=settings, home=tmp_path, tty=False)
    finally:
        settings.drop()
        settings.flush_broker()

    assert result.completed, "the run stopped before its verdict; logs in " + str(tmp_path / "logs")
    assert result.checks == {
        "ingestion": True,
        "payment status": True,
        "refunds/disputes/captures": True,
        "reconciliation": True,
        "both workers": True,
    }
    assert result.report is not None
    assert result.report.is_file()
    assert set(result.workers) == set(settings.workers)
    assert all(sum(dags.values()) > 0 for dags in result.workers.values())
    ran = {dag for dags in result.workers.values() for dag in dags}
    assert ran >= EVERY_DAG

    names = {p.name for p in result.processes}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", *settings.workers} <= names
    assert {"sidecar", "sandbox-checkout", "sandbox-freshportal"} <= names
    alive = [p.name for p in result.processes if p.proc.poll() is None or _group_alive(p.proc.pid)]
    assert alive == []
    assert [port for port in result.ports if _port_open(port)] == []
