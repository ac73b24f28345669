"""The distributed run's parts that need no running stack: who-ran-what, URLs shown, settings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cfp_dev.demo.airflow_api import AirflowApi
from cfp_dev.demo.procs import Managed
from cfp_dev.distributed.hostname import worker_hostname
from cfp_dev.distributed.settings import DistributedSettings, UnsafeResetError, is_loopback
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


@pytest.mark.parametrize(
    ("host", "local"),
    [
        (None, True),
        ("", True),
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("/run/postgresql", True),
        ("10.0.0.5", False),
        ("db.example", False),
        ("localhost.example", False),
    ],
)
def test_loopback_hosts(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"pg_url": "postgresql+psycopg://postgres@prod-db.example:5432/postgres"}, "CFP_DIST_PG_URL"),
        ({"pg_url": "postgresql+psycopg://postgres@10.1.2.3/postgres"}, "CFP_DIST_PG_URL"),
        ({"redis_url": "redis://:pw@cache.example:6379/11"}, "CFP_DIST_REDIS_URL"),
        ({"redis_url": "redis://127.0.0.1:6379/0"}, "database 0"),
        ({"redis_url": "redis://127.0.0.1:6379"}, "database 0"),
        ({"db_prefix": "billing"}, "not named cfp_dist_"),
        ({"db_prefix": "cfp_distx"}, "not named cfp_dist_"),
    ],
)
def test_a_reset_refuses_what_may_not_be_the_demo_s(changes: dict[str, str], refused: str) -> None:
    """CFP_DIST_PG_URL/CFP_DIST_REDIS_URL are free text: a production server or another
    application's Redis database must never be dropped or emptied. The guard runs before any
    connection is made, so these servers need not exist."""
    s = DistributedSettings(**changes)  # type: ignore[arg-type]
    for destructive in (s.reset, s.drop, s.flush_broker):
        with pytest.raises(UnsafeResetError, match=refused) as refusal:
            destructive()
        assert ":pw@" not in str(refusal.value)


def test_a_named_scratch_server_and_the_defaults_pass_the_guard() -> None:
    DistributedSettings().guard()
    DistributedSettings(db_prefix="cfp_dist_t1234").guard()
    scratch = DistributedSettings(
        pg_url="postgresql+psycopg://postgres@pg-ci:5432/postgres",
        redis_url="redis://pg-ci:6379/12",
        allowed_hosts=("pg-ci",),
    )
    scratch.guard()


def test_cfp_demo_distributed_refuses_a_remote_server_before_touching_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from cfp_dev.cli import add_demo_parser

    monkeypatch.setenv("CFP_DIST_PG_URL", "postgresql+psycopg://postgres:topsecret@prod-db.example/postgres")
    parser = argparse.ArgumentParser()
    add_demo_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", "--distributed"])
    assert args.func(args) == 2
    out = capsys.readouterr().out
    assert "refusing to drop databases" in out
    assert "topsecret" not in out


@pytest.mark.parametrize("topology", ["standalone", "celery"])
def test_the_admin_password_file_is_readable_by_its_owner_only(tmp_path: Path, topology: str) -> None:
    """Both topologies write it through ``write_passwords``; a file left by an earlier run with
    wider permissions is replaced, not reused."""
    import json
    import stat

    from cfp_dev.demo.stack import AirflowStandalone
    from cfp_dev.distributed.airflow import AirflowCelery

    airflow: AirflowApi = (AirflowStandalone if topology == "standalone" else AirflowCelery)(home=tmp_path)
    (tmp_path / "passwords.json").write_text("{}")
    (tmp_path / "passwords.json").chmod(0o644)
    path = airflow.write_passwords()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"admin": airflow.password}


def _fake_airflow(password: str) -> tuple[Any, int]:
    """An HTTP server answering like an API server whose admin password is ``password``."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200, {"metadatabase": {"status": "healthy"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ok = body == {"username": "admin", "password": password}
            self._answer(201 if ok else 401, {"access_token": "t"} if ok else {"detail": "Invalid"})

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


def test_another_airflow_on_the_chosen_port_is_not_taken_for_ours(tmp_path: Path) -> None:
    """Ports are chosen before the API server binds them; a server that answers the health check
    but refuses this run's admin password is someone else's."""
    from cfp_dev.demo.procs import wait_http
    from cfp_dev.distributed.airflow import AirflowCelery

    airflow = AirflowCelery(home=tmp_path)
    other, airflow.port = _fake_airflow(password="someone else's")
    try:
        with pytest.raises(TimeoutError, match="not ready"):
            wait_http(f"{airflow.base_url}/api/v2/monitor/health", 2, expect=airflow.answers_as_ours)
    finally:
        other.shutdown()
    ours, airflow.port = _fake_airflow(password=airflow.password)
    try:
        wait_http(f"{airflow.base_url}/api/v2/monitor/health", 10, expect=airflow.answers_as_ours)
    finally:
        ours.shutdown()
