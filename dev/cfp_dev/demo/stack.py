"""Processes of the embedded stack (sandboxes, sidecar, Airflow) started on loopback.

Used by ``cfp demo``, the end-to-end tests and the benchmarks, so that all three exercise the
same stack a newcomer sees. Every process gets its own log file and is stopped with its whole
process group (``procs.py``), so nothing is left behind when the caller exits.

Two Airflow topologies: ``airflow standalone`` (the default, ``make demo``) or, given
``DistributedSettings``, the components of a Celery deployment as separate processes
(``cfp_dev.distributed``: ``make up-distributed``); everything else is the same stack.

:class:`DemoStack` puts the whole near-real-time path together: the Checkout.com and FreshPortal
sandboxes loading one shared scenario, the webhook sidecar, and Airflow started with every
Connection it needs in its environment from the first second (Airflow reads the environment of
its components at start; nothing can be added later).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from cfp_dev.demo.airflow_api import AIRFLOW_START_TIMEOUT, AirflowApi
from cfp_dev.demo.procs import Managed, free_port, start_process, venv_bin, wait_http
from cfp_dev.paths import REPO_ROOT

if TYPE_CHECKING:
    from cfp_dev.distributed.settings import DistributedSettings

# Re-exported: tests and benchmarks import the process helpers from here.
__all__ = [
    "FROZEN_CLOCK",
    "AirflowApi",
    "AirflowStandalone",
    "DemoStack",
    "Managed",
    "connection_env",
    "free_port",
    "start_process",
    "venv_bin",
    "wait_http",
]


def _is_sidecar(r: requests.Response) -> bool:
    """The sidecar's own health answer (not another server's page on a reused port)."""
    try:
        return bool(r.json() == {"status": "ok", "database": "up"})
    except ValueError:
        return False


@dataclass
class AirflowStandalone(AirflowApi):
    """``airflow standalone`` (all components in one process group) with its own AIRFLOW_HOME."""

    managed: Managed | None = None

    def launch(self) -> AirflowStandalone:
        """Start the process and return at once (``wait_ready`` waits for the API server)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.write_passwords()
        self.managed = start_process(
            "airflow", [venv_bin("airflow"), "standalone"], self.environment(), self.home / "logs"
        )
        return self

    def wait_ready(self, timeout: float = AIRFLOW_START_TIMEOUT) -> AirflowStandalone:
        assert self.managed is not None, "launch() first"
        wait_http(
            f"{self.base_url}/api/v2/monitor/health",
            timeout,
            self.managed.proc,
            self.managed.log_path,
            expect=self.answers_as_ours,
        )
        return self

    def processes(self) -> list[Managed]:
        return [self.managed] if self.managed else []

    def stop(self) -> None:
        if self.managed:
            self.managed.stop(grace=20)


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
    """Checkout.com + FreshPortal sandboxes (one shared scenario), sidecar and Airflow.

    Airflow is ``airflow standalone`` unless ``distributed`` is given: then its components run
    as separate processes on the CeleryExecutor with two workers (``cfp_dev.distributed``), on
    the PostgreSQL metadata database and Redis broker those settings name.

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
    distributed: DistributedSettings | None = None
    airflow: AirflowApi = field(init=False)
    checkout: Managed | None = None
    freshportal: Managed | None = None
    sidecar: Managed | None = None
    workflow_id: str | None = None

    def __post_init__(self) -> None:
        home, env = self.home / "airflow", self.airflow_environment()
        if self.distributed is None:
            self.airflow = AirflowStandalone(home=home, port=free_port(), env_extra=env)
        else:
            from cfp_dev.distributed.airflow import AirflowCelery

            self.airflow = AirflowCelery(
                home=home, port=free_port(), env_extra=env, settings=self.distributed
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
            "CFP_HEALTH_SCHEDULE": "none",
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

    def start_airflow(self, timeout: float = AIRFLOW_START_TIMEOUT) -> None:
        self.airflow.start(timeout)

    def launch_airflow(self) -> None:
        """Start Airflow without waiting (it takes the longest); ``start_airflow`` = launch + wait."""
        self.airflow.launch()

    def wait_airflow(self, timeout: float = AIRFLOW_START_TIMEOUT) -> None:
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

    def processes(self) -> list[Managed]:
        """Every process group this stack started, Airflow's included."""
        own = [p for p in (self.checkout, self.freshportal, self.sidecar) if p is not None]
        return own + self.airflow.processes()

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
