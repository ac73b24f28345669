"""The sidecar's ASGI application: ``POST /webhooks/checkout``, ``GET /healthz``, ``GET /metrics``.

A plain ASGI callable rather than FastAPI routes, on purpose: the webhook path must see the raw
body chunk by chunk (to refuse an oversize body without buffering it, and to verify the HMAC over
the exact bytes), and it is the hot path of the throughput goal, where a framework's request
object, routing and validation cost more than the work itself. Three endpoints do not need more.

Order of checks on a delivery: method, size (Content-Length, then while reading), body read
time, Authorization (if configured), signature; only a delivery that passes all of them reaches
the table. The answer is 2xx only after the COMMIT of its row (see ``writer``), and every signed
body gets one: stored, duplicate, or stored as poison. Untrusted text (ids, reasons) goes
through :func:`logsafe.safe` before it reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.checkout.webhooks import (
    authorization_matches,
    signature_well_formed,
    verify_signature,
)
from checkout_freshportal.observability import bind

from . import store
from .logsafe import safe
from .metrics import CONTENT_TYPE, SidecarMetrics
from .settings import SidecarSettings
from .writer import GroupCommitWriter

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

WEBHOOK_PATH = "/webhooks/checkout"
_JSON = [(b"content-type", b"application/json")]


class SidecarApp:
    """ASGI app; ``start()``/``stop()`` run from the lifespan (or by hand in tests)."""

    def __init__(
        self,
        settings: SidecarSettings,
        *,
        engine: Engine | None = None,
        metrics: SidecarMetrics | None = None,
        run_trigger: bool | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or SidecarMetrics()
        self.engine = engine or store.make_sidecar_engine(settings.warehouse_url)
        self.trigger = None
        if settings.trigger_enabled if run_trigger is None else run_trigger:
            from .trigger import TriggerLoop  # requests & co. only when the loop runs

            self.trigger = TriggerLoop.from_settings(settings, self.engine, self.metrics)
        self.writer = GroupCommitWriter(
            self.engine,
            self.metrics,
            max_batch=settings.max_batch,
            writers=settings.writers,
            on_committed=self.trigger.notify if self.trigger else None,
        )
        if self.trigger is not None:
            self.trigger.in_flight = self.writer.oldest_in_flight
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self.writer.start()
            if self.trigger is not None:
                self.trigger.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            if self.trigger is not None:
                self.trigger.stop()
            self.writer.stop()
            self.engine.dispose()
            self._started = False

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path, method = scope["path"], scope["method"]
            if path == WEBHOOK_PATH:
                await self._webhook(scope, receive, send)
            elif path == "/healthz" and method in ("GET", "HEAD"):
                await self._healthz(send)
            elif path == "/metrics" and method in ("GET", "HEAD"):
                await self._metrics(send)
            else:
                await _reply(send, 404, {"error": "not found"})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- POST /webhooks/checkout --------------------------------------------------------------

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        m = self.metrics
        if scope["method"] != "POST":
            m.rejected.labels("method").inc()
            await _reply(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        headers = _headers(scope)
        limit = self.settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            m.rejected.labels("size").inc()
            await _reply(send, 413, {"error": "body too large"}, [(b"connection", b"close")])
            return
        # What needs no body is checked before one is read: a caller that can never be verified
        # (no or a wrong Authorization, no usable signature) must not hold a megabyte per
        # connection until the body timeout (a review's probe: 150 such connections, +150 MB).
        if not await self._headers_acceptable(headers, send):
            return
        try:  # asyncio.timeout, not wait_for: no extra task per request on the hot path
            async with asyncio.timeout(self.settings.body_timeout or None):
                body = await _read_body(receive, limit)
        except TimeoutError:  # headers sent, then a stall (or a trickle): the slot is freed
            m.rejected.labels("timeout").inc()
            log.info("webhook refused: body not received within %gs", self.settings.body_timeout)
            await _reply(send, 408, {"error": "request body timeout"}, [(b"connection", b"close")])
            return
        if body is None:  # over the limit while reading (chunked, or a lying Content-Length)
            m.rejected.labels("size").inc()
            await _reply(send, 413, {"error": "body too large"}, [(b"connection", b"close")])
            return
        if body is _DISCONNECTED:
            return
        t0 = time.perf_counter()
        signature = headers[b"cko-signature"]  # present: _headers_acceptable
        key_index = verify_signature(body, signature.decode("latin-1"), self.settings.signature_keys)
        if key_index is None:
            m.rejected.labels("signature").inc()
            log.info("webhook refused: Cko-Signature does not match any active key")
            await _reply(send, 401, {"error": "unauthorized"})
            return
        await self._store(body, key_index, t0, send)

    async def _headers_acceptable(self, headers: dict[bytes, bytes], send: Send) -> bool:
        """The Authorization header (when configured) and the presence of a well-formed
        ``Cko-Signature``; False once the refusal is answered."""
        m = self.metrics
        if self.settings.authorization:
            auth = headers.get(b"authorization")
            if not authorization_matches(auth, self.settings.authorization):
                m.rejected.labels("auth").inc()
                log.info(
                    "webhook refused: Authorization header %s", "missing" if auth is None else "mismatch"
                )
                await _reply(send, 401, {"error": "unauthorized"}, [(b"connection", b"close")])
                return False
        signature = headers.get(b"cko-signature")
        if signature is None:
            m.rejected.labels("signature_missing").inc()
            log.info("webhook refused: no Cko-Signature header")
            await _reply(send, 401, {"error": "unauthorized"}, [(b"connection", b"close")])
            return False
        if not signature_well_formed(signature.decode("latin-1")):
            m.rejected.labels("signature").inc()
            log.info("webhook refused: Cko-Signature is not 64 hex digits")
            await _reply(send, 401, {"error": "unauthorized"}, [(b"connection", b"close")])
            return False
        return True

    async def _store(self, body: bytes, key_index: int, t0: float, send: Send) -> None:
        """Commit a signed body (as an event or as poison) and answer for it."""
        m = self.metrics
        if len(body) > _INLINE_PARSE_BYTES:  # parsing and masking a big body takes the loop for
            record = await asyncio.to_thread(store.record_from_body, body, key_index)  # ~0.5 s
        else:
            record = store.record_from_body(body, key_index)
        with bind(event_id=record.event_id):  # docs/observability.md
            try:
                outcome = await self.writer.submit(record, self.settings.commit_timeout)
            except store.StoreUnavailable as exc:
                m.unavailable.inc()
                log.warning("webhook %s not stored (%s): answering 503", safe(record.event_id), safe(exc))
                await _reply(send, 503, {"error": "storage unavailable, retry later"})
                return
            m.ack_seconds.observe(time.perf_counter() - t0)
            m.received.inc()
            if not outcome.new:
                m.duplicates.inc()
                await _reply(send, 200, {"status": "duplicate"})
                return
            m.stored.inc()
            stored = outcome.record  # a poison row in place of an event the database refused
            if stored.is_poison:
                m.poison.inc()
                log.warning(
                    "poison webhook stored as %s: %s", safe(stored.event_id), safe(stored.poison_reason, 200)
                )
                await _reply(send, 200, {"status": "poison"})
                return
            await _reply(send, 200, {"status": "stored"})

        # -- GET /healthz, GET /metrics -----------------------------------------------------------

    async def _healthz(self, send: Send) -> None:
        """Up or down, and which component; why goes to the log, never to an unauthenticated caller.

        Down also when a writer's batch has waited for its COMMIT longer than ``stuck_after``:
        a writer blocked on a dead connection answers every webhook 503 while a fresh
        connection's ping still works (a review's probe, a black-holed TCP path), and only a
        failing probe gets the process restarted."""
        stuck = self._writer_stuck_for()
        try:
            if stuck is not None:
                raise TimeoutError(f"a batch has waited {stuck:.0f}s for its commit")
            await asyncio.wait_for(asyncio.to_thread(self._ping), timeout=5)
        except Exception as exc:
            self.metrics.database_up.set(0)
            log.warning("healthz: database down (%s: %s)", type(exc).__name__, safe(str(exc), 200))
            await _reply(send, 503, {"status": "down", "database": "down"})
            return
        self.metrics.database_up.set(1)
        await _reply(send, 200, {"status": "ok", "database": "up"})

    def _writer_stuck_for(self) -> float | None:
        """Seconds the oldest uncommitted batch has waited, when over ``stuck_after``."""
        waited = self.writer.longest_wait()
        return waited if waited is not None and waited > self.settings.stuck_after else None

    def _ping(self) -> None:
        with self.engine.connect() as conn:
            store.ping(conn)

    async def _metrics(self, send: Send) -> None:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._refresh_gauges), timeout=5)
        except Exception:  # the counters are still worth serving; database_up says why
            self.metrics.database_up.set(0)
            self.metrics.table.clear()
        body = self.metrics.render()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _refresh_gauges(self) -> None:
        with self.engine.connect() as conn:
            b = store.backlog(conn)
        m = self.metrics
        m.database_up.set(0 if self._writer_stuck_for() is not None else 1)
        m.table.set("unprocessed_events", b.unprocessed)
        m.table.set("poison_events", b.poison_pending)
        age = (datetime.now(UTC) - b.oldest_received_at).total_seconds() if b.oldest_received_at else 0.0
        m.table.set("oldest_unprocessed_age_seconds", max(0.0, age))


#: A signed body bigger than this is parsed and masked off the event loop: a 1 MiB body of short
#: strings took 0.46-0.6 s, during which no other request was served; small ones (nearly all)
#: stay inline, where a thread hop would cost more than the parse.
_INLINE_PARSE_BYTES = 64 * 1024

_DISCONNECTED = b"\x00disconnected"  # sentinel object, compared by identity


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``limit`` (never holds more than that)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Lower-case header names (ASGI already lower-cases them); the first value wins."""
    out: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        out.setdefault(name, value)
    return out


async def _reply(
    send: Send, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app_from_env() -> SidecarApp:
    """Factory for ``uvicorn --factory`` and ``--workers N`` (each worker builds its own app).

    In a worker of ``--workers N`` it first ties the worker's life to the supervisor's (see
    ``orphans``): a SIGKILLed supervisor must not leave workers serving the port.
    """
    from .orphans import exit_with_supervisor

    exit_with_supervisor()
    return SidecarApp(SidecarSettings.from_env())
