"""Response helpers: JSON bytes, the standard error body and the empty-bodied statuses."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from .render import dumps

JSON_TYPE = "application/json; charset=utf-8"


def json_response(obj: Any, status: int = 200, body: bytes | None = None) -> Response:
    return Response(
        content=body if body is not None else dumps(obj), status_code=status, media_type=JSON_TYPE
    )


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(
    request: Request, status: int, codes: tuple[str, ...] | list[str], error_type: str = "request_invalid"
) -> Response:
    """``{"request_id", "error_type", "error_codes"}`` (docs/checkout-com.md#errors)."""
    return json_response(
        {"request_id": request_id(request), "error_type": error_type, "error_codes": list(codes)}, status
    )


def empty(status: int) -> Response:
    """401, 403 and 404 come without a body on the real API (docs/checkout-com.md#errors)."""
    return Response(status_code=status)
