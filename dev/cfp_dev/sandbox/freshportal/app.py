"""The FreshPortal simulator as an ASGI app (FastAPI): the contract plus its known quirks.

Routes follow docs/freshportal-openapi.yaml. Request bodies are parsed with decimals as
``Decimal`` (a float never touches an amount). Faults are applied in one middleware, before the
handler (429, 500, slow) or after it (``500_after_commit``: the write is stored, the answer is
a 500). ``/_sandbox/*`` is the unauthenticated admin surface for tests and the demo;
``/_storage/*`` stands in for the pre-signed object storage that serves export ZIPs.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .config import RUNTIME_OPTIONS, FreshPortalSandboxConfig
from .state import ApiError, FreshPortalSandboxState

REQUEST_ID_HEADER = "X-Request-Id"
#: Path segments that are ids (numbers, export ids), folded for the request counters.
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)|/[0-9a-f]{24}\.zip$")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _storage_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "invalid_json", "the request body is not JSON") from None


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise ApiError(400, "invalid_limit", "limit must be an integer")
    return int(value)


def create_app(config: FreshPortalSandboxConfig | None = None) -> FastAPI:
    """A fresh app with its own state (``app.state.sandbox``)."""
    config = config or FreshPortalSandboxConfig()
    state = FreshPortalSandboxState(config)
    app = FastAPI(
        title="FreshPortal sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json"
    )
    app.state.sandbox = state

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if request.url.path.startswith("/_storage/"):
            return _storage_error(exc.status, exc.code, exc.message)
        return _error(exc.status, exc.code, exc.message)

    @app.middleware("http")
    async def faults_and_request_ids(request: Request, call_next):  # type: ignore[no-untyped-def]
        path, method = request.url.path, request.method.upper()
        request_id = uuid.uuid4().hex
        if path.startswith("/_sandbox"):
            return await call_next(request)
        state.count(f"{method} {_ID_SEGMENT.sub('/{id}', path)}")
        fault = state.faults.decide(method, path)
        if fault is not None:
            state.count(f"fault.{fault}")
        if fault == "429":
            response: Response = _error(429, "rate_limited", "too many requests")
        elif fault == "500":
            response = _error(500, "internal_error", "internal server error")
        else:
            response = await call_next(request)
            if fault == "slow":
                # Processed first, answered late: a client that times out has had its effect.
                await asyncio.sleep(config.slow_seconds)
                state.count("fault.slow.answered")  # tests wait on this, not on a guessed sleep
            if fault == "500_after_commit" and response.status_code < 300:
                response = _error(500, "internal_error", "internal server error")
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    # ------------------------------------------------------------------ auth
    @app.post("/v1/auth")
    async def auth(request: Request) -> dict[str, str]:
        return {"token": state.issue_token(await _body(request))}

    def require_token(request: Request) -> None:
        state.check_token(request.headers.get("authorization"))

    # ------------------------------------------------------------------ orders
    @app.get("/v1/orders")
    async def list_orders(request: Request, cursor: str | None = None, limit: str | None = None) -> Any:
        require_token(request)
        return state.list_orders(cursor, _limit(limit))

    @app.get("/v1/orders/{order_id}")
    async def get_order(request: Request, order_id: str) -> Any:
        require_token(request)
        return state.get_order(order_id)

    @app.put("/v1/orders/{order_id}/payment")
    async def put_payment(request: Request, order_id: str) -> Any:
        require_token(request)
        return state.put_payment(order_id, await _body(request))

    @app.get("/v1/orders/{order_id}/notes")
    async def list_notes(request: Request, order_id: str) -> Any:
        require_token(request)
        return state.list_notes(order_id)

    @app.post("/v1/orders/{order_id}/notes", status_code=201)
    async def create_note(request: Request, order_id: str) -> Any:
        require_token(request)
        return state.create_note(order_id, await _body(request))

    # ------------------------------------------------------------------ refund requests
    @app.get("/v1/refund-requests")
    async def list_refunds(request: Request, cursor: str | None = None, limit: str | None = None) -> Any:
        require_token(request)
        return state.list_refund_requests(cursor, _limit(limit))

    @app.get("/v1/refund-requests/{refund_request_id}")
    async def get_refund(request: Request, refund_request_id: str) -> Any:
        require_token(request)
        return state.get_refund_request(refund_request_id)

    @app.put("/v1/refund-requests/{refund_request_id}/outcome")
    async def put_outcome(request: Request, refund_request_id: str) -> Any:
        require_token(request)
        return state.put_outcome(refund_request_id, await _body(request))

    # ------------------------------------------------------------------ fulfilment releases
    @app.get("/v1/fulfilment-releases")
    async def list_releases(request: Request, cursor: str | None = None, limit: str | None = None) -> Any:
        require_token(request)
        return state.list_fulfilment_releases(cursor, _limit(limit))

    @app.get("/v1/fulfilment-releases/{release_id}")
    async def get_release(request: Request, release_id: str) -> Any:
        require_token(request)
        return state.get_fulfilment_release(release_id)

    # ------------------------------------------------------------------ export
    @app.get("/v2/export")
    async def export(request: Request, mutation_datetime: str | None = None) -> Any:
        require_token(request)
        return state.create_export(mutation_datetime, str(request.base_url))

    @app.get("/_storage/exports/{name}")
    async def storage(
        request: Request, name: str, expires: str | None = None, signature: str | None = None
    ) -> Any:
        if "authorization" in request.headers:
            # As S3 does: a pre-signed URL plus an Authorization header is two auth mechanisms.
            raise ApiError(400, "InvalidArgument", "Only one auth mechanism allowed")
        if not name.endswith(".zip"):
            raise ApiError(404, "NoSuchKey", "The specified key does not exist")
        blob = state.fetch_export(name[: -len(".zip")], expires, signature)
        return Response(blob, media_type="application/zip")

    # ------------------------------------------------------------------ admin
    @app.get("/_sandbox/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "tenant": config.tenant}

    @app.get("/_sandbox/state")
    async def full_state() -> Any:
        return state.snapshot()

    @app.post("/_sandbox/orders", status_code=201)
    async def admin_create_order(request: Request) -> Any:
        return state.admin_create_order(await _body(request))

    @app.patch("/_sandbox/orders/{ref}")
    async def admin_update_order(request: Request, ref: str) -> Any:
        return state.admin_update_order(ref, await _body(request))

    @app.post("/_sandbox/orders/{ref}/confirm")
    async def admin_confirm(ref: str) -> Any:
        return state.admin_confirm(ref)

    @app.post("/_sandbox/orders/{ref}/invoice")
    async def admin_invoice(ref: str) -> Any:
        return state.admin_invoice(ref)

    @app.post("/_sandbox/orders/{ref}/releases", status_code=201)
    async def admin_create_release(request: Request, ref: str) -> Any:
        return state.admin_create_release(ref, await _body(request))

    @app.post("/_sandbox/refund-requests", status_code=201)
    async def admin_create_refund(request: Request) -> Any:
        return state.admin_create_refund_request(await _body(request))

    @app.patch("/_sandbox/refund-requests/{ref}")
    async def admin_update_refund(request: Request, ref: str) -> Any:
        return state.admin_update_refund_request(ref, await _body(request))

    @app.get("/_sandbox/faults")
    async def get_faults() -> Any:
        return state.fault_settings()

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> Any:
        body = await _body(request) or {}
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "expected an object of options")
        unknown = sorted(set(body) - RUNTIME_OPTIONS)
        if unknown:
            raise ApiError(422, "unknown_option", f"not changeable at runtime: {unknown}")
        try:
            values = {k: float(v) for k, v in body.items()}
            shares = {k: v for k, v in values.items() if k.endswith("_share")}
            state.faults.set_shares(**shares)
            for key, value in values.items():
                if not key.endswith("_share"):
                    if value <= 0 and key != "slow_seconds":
                        raise ValueError(f"{key} must be positive")
                    setattr(config, key, value)
        except (TypeError, ValueError) as exc:
            raise ApiError(422, "invalid_option", str(exc)) from None
        return state.fault_settings()

    @app.post("/_sandbox/faults/next")
    async def queue_fault(request: Request) -> Any:
        body = await _body(request) or {}
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "expected an object")
        try:
            state.faults.queue(
                str(body.get("fault")), body.get("method"), body.get("path"), int(body.get("count", 1))
            )
        except (TypeError, ValueError) as exc:
            raise ApiError(422, "invalid_fault", str(exc)) from None
        return state.fault_settings()

    @app.delete("/_sandbox/faults/next")
    async def clear_faults() -> Any:
        state.faults.clear()
        return state.fault_settings()

    @app.post("/_sandbox/tokens/expire")
    async def expire_tokens() -> dict[str, int]:
        return {"expired": state.expire_tokens()}

    @app.post("/_sandbox/lifetimes/advance")
    async def advance_lifetimes(request: Request) -> dict[str, float]:
        body = await _body(request) or {}
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ApiError(422, "invalid_request", 'expected {"seconds": <positive number>}')
        return {"skipped_seconds": state.advance_lifetimes(float(seconds))}

    return app
