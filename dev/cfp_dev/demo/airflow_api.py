"""Airflow on loopback as the demo drives it: the environment its components share, and its REST API.

:class:`AirflowApi` is what every topology has in common: one AIRFLOW_HOME, one admin login of
the simple auth manager with a password made up for the run, and the REST API v2 calls the demo
makes (trigger a DAG, wait for a run, read task instances and XComs). ``AirflowStandalone``
(``stack.py``) starts it as ``airflow standalone``; ``AirflowCelery``
(``cfp_dev.distributed.airflow``) as separate components on the CeleryExecutor.

The JWT secret and the API secret key are made once per instance: every component of one
deployment must sign and check the execution API's tokens with the same secret, or a worker's
task is refused by the API server.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cfp_dev.demo.procs import Managed, free_port
from cfp_dev.paths import REPO_ROOT

#: How long an Airflow start may take before the demo gives up. About 100 s on an idle machine
#: (database migration, the api-server's imports); the test suite starts a standalone demo and
#: the distributed one side by side on two cores, where it took three times as long.
AIRFLOW_START_TIMEOUT = 420.0


@dataclass
class AirflowApi(ABC):
    """One Airflow deployment's shared environment and its REST API v2 (admin login).

    A topology says how its components start (``launch``), when they are ready to serve the
    demo (``wait_ready``) and how they all stop (``stop``).
    """

    home: Path
    env_extra: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    _token: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What every component of this deployment gets (the caller's AIRFLOW* variables left out)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__API__SECRET_KEY": self.secret_key,
                # The folder is listed every 5 s, but a file is parsed again only when it changed
                # (a newer mtime than its last parse) or after 10 minutes: the DAG files do not
                # change while the demo runs, and parsing all seven every 5 s kept a quarter of a
                # core busy per running Airflow (measured: 15.5 CPU-s a minute at 5 s, 0.5 at 300 s; 600 s
                # parses half as often again).
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]),
                "NO_PROXY": "*",
                # standalone starts its components as `airflow ...` subprocesses found on PATH
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            }
        )
        env.update(self.env_extra)
        return env

    def write_passwords(self) -> Path:
        """The simple auth manager's password file, readable by this user only (0600 from its
        creation on): the admin password must not be readable by other users of the machine."""
        path = self.home / "passwords.json"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"admin": self.password}, fh)
        return path

    @abstractmethod
    def launch(self) -> AirflowApi:
        """Start the components and return at once."""

    @abstractmethod
    def wait_ready(self, timeout: float = AIRFLOW_START_TIMEOUT) -> AirflowApi:
        """Return once the API server answers and the components can run tasks."""

    @abstractmethod
    def stop(self) -> None:
        """Stop every process this deployment started (also after a failed start)."""

    @abstractmethod
    def processes(self) -> list[Managed]:
        """Every process group started so far (to check that none outlives ``stop``)."""

    def start(self, timeout: float = AIRFLOW_START_TIMEOUT) -> AirflowApi:
        self.launch()
        return self.wait_ready(timeout)

    # -- REST API v2 ---------------------------------------------------------------------------

    def answers_as_ours(self, health: requests.Response) -> bool:
        """``wait_http``'s ``expect``: the server on our port accepts this run's admin password.

        The port was chosen well before the API server binds it (after ``airflow db migrate``);
        on a shared machine another Airflow may have taken it meanwhile and would answer the
        health check, with workers then sending tasks to the wrong execution API. Our own API
        server, failing to bind, exits instead, and ``wait_http`` reports its log.
        """
        try:
            r = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=10,
            )
        except requests.RequestException:
            return False
        return r.ok

    def token(self, refresh: bool = False) -> str:
        if self._token is None or refresh:
            r = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=10,
            )
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in (0, 1):
            r = self._request(method, path, refresh=attempt == 1, **kwargs)
            if r.status_code != 401:
                return r
        return r

    def _request(self, method: str, path: str, *, refresh: bool, **kwargs: Any) -> requests.Response:
        """One call; a read (GET) that times out is asked again, twice: on a machine loaded by
        other jobs the API server can stall for half a minute, and polling must outlive that."""
        tries = 3 if method == "GET" else 1
        for n in range(tries):
            try:
                return requests.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self.token(refresh=refresh)}"},
                    timeout=30,
                    **kwargs,
                )
            except requests.Timeout:
                if n == tries - 1:
                    raise
        raise AssertionError("unreachable")

    def wait_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.api("GET", f"/dags/{dag_id}")
            if r.status_code == 200:
                if r.json().get("is_paused"):
                    self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                return
            time.sleep(1)
        errors = self.api("GET", "/importErrors").text[:3000]
        raise TimeoutError(f"DAG {dag_id} not registered after {timeout:.0f}s; import errors: {errors}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        r = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        if r.status_code >= 300:
            raise RuntimeError(f"trigger {dag_id}: HTTP {r.status_code} {r.text[:500]}")
        return r.json()["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run.get("state") in {"success", "failed"}:
                return run
            time.sleep(1)
        raise TimeoutError(f"run {dag_id}/{run_id} not finished after {timeout:.0f}s")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        r = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in r.json().get("task_instances", [])}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        r = self.api(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        )
        return r.json().get("value") if r.status_code == 200 else None

    def task_instances(self, dag_id: str = "~", run_id: str = "~") -> Iterator[dict[str, Any]]:
        """Every task instance of a run (``~``: of every run / every DAG), page by page."""
        offset = 0
        while True:
            r = self.api(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": offset, "order_by": "id"},
            )
            r.raise_for_status()
            page = r.json().get("task_instances", [])
            yield from page
            if len(page) < 100:
                return
            offset += len(page)
