"""Cross-cutting behaviour of every API request, as one ASGI middleware.

Order: request id -> call counting -> authentication and scope (401, empty body) -> rate
limit (429) -> injected 429/500/slow -> idempotency (replay / 409) -> the route, and for the
"processed then failed" faults -> a 500 (or a 504 after ``slow_seconds``) instead of its answer. Doing it in
one place keeps the order explicit and lets a "slow" fault hold an idempotency key in flight,
which is how a concurrent duplicate meets a 409 in tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .auth import classify
from .config import CKO_VERSION
from .faults import WRITE_METHODS

if TYPE_CHECKING:
    from .state import SandboxState

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PASS_THROUGH = ("/_sandbox", "/_storage", "/docs", "/openapi.json", "/redoc")


class CheckoutMiddleware:
    def __init__(self, app: Callable[..., Awaitable[None]], state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"cko-request-id", request_id.encode()), (b"cko-version", CKO_VERSION.encode())]
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(_PASS_THROUGH):
            await self.app(scope, receive, self._add_headers(send, extra, count=False))
            return
        st = self.state
        cfg = st.config
        endpoint = classify(method, path)
        st.calls.count(endpoint.kind, method)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if not endpoint.public:
            auth = headers.get(b"authorization")
            principal = st.auth.authenticate(auth.decode("latin-1") if auth else None)
            if principal is None or not st.auth.allowed(principal, endpoint):
                await self._send(send, 401, [], b"", extra)
                return
            scope["state"]["principal"] = principal
            if not st.limiter.hit(method):
                await self._error(send, 429, "too_many_requests", ["too_many_requests"], request_id, extra)
                return
            fault = None
            if not cfg.fault_writes_only or method in WRITE_METHODS:
                fault = st.faults.draw(cfg.fault_shares())
            if fault == "429":
                await self._error(send, 429, "too_many_requests", ["too_many_requests"], request_id, extra)
                return
            if fault == "500":
                await self._error(
                    send, 500, "internal_server_error", ["service_unavailable"], request_id, extra
                )
                return
        else:
            fault = None
        slow = cfg.slow_seconds if fault == "slow" else 0.0
        idem = headers.get(b"cko-idempotency-key")
        if fault in ("after_500", "after_timeout"):
            key = (idem.decode("latin-1"), method, path) if endpoint.idempotent and idem else None
            await self._processed_then_failed(scope, receive, send, fault, key, extra)
            return
        if endpoint.idempotent and idem:
            answer = await self._idempotent(scope, receive, (idem.decode("latin-1"), method, path), slow)
            await self._send(send, *answer, extra)
            return
        if slow:
            await asyncio.sleep(slow)
        await self.app(scope, receive, self._add_headers(send, extra, count=True))

    async def _processed_then_failed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        fault: str,
        key: tuple[str, str, str] | None,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        """The request is executed (its key remembered as usual), then the answer is lost.

        This is the case that doubles money movements in clients that retry without their
        idempotency key (docs/checkout-com.md#timeouts); a 409 for a key in flight is still sent.
        """
        st = self.state
        if key is not None:
            answer = await self._idempotent(scope, receive, key, 0.0)
            if answer[0] == 409:
                await self._send(send, *answer, extra)
                return
        else:
            await self._capture(scope, receive)
        st.calls.fault(fault)
        request_id = scope["state"]["request_id"]
        if fault == "after_timeout":
            await asyncio.sleep(st.config.slow_seconds)
            await self._error(send, 504, "gateway_timeout", ["gateway_timeout"], request_id, extra)
            return
        await self._error(send, 500, "internal_server_error", ["service_unavailable"], request_id, extra)

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        key: tuple[str, str, str],
        slow: float,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The answer to send: a replay, a 409 or the route's own (remembered when 2xx)."""
        st = self.state
        outcome, stored = st.idem.begin(key, st.clock.now())
        if outcome == "replay":
            assert stored is not None
            if slow:
                await asyncio.sleep(slow)
            return stored.status, stored.headers, stored.body
        if outcome == "conflict":
            body = json.dumps(
                {
                    "request_id": scope["state"]["request_id"],
                    "error_type": "request_invalid",
                    "error_codes": ["request_in_progress"],
                },
                separators=(",", ":"),
            ).encode()
            return 409, [(b"content-type", b"application/json; charset=utf-8")], body
        try:
            status, headers, body = await self._capture(scope, receive)
            if slow:
                await asyncio.sleep(slow)
        except BaseException:
            st.idem.abandon(key)
            raise
        st.idem.finish(key, status, headers, body, st.clock.now(), st.config.idempotency_ttl_seconds)
        return status, headers, body

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, collect)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"cko-request-id",)]
        return int(start.get("status", 500)), headers, b"".join(chunks)

    def _add_headers(self, send: Send, extra: list[tuple[bytes, bytes]], *, count: bool) -> Send:
        calls = self.state.calls

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
                if count:
                    calls.status(int(message["status"]))
            await send(message)

        return wrapped

    async def _send(
        self,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        self.state.calls.status(status)
        hdrs = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        hdrs.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": [*hdrs, *extra]})
        await send({"type": "http.response.body", "body": body})

    async def _error(
        self,
        send: Send,
        status: int,
        error_type: str,
        codes: list[str],
        request_id: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        body = json.dumps(
            {"request_id": request_id, "error_type": error_type, "error_codes": codes}, separators=(",", ":")
        ).encode()
        await self._send(send, status, [(b"content-type", b"application/json; charset=utf-8")], body, extra)
