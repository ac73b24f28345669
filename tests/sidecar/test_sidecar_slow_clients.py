"""What a client trickling its headers can and cannot hold, on a real ``cfp sidecar serve``.

The body timeout starts after the headers, and uvicorn has no header-read timeout: docs/sidecar.md
("Slow clients") says so and names the bounds that exist. These tests pin those statements, so a
uvicorn upgrade that changes them shows up here rather than in production.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cfp_dev.demo.stack import free_port, start_process, venv_bin, wait_http
from checkout_freshportal.warehouse.migrate import upgrade


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[int]:
    """``cfp sidecar serve --timeout-keep-alive 1 --limit-concurrency 2`` on a migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade(url)
    env = {
        **os.environ,
        "CFP_WAREHOUSE_URL": url,
        "CFP_SIDECAR_SIGNATURE_KEYS": "k-slow-clients",
        "CFP_SIDECAR_TRIGGER_ENABLED": "false",
    }
    port = free_port()
    argv = [venv_bin("cfp"), "sidecar", "serve", "--port", str(port), "--log-level", "warning"]
    argv += ["--timeout-keep-alive", "1", "--limit-concurrency", "2"]
    proc = start_process("sidecar-slow", argv, env, tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc.proc, proc.log_path)
        yield port
    finally:
        proc.stop()


def _open(sock: socket.socket) -> bool:
    """True while the server keeps the connection (no answer, no close)."""
    sock.settimeout(0.2)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True
    except OSError:
        return False


def test_header_trickle_outlives_keep_alive_and_holds_a_concurrency_slot(sidecar: int) -> None:
    health = f"http://127.0.0.1:{sidecar}/healthz"
    with socket.create_connection(("127.0.0.1", sidecar)) as slow:
        slow.sendall(b"POST /webhooks/checkout HTTP/1.1\r\nHost: sidecar\r\n")
        deadline = time.monotonic() + 3.0  # three times --timeout-keep-alive
        while time.monotonic() < deadline:
            slow.sendall(b"X-Trickle: 1\r\n")
            assert _open(slow), "the server closed a trickling connection: update docs/sidecar.md"
            time.sleep(0.3)
        # The trickler holds one of the two slots: the next request is refused, not served.
        assert requests.get(health, timeout=5).status_code == 503
    # Once it is gone, the slot is free again.
    deadline = time.monotonic() + 5.0
    while requests.get(health, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the slot was not released"
        time.sleep(0.1)
