"""Exceptions of the Checkout.com client: the shared HTTP families under Checkout.com names.

Callers branch on the class (403 = "not allowed in the payment's current state", 404 = unknown
id, 422 = our request is wrong); every class is also its family in
:mod:`checkout_freshportal.http.errors`, which carries ``permanent`` (whether a retry can help)
for the retry rule and Airflow's retry policy. Operators read ``str(exc)``: method, path,
status, the API's ``error_type``/``error_codes`` and the request id to quote to Checkout
support. Headers, credentials, query strings and bodies are never kept: an error body may echo
card data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from ..http import errors as http

#: Checkout.com's request id header (also in most error bodies as ``request_id``).
REQUEST_ID_HEADER = "Cko-Request-Id"


class CheckoutError(http.HttpError):
    """Base class. ``status`` is None for client-side failures (transport, pagination guards)."""

    def __init__(
        self,
        message: str = "",
        *,
        error_type: str | None = None,
        error_codes: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.error_type = error_type
        self.error_codes: tuple[str, ...] = tuple(error_codes)
        super().__init__(message, **kwargs)

    def _details(self) -> list[str]:
        parts = [*super()._details()]
        if self.error_type:
            parts.append(self.error_type)
        if self.error_codes:
            parts.append("[" + ", ".join(self.error_codes) + "]")
        return parts

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "error_type": self.error_type, "error_codes": self.error_codes}


class AuthenticationError(CheckoutError, http.AuthenticationError):
    """401: wrong/expired key or token, or 400 from the OAuth token endpoint."""


class ActionNotAllowedError(CheckoutError, http.ForbiddenError):
    """403: e.g. refund before capture, void after capture. The API sends no body."""


class NotFoundError(CheckoutError, http.NotFoundError):
    """404: unknown id (or not yet visible: lists and details are eventually consistent)."""


class ConflictError(CheckoutError, http.ConflictError):
    """409: a request with the same idempotency key is still in flight."""


class ValidationError(CheckoutError, http.ValidationError):
    """422: request invalid or business rule refused (see ``error_codes``)."""


class RateLimitedError(CheckoutError, http.RateLimitedError):
    """429: account-wide rate limit hit (retried with backoff before this surfaces)."""


class ServerError(CheckoutError, http.ServerError):
    """5xx from Checkout.com or its upstreams (retried before this surfaces)."""


class UnexpectedStatusError(CheckoutError, http.UnexpectedStatusError):
    """Any other non-success status (400, 405, 410, an unexpected 3xx, ...): never swallowed.

    Not retried by the client; a task retry cannot help either (the request itself is wrong).
    """


class CheckoutTransportError(CheckoutError, http.TransportError):
    """Timeout or connection failure that persisted after the retries.

    ``request_sent`` is False only when the connection was never established (connect timeout,
    refused): such a request is safe to repeat even without an idempotency key.
    """


class ResponseTooLargeError(CheckoutError, http.ResponseTooLargeError):
    """A success body over ``max_response_bytes``: refused unread (permanent)."""


class PaginationError(CheckoutError, http.PaginationError):
    """A listing could not be walked completely (window too dense, link loop, ...)."""


class UnsafeRedirectError(CheckoutError, http.UnsafeRedirectError):
    """A link or redirect pointed somewhere the client refuses to go (see docs)."""


#: Checkout.com documents no 400 outside its token endpoint: one elsewhere is "unexpected".
_BY_FAMILY: dict[type[http.HttpError], type[CheckoutError]] = {
    http.AuthenticationError: AuthenticationError,
    http.ForbiddenError: ActionNotAllowedError,
    http.NotFoundError: NotFoundError,
    http.ConflictError: ConflictError,
    http.ValidationError: ValidationError,
    http.RateLimitedError: RateLimitedError,
    http.ServerError: ServerError,
    http.UnexpectedStatusError: UnexpectedStatusError,
}
_OVERRIDES: dict[int, type[http.HttpError]] = {400: http.UnexpectedStatusError}


def error_class_for_status(status: int) -> type[CheckoutError]:
    return _BY_FAMILY[http.family_for_status(status, _OVERRIDES)]


def error_from_response(
    response: requests.Response, *, method: str | None = None, path: str | None = None
) -> CheckoutError:
    """Map a non-success response to the matching exception.

    ``request_id`` comes from the body, else from the ``Cko-Request-Id`` header (403/401 have
    no body). The OAuth token endpoint's ``{"error": "invalid_client"}`` becomes ``error_type``.
    """
    status = response.status_code
    body = http.json_object(response)
    request_id = http.text_or_none(body.get("request_id")) or response.headers.get(REQUEST_ID_HEADER)
    error_type = http.text_or_none(body.get("error_type")) or http.text_or_none(body.get("error"))
    codes_raw = body.get("error_codes")
    error_codes = [str(c) for c in codes_raw] if isinstance(codes_raw, list) else []
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
        retry_after=http.retry_after_seconds(response.headers.get("Retry-After")),
    )
