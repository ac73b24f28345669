"""Helpers for the sidecar tests: signed envelopes, an in-thread server, a sidecar subprocess."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import uvicorn

from cfp_dev.demo.stack import Managed, free_port, start_process, wait_http
from checkout_freshportal.checkout.webhooks import sign
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events

KEYS = (b"8V8x0dLK%AyD*DNS8JJr", b"new-key-after-rotation")
KEYS_ENV = ",".join(k.decode() for k in KEYS)


def envelope(
    event_id: str,
    event_type: str = "payment_captured",
    *,
    shape: str = "workflows",
    payment_id: str = "pay_pswr5qaqzzferh2puzfyrefzuy",
    **extra: Any,
) -> bytes:
    """A delivery body in one of the two shapes of docs/checkout-com.md#webhook-payloads (compact,
    as Checkout sends)."""
    doc: dict[str, Any] = {"id": event_id, "type": event_type, "version": "1.0.29"}
    if shape == "workflows":
        doc["created_on"] = "2023-05-24T09:12:32.357Z"
    else:
        doc.update(source="gateway", timestamp="2023-05-24T09:12:32.3571234Z", action_invocations=[])
    doc["data"] = {
        "id": payment_id,
        "action_id": "act_7fmebms4rtmuja2poigylogjk4",
        "amount": 200,
        "currency": "GBP",
        "balances": {"total_captured": 200},
        "metadata": {"note": "caf\u00e9 \u00a9\u00ae\u2122", "ratio": 1.10},
    }
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signed(body: bytes, key: bytes = KEYS[0], **headers: str) -> dict[str, str]:
    return {"Cko-Signature": sign(body, key), "Content-Type": "application/json", **headers}


def rows(url: str) -> list[dict[str, Any]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            q = sa.select(raw_webhook_events).order_by(
                raw_webhook_events.c.received_at, raw_webhook_events.c.event_id
            )
            return [dict(r._mapping) for r in conn.execute(q)]
    finally:
        eng.dispose()


def event_ids(url: str) -> list[str]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT event_id FROM raw_webhook_events"))]
    finally:
        eng.dispose()


class ServerThread:
    """A real uvicorn server (same stack as production) in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sidecar server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def sidecar_env(warehouse_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CFP_", "AIRFLOW"))}
    env.update(
        {
            "CFP_WAREHOUSE_URL": warehouse_url,
            "CFP_SIDECAR_SIGNATURE_KEYS": KEYS_ENV,
            "CFP_SIDECAR_TRIGGER_ENABLED": "false",
            "NO_PROXY": "*",
        }
    )
    env.update(extra)
    return env


@dataclass
class SidecarProcess:
    managed: Managed
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crashed container or an OOM kill looks like."""
        self.managed.proc.kill()
        self.managed.proc.wait(10)

    def stop(self) -> None:
        self.managed.stop(grace=10)


def start_sidecar(
    env: Mapping[str, str], log_dir: Path, port: int | None = None, name: str = "sidecar", timeout: float = 60
) -> SidecarProcess:
    """``python -m checkout_freshportal.sidecar serve`` as a subprocess; returns once /healthz is up."""
    port = port or free_port()
    argv = [sys.executable, "-m", "checkout_freshportal.sidecar", "serve", "--port", str(port)]
    managed = start_process(name, argv, env, log_dir)
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout, managed.proc, managed.log_path)
    return SidecarProcess(managed, port)


def post(
    base_url: str, body: bytes, headers: Mapping[str, str], session: Any = requests
) -> requests.Response:
    return session.post(f"{base_url}/webhooks/checkout", data=body, headers=dict(headers), timeout=30)
