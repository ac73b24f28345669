"""One error hierarchy for every HTTP API the project calls.

Each client (Checkout.com, FreshPortal) subclasses these families with its own names, so callers
keep branching on ``checkout.errors.NotFoundError`` or ``freshportal.errors.ValidationError``
while the shared code -- retry rule, backoff, Airflow retry policy -- branches on the family and
on ``permanent`` only. ``permanent`` is a class attribute: True for what a repeat cannot fix (a
4xx other than 409/429, a refused redirect, a listing that cannot be walked), False for what
time may cure (429, 5xx, timeouts, a 409 whose first request is still in flight).

``str(exc)`` is what operators read: method, path (never the query), status, the client's
details and the request id to quote to the provider's support. Headers, credentials, query
strings and bodies are never kept: an error body may echo card data or a customer e-mail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from ..errors import SettingsError as SettingsError  # the one settings error, also the clients'
from .body import DeadlinePassed, keep_body, read_limited

#: Largest error body read for its code and message; a larger one is ignored (status only).
ERROR_BODY_LIMIT = 64_000
#: Wall-clock budget for an error body nobody read yet (the transport reads API error bodies
#: itself, within the attempt's deadline; this bounds the download path).
ERROR_BODY_SECONDS = 30.0


class HttpError(Exception):
    """Base class. ``status`` is None for client-side failures (transport, parsing, paging)."""

    permanent: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.request_id = request_id
        self.method = method
        self.path = path
        self.retry_after = retry_after
        #: Set once a retry policy has been applied to this error, so an outer retry loop (the
        #: token fetch inside a call, a download inside a fresh-URL loop) does not multiply the
        #: attempts.
        self.final = False
        super().__init__(self.__str__())
        self._built = True

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        # ``args`` is what repr(), pickling by Exception and many error trackers show: a message
        # replaced to hide what the server said must replace it there too, not only in str().
        self._message = value
        if getattr(self, "_built", False):
            self.args = (self.__str__(),)

    def _details(self) -> list[str]:
        """What a client adds between the status and the message (error type, codes)."""
        return []

    def __str__(self) -> str:
        parts: list[str] = []
        if self.method or self.path:
            parts.append(f"{self.method or '?'} {self.path or '?'}")
        if self.status is not None:
            parts.append(f"-> {self.status}")
        parts.extend(self._details())
        if self.message:
            parts.append(self.message)
        if self.request_id:
            parts.append(f"(request_id={self.request_id})")
        return " ".join(parts) or type(self).__name__

    def __reduce__(self) -> tuple[Any, ...]:
        # Airflow may pickle exceptions between processes: keep the attributes.
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this error; subclasses extend it cooperatively."""
        return {
            "status": self.status,
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "retry_after": self.retry_after,
        }


def _rebuild(cls: type[HttpError], message: str, state: dict[str, Any]) -> HttpError:
    return cls(message, **state)


class AuthenticationError(HttpError):
    """401 (or a refused token exchange): the credential is wrong; a repeat will not fix it."""

    permanent = True


class ForbiddenError(HttpError):
    """403: not allowed for this credential or in the resource's current state."""

    permanent = True


class NotFoundError(HttpError):
    """404: unknown id."""

    permanent = True


class ConflictError(HttpError):
    """409: another request holds the resource (e.g. same idempotency key still in flight)."""


class ValidationError(HttpError):
    """400/422: the request was refused as invalid; repeating it gives the same answer."""

    permanent = True


class RateLimitedError(HttpError):
    """429: refused before processing; safe to repeat after a wait."""


class ServerError(HttpError):
    """5xx from the provider or its upstreams."""


class UnexpectedStatusError(HttpError):
    """Any other non-success status (405, 410, an unexpected 3xx, ...): never swallowed."""

    permanent = True


class TransportError(HttpError):
    """Timeout or connection failure.

    ``request_sent`` is False only when no connection was established (connect timeout,
    refused, DNS failure): such a request cannot have had an effect and is safe to repeat.
    """

    def __init__(self, message: str = "", *, request_sent: bool = True, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(message, **kwargs)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "request_sent": self.request_sent}


class ResponseTooLargeError(HttpError):
    """A success body larger than ``max_response_bytes``: refused, not buffered.

    Permanent: the same request gets the same body, and reading it would put an unbounded
    amount of memory at the server's mercy. The message names the limit, never the body.
    """

    permanent = True


class PaginationError(HttpError):
    """A listing could not be walked completely (window too dense, link loop, stuck cursor)."""

    permanent = True


class UnsafeRedirectError(HttpError):
    """A link or redirect pointed somewhere the client refuses to send a request or credential."""

    permanent = True


#: Status -> family, shared by both APIs; a client overrides single statuses (Checkout.com has
#: no documented 400 outside its token endpoint, so its 400 stays "unexpected").
STATUS_FAMILIES: Mapping[int, type[HttpError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def family_for_status(status: int, overrides: Mapping[int, type[HttpError]] | None = None) -> type[HttpError]:
    """The family of a non-success ``status``; 5xx is :class:`ServerError`, the rest unexpected."""
    if overrides is not None and status in overrides:
        return overrides[status]
    if status in STATUS_FAMILIES:
        return STATUS_FAMILIES[status]
    if 500 <= status <= 599:
        return ServerError
    return UnexpectedStatusError


def json_object(response: requests.Response) -> Mapping[str, Any]:
    """An error body as a JSON object when it is one; anything else (HTML, empty, huge) is ignored.

    At most :data:`ERROR_BODY_LIMIT` bytes are ever read (one more to see it is larger): a
    streamed error answer is not buffered whole, and one that drips is abandoned after
    :data:`ERROR_BODY_SECONDS`.
    """
    try:
        content, complete = read_limited(response, ERROR_BODY_LIMIT, time.monotonic() + ERROR_BODY_SECONDS)
    except (requests.RequestException, RuntimeError, DeadlinePassed):
        keep_body(response, b"", complete=False)
        return {}
    keep_body(response, content if complete else b"", complete=complete)
    if not content or not complete:
        return {}
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def text_or_none(value: object) -> str | None:
    """A string or integer body field as text; anything else (bool, object, empty) as None."""
    if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
        return str(value)
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds when it is a non-negative number (an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
