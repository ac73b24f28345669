"""The sandbox profile's simulator commands and healthchecks, run as docker-compose.yaml has them.

Each simulator is started with its compose command (the scenario folder and port mapped to this
machine: `examples/scenarios/`, a free port on loopback), then its healthcheck command, also as
written, must succeed against it: a probe of an endpoint that needs authentication, or of a
wrong path, would leave the service unhealthy forever in Compose.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SIMULATORS = ("sandbox-checkout", "sandbox-freshportal")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _resolve(text: str) -> str:
    """`${VAR:-default}` -> default, as Compose does without the variable set."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", text)


@pytest.fixture(params=SIMULATORS)
def simulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict, int]]:
    name = request.param
    service = yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"][name]
    container_port = service["ports"][0].rsplit(":", 1)[1]
    port = _free_port()
    mounts = dict(v.split(":")[:2] for v in service["volumes"])
    argv = [
        _resolve(a).replace(mounts["./examples/scenarios"], str(REPO / "examples" / "scenarios"))
        for a in service["command"]
    ]
    argv = ["127.0.0.1" if a == "0.0.0.0" else str(port) if a == container_port else a for a in argv]
    assert argv[:2] == ["cfp", "sandbox"]
    argv[0] = str(Path(sys.executable).parent / "cfp")
    log = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield name, service, port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_healthcheck_passes_against_the_running_simulator(simulator: tuple[str, dict, int]) -> None:
    name, service, port = simulator
    kind, *probe = service["healthcheck"]["test"]
    assert kind == "CMD"
    container_port = service["ports"][0].rsplit(":", 1)[1]
    probe = [p.replace(f"localhost:{container_port}", f"127.0.0.1:{port}") for p in probe]
    assert probe[0] == "python"
    probe[0] = sys.executable
    deadline = time.monotonic() + 120  # readiness: the simulator builds its world first
    while True:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            break
        assert time.monotonic() < deadline, f"{name} never became healthy: {done.stderr[-1500:]}"
        time.sleep(1)
    # the probe also fails on an endpoint that is not there (HTTP errors raise)
    wrong = [p.replace("/_sandbox/", "/_sandbox/no-such-") for p in probe]
    assert subprocess.run(wrong, capture_output=True, timeout=60, check=False).returncode != 0
