"""The HTTP layer both API clients stand on (no Airflow, no provider specifics).

``transport.py`` (session, timeouts, attempts, 401 refresh, logging), ``body.py`` (reading a
body under a size cap and a wall-clock deadline), ``retry.py`` (which
failures are repeated and how long to wait), ``errors.py`` (one hierarchy with a ``permanent``
flag and the request id), ``stats.py`` (call counters), ``download.py`` (pre-signed files
without credentials) and ``config.py`` (settings checks shared by both clients). See
docs/checkout-client.md.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    HttpError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    SettingsError,
    TransportError,
    UnexpectedStatusError,
    UnsafeRedirectError,
    ValidationError,
)
from .retry import BackoffPolicy, is_retryable
from .stats import CallStats
from .transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RESPONSE_DEADLINE,
    Authenticator,
    ErrorClasses,
    HttpTransport,
    TransportSettings,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RESPONSE_DEADLINE",
    "AuthenticationError",
    "Authenticator",
    "BackoffPolicy",
    "CallStats",
    "ConflictError",
    "ErrorClasses",
    "ForbiddenError",
    "HttpError",
    "HttpTransport",
    "NotFoundError",
    "PaginationError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "ServerError",
    "SettingsError",
    "TransportError",
    "TransportSettings",
    "UnexpectedStatusError",
    "UnsafeRedirectError",
    "ValidationError",
    "is_retryable",
]
