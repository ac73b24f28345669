"""A fake of the three Airflow REST API v2 calls the trigger loop makes, strict like the real one.

``POST /auth/token`` (JWT with ``exp``), ``GET /api/v2/dags/{id}/dagRuns?state=..`` and
``POST /api/v2/dags/{id}/dagRuns`` (``logical_date`` required, unknown keys -> 422, duplicate run
id -> 409). Tests change run states, revoke tokens or take it "down" (503).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TRIGGER_KEYS = {
    "dag_run_id",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_after",
    "conf",
    "note",
}


def make_jwt(exp: float) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS512'})}.{b64({'sub': 'webhook', 'exp': exp, 'n': uuid.uuid4().hex})}.sig"


class FakeAirflow:
    def __init__(self, user: str = "webhook", password: str = "s3cret", token_ttl: float = 86400) -> None:
        self.user, self.password, self.token_ttl = user, password, token_ttl
        self.tokens: set[str] = set()
        self.logins = 0
        self.runs: dict[str, dict[str, Any]] = {}  # run id -> {"state", "conf", "dag_id"}
        self.requests: list[tuple[str, str]] = []
        self.down = False
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"null")

            def _authorised(self) -> bool:
                auth = self.headers.get("Authorization", "")
                return auth.startswith("Bearer ") and auth[7:] in fake.tokens

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = self._body()
                if fake.down:
                    self._send(503, {"detail": "down"})
                elif self.path == "/auth/token":
                    if body == {"username": fake.user, "password": fake.password}:
                        token = make_jwt(time.time() + fake.token_ttl)
                        with fake.lock:
                            fake.tokens.add(token)
                            fake.logins += 1
                        self._send(201, {"access_token": token})
                    else:
                        self._send(401, {"detail": "Invalid credentials"})
                elif not self._authorised():
                    self._send(401, {"detail": "Not authenticated"})
                elif self.path.startswith("/api/v2/dags/") and self.path.endswith("/dagRuns"):
                    dag_id = self.path.split("/")[4]
                    extra = set(body) - TRIGGER_KEYS
                    if extra or "logical_date" not in body:
                        self._send(
                            422, {"detail": f"extra_forbidden {sorted(extra)} or logical_date missing"}
                        )
                        return
                    run_id = body.get("dag_run_id") or f"manual__{time.time()}"
                    with fake.lock:
                        if run_id in fake.runs:
                            self._send(409, {"detail": "exists"})
                            return
                        fake.runs[run_id] = {
                            "state": "queued",
                            "conf": body.get("conf", {}),
                            "dag_id": dag_id,
                        }
                    self._send(200, {"dag_run_id": run_id, "state": "queued"})
                else:
                    self._send(404, {"detail": "not found"})

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if fake.down:
                    self._send(503, {"detail": "down"})
                    return
                if not self._authorised():
                    self._send(401, {"detail": "Not authenticated"})
                    return
                parts = urlsplit(self.path)
                states = parse_qs(parts.query).get("state", [])
                dag_id = parts.path.split("/")[4]
                with fake.lock:
                    runs = [
                        {"dag_run_id": k, **v}
                        for k, v in fake.runs.items()
                        if v["dag_id"] == dag_id and (not states or v["state"] in states)
                    ]
                self._send(200, {"dag_runs": runs[:1], "total_entries": len(runs)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def set_state(self, state: str, run_id: str | None = None) -> None:
        with self.lock:
            for k, v in self.runs.items():
                if run_id is None or k == run_id:
                    v["state"] = state

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def __enter__(self) -> FakeAirflow:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
