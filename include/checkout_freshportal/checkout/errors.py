"""Exceptions of the Checkout.com client, one class per status family.

Callers branch on the class (403 = "not allowed in the payment's current state", 404 = unknown
id, 422 = our request is wrong) and operators read ``str(exc)``: method, path, status, the
API's ``error_type``/``error_codes`` and the request id to quote to Checkout support. Headers,
credentials, query strings and bodies are never kept: an error body may echo card data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import requests


class CheckoutError(Exception):
    """Base class. ``status`` is None for client-side failures (transport, pagination guards)."""

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        error_codes: Sequence[str] = (),
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.request_id = request_id
        self.error_type = error_type
        self.error_codes: tuple[str, ...] = tuple(error_codes)
        self.method = method
        self.path = path
        self.retry_after = retry_after
        #: Set by the client once its retry policy has been applied to this error, so an outer
        #: retry loop (token fetch inside a call, report file inside a download) does not
        #: multiply the attempts.
        self.final = False
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts: list[str] = []
        if self.method or self.path:
            parts.append(f"{self.method or '?'} {self.path or '?'}")
        if self.status is not None:
            parts.append(f"-> {self.status}")
        if self.error_type:
            parts.append(self.error_type)
        if self.error_codes:
            parts.append("[" + ", ".join(self.error_codes) + "]")
        if self.message:
            parts.append(self.message)
        if self.request_id:
            parts.append(f"(request_id={self.request_id})")
        return " ".join(parts) or type(self).__name__

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep attributes across pickling (Airflow may pickle exceptions between processes).
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "request_id": self.request_id,
            "error_type": self.error_type,
            "error_codes": self.error_codes,
            "method": self.method,
            "path": self.path,
            "retry_after": self.retry_after,
        }


def _rebuild(cls: type[CheckoutError], message: str, state: dict[str, Any]) -> CheckoutError:
    return cls(message, **state)


class AuthenticationError(CheckoutError):
    """401: wrong/expired key or token, or 400 from the OAuth token endpoint."""


class ActionNotAllowedError(CheckoutError):
    """403: e.g. refund before capture, void after capture. The API sends no body."""


class NotFoundError(CheckoutError):
    """404: unknown id (or not yet visible: lists and details are eventually consistent)."""


class ConflictError(CheckoutError):
    """409: a request with the same idempotency key is still in flight."""


class ValidationError(CheckoutError):
    """422: request invalid or business rule refused (see ``error_codes``)."""


class RateLimitedError(CheckoutError):
    """429: account-wide rate limit hit (retried with backoff before this surfaces)."""


class ServerError(CheckoutError):
    """5xx from Checkout.com or its upstreams (retried before this surfaces)."""


class UnexpectedStatusError(CheckoutError):
    """Any other non-success status (400, 405, 410, an unexpected 3xx, ...): never swallowed.

    Not retried by the client; a task retry cannot help either (the request itself is wrong).
    """


class CheckoutTransportError(CheckoutError):
    """Timeout or connection failure that persisted after the retries.

    ``request_sent`` is False only when the connection was never established (connect timeout,
    refused): such a request is safe to repeat even without an idempotency key.
    """

    def __init__(self, message: str = "", *, request_sent: bool = True, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(message, **kwargs)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "request_sent": self.request_sent}


class PaginationError(CheckoutError):
    """A listing could not be walked completely (window too dense, link loop, ...)."""


class UnsafeRedirectError(CheckoutError):
    """A link or redirect pointed somewhere the client refuses to go (see docs)."""


_BY_STATUS: dict[int, type[CheckoutError]] = {
    401: AuthenticationError,
    403: ActionNotAllowedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_class_for_status(status: int) -> type[CheckoutError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return UnexpectedStatusError


def error_from_response(
    response: requests.Response, *, method: str | None = None, path: str | None = None
) -> CheckoutError:
    """Map a non-success response to the matching exception.

    ``request_id`` comes from the body, else from the ``Cko-Request-Id`` header (403/401 have
    no body). The OAuth token endpoint's ``{"error": "invalid_client"}`` becomes ``error_type``.
    """
    status = response.status_code
    body = _json_object(response)
    request_id = _str_or_none(body.get("request_id")) or response.headers.get("Cko-Request-Id")
    error_type = _str_or_none(body.get("error_type")) or _str_or_none(body.get("error"))
    codes_raw = body.get("error_codes")
    error_codes = [str(c) for c in codes_raw] if isinstance(codes_raw, list) else []
    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
    if method is None and response.request is not None:
        method = response.request.method
    cls = error_class_for_status(status)
    if status == 400 and path is not None and path.endswith("connect/token"):
        cls = AuthenticationError
    message = (
        f"unexpected HTTP status ({response.reason or 'no reason'})" if cls is UnexpectedStatusError else ""
    )
    return cls(
        message,
        status=status,
        request_id=request_id,
        error_type=error_type,
        error_codes=error_codes,
        method=method,
        path=path,
        retry_after=retry_after,
    )


def _json_object(response: requests.Response) -> Mapping[str, Any]:
    """The body as a JSON object when it is one; anything else (HTML, empty) is ignored."""
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


def _str_or_none(value: object) -> str | None:
    return (
        str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None
    )


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds when it is a number (no header is documented; honour one if sent)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
