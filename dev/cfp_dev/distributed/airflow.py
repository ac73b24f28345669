"""Airflow on the CeleryExecutor as separate processes: the compose file's services, one each.

``launch`` runs the init job (``airflow db migrate``) in the background and returns;
``wait_ready`` waits for it, starts ``api-server`` and waits until it answers (the compose file's
``service_healthy`` condition: a worker whose task calls the execution API before it listens
fails the task), then starts ``scheduler``, ``dag-processor``, ``triggerer`` and one ``airflow
celery worker`` per name in ``DistributedSettings.workers``, and returns once every worker has
said ``ready`` (a task queued before both workers listen could only ever land on the first).

All of them share one environment: the metadata database, the broker, the result backend, one
JWT secret (the API server must accept the tokens the scheduler hands to tasks), one Fernet key
(connections encrypted by one process are read by another) and the execution API URL. What
differs per process is only what must: each worker's host name and log-server port.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from cfp_dev.demo.airflow_api import AirflowApi
from cfp_dev.demo.procs import Managed, free_port, start_process, stop_all, venv_bin, wait_http
from cfp_dev.distributed.settings import DistributedSettings

#: The compose services this process set mirrors, in start order (workers last).
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class AirflowCelery(AirflowApi):
    """The distributed deployment: every component its own process group, two Celery workers."""

    settings: DistributedSettings = field(default_factory=DistributedSettings)
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode(), repr=False)
    init: Managed | None = None
    components: dict[str, Managed] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.settings.metadata_url,
                "AIRFLOW__CELERY__BROKER_URL": self.settings.redis_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.settings.result_backend_url,
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cfp_dev.distributed.hostname.worker_hostname",
            }
        )
        return env

    def launch(self) -> AirflowCelery:
        """The init job, started in the background: the sandboxes start meanwhile."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.write_passwords()
        self.init = start_process(
            "airflow-init", [venv_bin("airflow"), "db", "migrate"], self.environment(), self.logs
        )
        return self

    def wait_ready(self, timeout: float = 240.0) -> AirflowCelery:
        assert self.init is not None, "launch() first"
        deadline = time.monotonic() + timeout
        try:
            code = self.init.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"airflow db migrate not done after {timeout:.0f}s") from exc
        if code != 0:
            tail = self.init.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"airflow db migrate exited with {code}\n{tail}")
        env = self.environment()
        api = self._start("api-server", ["api-server", "--port", str(self.port), "--host", "127.0.0.1"], env)
        wait_http(
            f"{self.base_url}/api/v2/monitor/health",
            max(deadline - time.monotonic(), 30.0),
            api.proc,
            api.log_path,
            expect=self.answers_as_ours,
        )
        for name in COMPONENTS[1:]:
            self._start(name, [name], env)
        for name in self.settings.workers:
            worker = ["celery", "worker", "--celery-hostname", name]
            worker += ["--concurrency", str(self.settings.worker_concurrency)]
            self._start(name, worker, {**env, "CFP_WORKER_HOSTNAME": name})
        for name in self.settings.workers:
            self._wait_worker(self.components[name], max(deadline - time.monotonic(), 30.0))
        return self

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Managed:
        """One component in its own process group, with log-server ports of its own (every
        component that serves logs binds one; on one host they must differ)."""
        own = {
            **env,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
        self.components[name] = start_process(name, [venv_bin("airflow"), *args], own, self.logs)
        return self.components[name]

    def _wait_worker(self, worker: Managed, timeout: float) -> None:
        """Celery's own start-up line (``celery@<name> ready.``) in the worker's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                tail = worker.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{worker.name} exited with {worker.proc.returncode}\n{tail}")
            if " ready." in worker.log_path.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{worker.name} not ready after {timeout:.0f}s (log: {worker.log_path})")

    def processes(self) -> list[Managed]:
        return [p for p in (self.init, *self.components.values()) if p is not None]

    def stop(self) -> None:
        """Scheduler first (no new task is queued), then the rest together; 20 s grace each."""
        parts = self.components
        first = [parts[n] for n in ("scheduler",) if n in parts]
        stop_all(first, grace=20)
        stop_all([p for p in self.processes() if p not in first], grace=20)
