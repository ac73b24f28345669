"""Processes of the embedded stack (sandboxes, sidecar, standalone Airflow) started on loopback.

Used by ``cfp demo``, the end-to-end tests and the benchmarks, so that all three exercise the
same stack a newcomer sees. Every process gets its own log file and is stopped with its whole
process group, so nothing is left behind when the caller exits.

:class:`DemoStack` puts the whole near-real-time path together: the Checkout.com and FreshPortal
sandboxes loading one shared scenario, the webhook sidecar, and Airflow started with every
Connection it needs in its environment from the first second (Airflow reads the environment of
its components at start; nothing can be added later).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cfp_dev.paths import REPO_ROOT


def _is_sidecar(r: requests.Response) -> bool:
    """The sidecar's own health answer (not another server's page on a reused port)."""
    try:
        return bool(r.json() == {"status": "ok", "database": "up"})
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
    expect: Callable[[requests.Response], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers below 500 (and as ``expect`` wants: another process may
    answer on a port chosen earlier); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process for {url} exited with {proc.returncode}\n{tail}")
        try:
            r = requests.get(url, timeout=2)
            if r.status_code < 500 and (expect is None or expect(r)):
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


@dataclass
class Managed:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the whole process group, SIGKILL to whatever of it is left after ``grace``.

        The group, not just the leader: ``airflow standalone`` can exit while its scheduler
        (same group) still waits for its executor and would outlive the caller.
        """
        pgid = self.proc.pid  # start_new_session: the leader's pid is the group id
        if self.proc.poll() is not None and not _group_alive(pgid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_process(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> Managed:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    fh = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    proc = subprocess.Popen(
        argv, env=dict(env), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO_ROOT
    )
    fh.close()
    return Managed(name, proc, log_path)


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class AirflowStandalone:
    """``airflow standalone`` with its own AIRFLOW_HOME, known admin password and REST access."""

    home: Path
    env_extra: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    managed: Managed | None = None
    _token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
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
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
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

    def start(self, timeout: float = 180.0) -> AirflowStandalone:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> AirflowStandalone:
        """Start the process and return at once (``wait_ready`` waits for the API server)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))
        self.managed = start_process(
            "airflow", [venv_bin("airflow"), "standalone"], self.environment(), self.home / "logs"
        )
        return self

    def wait_ready(self, timeout: float = 180.0) -> AirflowStandalone:
        assert self.managed is not None, "launch() first"
        wait_http(f"{self.base_url}/api/v2/monitor/health", timeout, self.managed.proc, self.managed.log_path)
        return self

    def stop(self) -> None:
        if self.managed:
            self.managed.stop(grace=20)

    # -- REST API v2 ---------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------ the whole stack

#: A nearly frozen Checkout.com sandbox clock: nothing planned in the generated history happens
#: while the demo runs, so what landed can be compared with the scenario, and the only live
#: activity is what the demo itself does (captures land at once: see ``DemoStack.live_actions``).
FROZEN_CLOCK = ("--clock-speed", "0.000001")


def connection_env(checkout_url: str, freshportal_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for the two sandboxes (their made-up default credentials)."""
    from cfp_dev.sandbox.checkout.config import DEFAULT_SECRET_KEY
    from cfp_dev.sandbox.freshportal.config import DEFAULT_API_KEY

    return {
        "AIRFLOW_CONN_CHECKOUT_DEFAULT": json.dumps(
            {"conn_type": "checkout", "host": checkout_url, "password": DEFAULT_SECRET_KEY}
        ),
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT": json.dumps(
            {"conn_type": "freshportal", "host": freshportal_url, "password": DEFAULT_API_KEY}
        ),
    }


@dataclass
class DemoStack:
    """Checkout.com + FreshPortal sandboxes (one shared scenario), sidecar and standalone Airflow.

    Ports are chosen up front, so every process gets its peers' URLs in its environment before
    it starts; the sidecar's, which no peer needs before it runs, is chosen again when it starts
    (``start_sidecar``: a port chosen earlier may have been taken meanwhile). Start the parts in
    any order that suits the caller (``start_sandboxes``, ``start_airflow``, ``start_sidecar``);
    ``stop`` ends whatever runs, sidecar first.
    """

    home: Path
    scenario_path: Path
    warehouse_url: str
    checkout_args: tuple[str, ...] = FROZEN_CLOCK
    airflow_env: Mapping[str, str] = field(default_factory=dict)
    sidecar_env: Mapping[str, str] = field(default_factory=dict)
    signature_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    checkout_port: int = field(default_factory=free_port)
    freshportal_port: int = field(default_factory=free_port)
    sidecar_port: int = field(default_factory=free_port)
    airflow: AirflowStandalone = field(init=False)
    checkout: Managed | None = None
    freshportal: Managed | None = None
    sidecar: Managed | None = None
    workflow_id: str | None = None

    def __post_init__(self) -> None:
        self.airflow = AirflowStandalone(
            home=self.home / "airflow", port=free_port(), env_extra=self.airflow_environment()
        )

    # -- addresses --------------------------------------------------------------------------------
    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def checkout_url(self) -> str:
        return f"http://127.0.0.1:{self.checkout_port}"

    @property
    def freshportal_url(self) -> str:
        return f"http://127.0.0.1:{self.freshportal_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar_port}"

    def airflow_environment(self) -> dict[str, str]:
        env = {
            "CFP_WAREHOUSE_URL": self.warehouse_url,
            # The demo and the benchmarks start every run themselves (REST or the sidecar);
            # no scheduled run may appear in between and blur what caused what.
            "CFP_INGEST_SCHEDULE": "none",
            "CFP_PAYMENT_REQUESTS_SCHEDULE": "none",
            "CFP_EVENTS_SCHEDULE": "none",
            "CFP_REFUNDS_SCHEDULE": "none",
            "CFP_CAPTURES_SCHEDULE": "none",
            # reconciliation is also asset-triggered: "none" turns that off too (demo triggers it)
            "CFP_RECON_SCHEDULE": "none",
            "CFP_REPORT_OUT_DIR": str((self.home / "reports").resolve()),
            **connection_env(self.checkout_url, self.freshportal_url),
        }
        env.update(self.airflow_env)
        return env

    # -- processes --------------------------------------------------------------------------------
    def migrate(self, timeout: float = 120.0) -> str:
        """The deploy step, as a deployment runs it: ``cfp db upgrade`` on this stack's warehouse.

        A separate process with only ``CFP_WAREHOUSE_URL`` set, before Airflow or the sidecar
        start: their tasks and ``serve`` only check the schema, so the demo proves the same order
        a compose init job follows. Returns the command's output line (revision and URL).
        """
        env = dict(os.environ)
        env["CFP_WAREHOUSE_URL"] = self.warehouse_url
        done = subprocess.run(
            [venv_bin("cfp"), "db", "upgrade"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / "db-upgrade.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"cfp db upgrade exited with {done.returncode}\n{done.stderr[-3000:]}")
        return done.stdout.strip()

    def start_sandboxes(self, timeout: float = 60.0) -> None:
        self.checkout = start_process(
            "sandbox-checkout",
            [
                venv_bin("cfp"),
                "sandbox",
                "checkout",
                "--port",
                str(self.checkout_port),
                "--scenario",
                str(self.scenario_path),
                *self.checkout_args,
            ],
            dict(os.environ),
            self.logs,
        )
        self.freshportal = start_process(
            "sandbox-freshportal",
            [
                venv_bin("cfp"),
                "sandbox",
                "freshportal",
                "--port",
                str(self.freshportal_port),
                "--scenario",
                str(self.scenario_path),
                "--log-level",
                "warning",
            ],
            dict(os.environ),
            self.logs,
        )
        wait_http(
            f"{self.checkout_url}/_sandbox/summary", timeout, self.checkout.proc, self.checkout.log_path
        )
        wait_http(
            f"{self.freshportal_url}/_sandbox/health",
            timeout,
            self.freshportal.proc,
            self.freshportal.log_path,
        )

    def start_airflow(self, timeout: float = 180.0) -> None:
        self.airflow.start(timeout)

    def launch_airflow(self) -> None:
        """Start Airflow without waiting (it takes the longest); ``start_airflow`` = launch + wait."""
        self.airflow.launch()

    def wait_airflow(self, timeout: float = 180.0) -> None:
        self.airflow.wait_ready(timeout)

    def start_sidecar(self, timeout: float = 60.0) -> None:
        """``cfp sidecar serve`` on the warehouse (migrated first: ``migrate``), triggering this Airflow.

        ``serve`` checks the schema and refuses to start on one that is not at head.
        """
        env = dict(os.environ)
        env.update(
            {
                "CFP_WAREHOUSE_URL": self.warehouse_url,
                "CFP_SIDECAR_SIGNATURE_KEYS": self.signature_key,
                "CFP_AIRFLOW_URL": self.airflow.base_url,
                "CFP_AIRFLOW_USER": "admin",
                "CFP_AIRFLOW_PASSWORD": self.airflow.password,
                "NO_PROXY": "*",
            }
        )
        env.update(self.sidecar_env)
        # The port chosen when the stack was set up may have been taken since (Airflow started
        # meanwhile): take a fresh one, make sure it is the sidecar that answers, and try another
        # port if the sidecar could not bind.
        for attempt in range(3):
            self.sidecar_port = free_port()
            self.sidecar = start_process(
                "sidecar",
                [venv_bin("cfp"), "sidecar", "serve", "--port", str(self.sidecar_port)],
                env,
                self.logs,
            )
            try:
                wait_http(
                    f"{self.sidecar_url}/healthz",
                    timeout,
                    self.sidecar.proc,
                    self.sidecar.log_path,
                    expect=_is_sidecar,
                )
                return
            except RuntimeError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise

    def stop(self) -> None:
        for part in (self.sidecar, None, self.freshportal, self.checkout):
            if part is None and self.airflow is not None:
                self.airflow.stop()
            elif part is not None:
                part.stop()

    def __enter__(self) -> DemoStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wiring -----------------------------------------------------------------------------------
    def checkout_session(self) -> requests.Session:
        from cfp_dev.sandbox.checkout.config import DEFAULT_SECRET_KEY

        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {DEFAULT_SECRET_KEY}"
        return s

    def register_webhooks(self) -> str:
        """``POST /workflows``: every Checkout.com event to the sidecar, signed with its key."""
        body = {
            "name": "FreshPortal sync: webhook sidecar",
            "active": True,
            "actions": [
                {
                    "type": "webhook",
                    "url": f"{self.sidecar_url}/webhooks/checkout",
                    "headers": {},
                    "signature": {"method": "HMACSHA256", "key": self.signature_key},
                }
            ],
        }
        with self.checkout_session() as s:
            r = s.post(f"{self.checkout_url}/workflows", json=body, timeout=10)
        if r.status_code != 201:
            raise RuntimeError(f"POST /workflows: HTTP {r.status_code} {r.text[:300]}")
        self.workflow_id = str(r.json()["id"])
        return self.workflow_id

    def live_actions(self) -> None:
        """Let captures, refunds and voids land at once on the frozen sandbox clock."""
        r = requests.post(
            f"{self.checkout_url}/_sandbox/faults", json={"action_delay_seconds": 0}, timeout=10
        )
        r.raise_for_status()
