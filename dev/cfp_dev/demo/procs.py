"""Starting and stopping the stack's processes on loopback, each in its own process group.

Every process gets its own log file and is stopped with its whole process group, so nothing is
left behind when the caller exits (Ctrl-C and failures included). Shared by the demo stack, the
distributed stack (``cfp_dev.distributed``), the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from cfp_dev.paths import REPO_ROOT


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


def stop_all(parts: list[Managed], grace: float = 10.0) -> None:
    """Stop several process groups at once: SIGTERM to all, then wait, then SIGKILL what is left.

    Stopping one after the other would add up every component's shutdown time.
    """
    for part in parts:
        if part.proc.poll() is None or _group_alive(part.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(part.proc.pid, signal.SIGTERM)
    for part in parts:
        part.stop(grace=grace)
