"""The demo stack's sidecar lands on a port of its own even when the one first chosen is taken.

Seen in CI: the port picked when the stack was set up had been taken by the time the sidecar
started (Airflow had started meanwhile); the sidecar could not bind and exited, another server
answered its health check, and every webhook went to that server.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import requests

from cfp_dev.demo import stack as stack_module
from cfp_dev.demo.stack import DemoStack


class _NotTheSidecar(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # an unrelated server: answers below 500, but not as the sidecar
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_taken_port_gives_the_sidecar_another_one(
    tmp_path: Path, migrated_sqlite_url: str, monkeypatch
) -> None:
    squatter = http.server.HTTPServer(("127.0.0.1", 0), _NotTheSidecar)
    taken = squatter.server_address[1]
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    real_free_port = stack_module.free_port
    ports = iter([taken])  # the first fresh port is taken too: the sidecar must try another
    monkeypatch.setattr(stack_module, "free_port", lambda: next(ports, None) or real_free_port())
    stack = DemoStack(
        home=tmp_path,
        scenario_path=tmp_path / "unused.json",
        warehouse_url=migrated_sqlite_url,
        sidecar_port=taken,  # chosen up front, taken since
    )
    try:
        stack.start_sidecar(timeout=60)
        assert stack.sidecar_port != taken
        assert stack.sidecar is not None
        assert stack.sidecar.proc.poll() is None
        health = requests.get(f"{stack.sidecar_url}/healthz", timeout=5).json()
        assert health == {"status": "ok", "database": "up"}
    finally:
        stack.stop()
        squatter.shutdown()
