"""Small pieces every router uses: the state, the raw body, JSON parsing and query checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, TypeGuard

from fastapi import Request

from checkout_freshportal.timeutil import TimestampError

from .clock import parse_query_ts
from .state import SandboxState


def state(request: Request) -> SandboxState:
    sandbox: SandboxState = request.app.state.sandbox
    return sandbox


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def raw_body(request: Request) -> bytes:
    return await request.body()


class BadRequest(Exception):
    """Becomes a 422 with the standard error body."""

    def __init__(self, *codes: str, error_type: str = "request_invalid") -> None:
        super().__init__(*codes)
        self.codes = codes
        self.error_type = error_type


def parse_json(body: bytes, *, empty_ok: bool = True) -> dict[str, Any]:
    if not body.strip():
        if empty_ok:
            return {}
        raise BadRequest("request_json_invalid", error_type="request_malformed")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request_json_invalid", error_type="request_malformed") from None
    if not isinstance(data, dict):
        raise BadRequest("request_json_invalid", error_type="request_malformed")
    return data


def int_param(value: str | None, default: int, lo: int, hi: int | None, code: str) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(code) from None
    if n < lo or (hi is not None and n > hi):
        raise BadRequest(code)
    return n


def ts_param(value: Any, code: str) -> datetime | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest(code)
    try:
        return parse_query_ts(value)
    except TimestampError:
        raise BadRequest(code) from None


def is_int(value: Any) -> TypeGuard[int]:
    """An integer in JSON (``true`` is not one, although Python's ``bool`` is an ``int``)."""
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- opaque pagination tokens
def make_token(secret: bytes, payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    sig = hmac.new(secret, raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(raw + sig).rstrip(b"=").decode("ascii")


def read_token(secret: bytes, token: str) -> dict[str, Any]:
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        raw, sig = blob[:-12], blob[-12:]
        if not hmac.compare_digest(hmac.new(secret, raw, hashlib.sha256).digest()[:12], sig):
            raise ValueError("bad signature")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except (ValueError, TypeError):
        raise BadRequest("pagination_token_invalid") from None
