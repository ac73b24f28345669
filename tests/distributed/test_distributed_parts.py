"""The distributed run's parts that need no running stack: who-ran-what, URLs shown, settings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cfp_dev.demo.airflow_api import AirflowApi
from cfp_dev.demo.procs import Managed
from cfp_dev.distributed.hostname import worker_hostname
from cfp_dev.distributed.settings import DistributedSettings
from cfp_dev.distributed.workers import check_workers, worker_usage


class _Recorded(AirflowApi):
    """Task instances as the REST API lists them, without a server (only the listing is used)."""

    def __init__(self, tis: list[dict[str, Any]]) -> None:
        super().__init__(home=Path("/nonexistent"))
        self.tis = tis

    def task_instances(self, dag_id: str = "~", run_id: str = "~") -> Any:
        return iter(self.tis)

    def launch(self) -> AirflowApi:
        raise AssertionError("not started in this test")

    def wait_ready(self, timeout: float = 180.0) -> AirflowApi:
        raise AssertionError("not started in this test")

    def processes(self) -> list[Managed]:
        return []

    def stop(self) -> None:
        return None


def _ti(dag: str, host: str | None, state: str | None = "success") -> dict[str, Any]:
    return {"dag_id": dag, "task_id": "t", "hostname": host, "state": state}


def test_usage_counts_per_host_and_dag_and_leaves_out_what_never_ran() -> None:
    tis = [_ti("a", "w1"), _ti("a", "w1"), _ti("b", "w2"), _ti("b", None, None), _ti("c", "", "skipped")]
    assert worker_usage(tis) == {"w1": Counter({"a": 2}), "w2": Counter({"b": 1})}


def test_both_workers_must_have_run_something_and_nothing_may_run_elsewhere() -> None:
    lines: list[str] = []
    ok, usage = check_workers(_Recorded([_ti("a", "w1"), _ti("b", "w2")]), ["w1", "w2"], lines.append)
    assert ok
    assert set(usage) == {"w1", "w2"}
    assert lines[0].startswith("worker")

    lines.clear()
    ok, _ = check_workers(_Recorded([_ti("a", "w1"), _ti("b", "w1")]), ["w1", "w2"], lines.append)
    assert not ok
    assert any("ran no task: ['w2']" in line for line in lines)

    lines.clear()
    elsewhere = _Recorded([_ti("a", "w1"), _ti("b", "w2"), _ti("c", "laptop")])
    ok, _ = check_workers(elsewhere, ["w1", "w2"], lines.append)
    assert not ok
    assert any("not workers: ['laptop']" in line for line in lines)


def test_urls_and_names_derive_from_the_server_url_and_hide_passwords() -> None:
    s = DistributedSettings(
        pg_url="postgresql+psycopg://u:secret@db.example:5433/postgres",
        redis_url="redis://:hunter2@cache.example:6379/11",
        db_prefix="cfp_x",
    )
    assert (s.airflow_db, s.warehouse_db) == ("cfp_x_airflow", "cfp_x_warehouse")
    assert s.metadata_url == "postgresql+psycopg://u:secret@db.example:5433/cfp_x_airflow"
    assert s.warehouse_url.endswith("/cfp_x_warehouse")
    assert s.result_backend_url == "db+" + s.metadata_url
    assert s.shown(s.result_backend_url).startswith("db+postgresql+psycopg://u:***@")
    assert "secret" not in s.shown(s.metadata_url)
    assert s.shown(s.redis_url) == "redis://cache.example:6379/11"
    redis = DistributedSettings(pg_url=s.pg_url, redis_url=s.redis_url, result_backend="redis")
    assert redis.result_backend_url == s.redis_url
    with pytest.raises(ValueError, match="redis or database"):
        _ = DistributedSettings(result_backend="rpc").result_backend_url


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFP_DIST_PG_URL", "postgresql+psycopg://postgres@10.0.0.5/postgres")
    monkeypatch.setenv("CFP_DIST_REDIS_URL", "redis://10.0.0.6:6379/3")
    monkeypatch.setenv("CFP_DIST_RESULT_BACKEND", "redis")
    s = DistributedSettings.from_env()
    assert (s.pg_url, s.redis_url, s.result_backend) == (
        "postgresql+psycopg://postgres@10.0.0.5/postgres",
        "redis://10.0.0.6:6379/3",
        "redis",
    )


def test_a_worker_reports_its_own_name_and_everything_else_the_machine_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CFP_WORKER_HOSTNAME", "cfp-worker-2")
    assert worker_hostname() == "cfp-worker-2"
    monkeypatch.delenv("CFP_WORKER_HOSTNAME")
    import socket

    assert worker_hostname() == socket.getfqdn()
