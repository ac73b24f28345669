"""Exceptions of the FreshPortal port, one class per failure family.

Callers branch on the class; operators read ``str(exc)``: method, path (never the query
string), HTTP status, the API's error code and the request id to quote to FreshPortal support.
Server messages are kept only after :func:`~.privacy.scrub` (e-mails masked, token-like strings
removed); headers, credentials and bodies are never kept.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from .privacy import scrub

#: Response header assumed to carry FreshPortal's request id (docs/freshportal-openapi.yaml).
REQUEST_ID_HEADER = "X-Request-Id"


class FreshPortalError(Exception):
    """Base class. ``status`` is None for client-side failures (transport, parsing, paging)."""

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.request_id = request_id
        self.code = code
        self.method = method
        self.path = path
        #: Set once the client's retry policy has been applied, so an outer loop does not retry
        #: the same failure again (e.g. the token fetch inside a call).
        self.final = False
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts: list[str] = []
        if self.method or self.path:
            parts.append(f"{self.method or '?'} {self.path or '?'}")
        if self.status is not None:
            parts.append(f"-> {self.status}")
        if self.code:
            parts.append(self.code)
        if self.message:
            parts.append(self.message)
        if self.request_id:
            parts.append(f"(request_id={self.request_id})")
        return " ".join(parts) or type(self).__name__

    def __reduce__(self) -> tuple[Any, ...]:
        # Airflow may pickle exceptions between processes: keep the attributes.
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "request_id": self.request_id,
            "code": self.code,
            "method": self.method,
            "path": self.path,
        }


def _rebuild(cls: type[FreshPortalError], message: str, state: dict[str, Any]) -> FreshPortalError:
    return cls(message, **state)


class AuthenticationError(FreshPortalError):
    """401 from ``POST /v1/auth`` (API key refused), or a 401 that persists after one re-auth."""


class ForbiddenError(FreshPortalError):
    """403: the API user lacks the right for this operation."""


class NotFoundError(FreshPortalError):
    """404: unknown order, refund request or note."""


class ConflictError(FreshPortalError):
    """409: e.g. a payment-status write with a lower ``sequence`` than the stored one."""


class ValidationError(FreshPortalError):
    """400/422: the request was refused as invalid; repeating it gives the same answer."""


class RateLimitedError(FreshPortalError):
    """429 (retried with backoff before it surfaces)."""


class ServerError(FreshPortalError):
    """5xx (retried for reads and idempotent writes before it surfaces)."""


class TransportError(FreshPortalError):
    """Timeout or connection failure that persisted after the retries.

    ``request_sent`` is False only when no connection was made (connect timeout, refused):
    such a request cannot have had an effect on the server.
    """

    def __init__(self, message: str = "", *, request_sent: bool = True, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(message, **kwargs)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "request_sent": self.request_sent}


class PaginationError(FreshPortalError):
    """A change feed could not be walked (cursor did not advance, malformed page)."""


class DataError(FreshPortalError):
    """A response field could not be read strictly (date, amount, currency, missing field).

    The message names the field and the record (id / order number), never a customer e-mail.
    """

    def __init__(self, message: str = "", *, field: str | None = None, record: str | None = None, **kw: Any):
        self.field = field
        self.record = record
        super().__init__(message, **kw)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "field": self.field, "record": self.record}


class ExportError(FreshPortalError):
    """The export ZIP could not be fetched or read (expired URL, not a ZIP, bad CSV)."""


_BY_STATUS: dict[int, type[FreshPortalError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_class_for_status(status: int) -> type[FreshPortalError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return FreshPortalError


def error_from_response(
    response: requests.Response, *, method: str | None = None, path: str | None = None
) -> FreshPortalError:
    """Map a non-success response to an exception.

    Assumed error body (docs/freshportal-openapi.yaml, ``Error``): ``{"error": {"code",
    "message"}}``; a flat ``{"code", "message"}`` or a non-JSON body is tolerated.
    """
    status = response.status_code
    body = _json_object(response)
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = _text(inner.get("code")) or (
        _text(body.get("error")) if isinstance(body.get("error"), str) else None
    )
    message = scrub(_text(inner.get("message")) or "")
    request_id = response.headers.get(REQUEST_ID_HEADER) or _text(body.get("request_id"))
    cls = error_class_for_status(status)
    if cls is FreshPortalError and not message:
        message = f"unexpected HTTP status ({response.reason or 'no reason'})"
    return cls(message, status=status, request_id=request_id, code=code, method=method, path=path)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        content = response.content
    except (requests.RequestException, RuntimeError):
        return {}
    if not content or len(content) > 64_000:
        return {}
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
        return str(value)
    return None
