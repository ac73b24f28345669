"""Exceptions of the FreshPortal port: the shared HTTP families under FreshPortal names.

Callers branch on the class; every class is also its family in
:mod:`checkout_freshportal.http.errors`, which carries ``permanent`` (whether a retry can help)
for the retry rule and Airflow's retry policy. Operators read ``str(exc)``: method, path (never
the query string), HTTP status, the API's error code and the request id to quote to FreshPortal
support. Server messages are kept only after :func:`~.privacy.scrub` (e-mails masked,
token-like strings removed); headers, credentials and bodies are never kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from ..errors import PermanentError
from ..http import errors as http
from .privacy import scrub

#: Response header assumed to carry FreshPortal's request id (docs/freshportal-openapi.yaml).
REQUEST_ID_HEADER = "X-Request-Id"


class FreshPortalError(http.HttpError):
    """Base class. ``status`` is None for client-side failures (transport, parsing, paging)."""

    def __init__(self, message: str = "", *, code: str | None = None, **kwargs: Any) -> None:
        self.code = code
        super().__init__(message, **kwargs)

    def _details(self) -> list[str]:
        return [*super()._details(), *([self.code] if self.code else [])]

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "code": self.code}


class AuthenticationError(FreshPortalError, http.AuthenticationError):
    """401 from ``POST /v1/auth`` (API key refused), or a 401 that persists after one re-auth."""


class ForbiddenError(FreshPortalError, http.ForbiddenError):
    """403: the API user lacks the right for this operation."""


class NotFoundError(FreshPortalError, http.NotFoundError):
    """404: unknown order, refund request or note."""


class ConflictError(FreshPortalError, http.ConflictError):
    """409: e.g. a payment-status write with a lower ``sequence`` than the stored one."""


class ValidationError(FreshPortalError, http.ValidationError):
    """400/422: the request was refused as invalid; repeating it gives the same answer."""


class RateLimitedError(FreshPortalError, http.RateLimitedError):
    """429 (retried with backoff before it surfaces)."""


class ServerError(FreshPortalError, http.ServerError):
    """5xx (retried for reads and idempotent writes before it surfaces)."""


class UnexpectedStatusError(FreshPortalError, http.UnexpectedStatusError):
    """Any other non-success status (405, 410, a 3xx, ...): the request itself is wrong."""


class TransportError(FreshPortalError, http.TransportError):
    """Timeout or connection failure that persisted after the retries.

    ``request_sent`` is False only when no connection was made (connect timeout, refused):
    such a request cannot have had an effect on the server.
    """


class ResponseTooLargeError(FreshPortalError, http.ResponseTooLargeError):
    """A success body over ``max_response_bytes``: refused unread (permanent)."""


class PaginationError(FreshPortalError, http.PaginationError):
    """A change feed could not be walked (cursor did not advance, malformed page)."""


class UnsafeRedirectError(FreshPortalError, http.UnsafeRedirectError):
    """An export URL the client refuses to fetch (not http/https)."""


class DataError(PermanentError, FreshPortalError):
    """A response field could not be read strictly (date, amount, currency, missing field).

    Permanent: the same record reads the same way next time. The message names the field and
    the record (id / order number), never a customer e-mail.
    """

    def __init__(
        self, message: str = "", *, field: str | None = None, record: str | None = None, **kw: Any
    ) -> None:
        self.field = field
        self.record = record
        super().__init__(message, **kw)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "field": self.field, "record": self.record}


class ExportError(FreshPortalError):
    """The export ZIP could not be fetched or read (expired URL, not a ZIP, bad CSV)."""


_BY_FAMILY: dict[type[http.HttpError], type[FreshPortalError]] = {
    http.AuthenticationError: AuthenticationError,
    http.ForbiddenError: ForbiddenError,
    http.NotFoundError: NotFoundError,
    http.ConflictError: ConflictError,
    http.ValidationError: ValidationError,
    http.RateLimitedError: RateLimitedError,
    http.ServerError: ServerError,
    http.UnexpectedStatusError: UnexpectedStatusError,
}


def error_class_for_status(status: int) -> type[FreshPortalError]:
    return _BY_FAMILY[http.family_for_status(status)]


def error_from_response(
    response: requests.Response, *, method: str | None = None, path: str | None = None
) -> FreshPortalError:
    """Map a non-success response to an exception.

    Assumed error body (docs/freshportal-openapi.yaml, ``Error``): ``{"error": {"code",
    "message"}}``; a flat ``{"code", "message"}`` or a non-JSON body is tolerated.
    """
    status = response.status_code
    body = http.json_object(response)
    nested = body.get("error")
    inner: Mapping[str, Any] = nested if isinstance(nested, dict) else body
    code = http.text_or_none(inner.get("code")) or (
        http.text_or_none(body.get("error")) if isinstance(body.get("error"), str) else None
    )
    message = scrub(http.text_or_none(inner.get("message")) or "")
    request_id = response.headers.get(REQUEST_ID_HEADER) or http.text_or_none(body.get("request_id"))
    cls = error_class_for_status(status)
    if cls is UnexpectedStatusError and not message:
        message = f"unexpected HTTP status ({response.reason or 'no reason'})"
    return cls(
        message,
        status=status,
        request_id=request_id,
        code=code,
        method=method,
        path=path,
        retry_after=http.retry_after_seconds(response.headers.get("Retry-After")),
    )
