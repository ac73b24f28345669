"""Checkout.com API client (NAS platform): settings, auth, pacing, retries, paging, errors.

No Airflow, warehouse or sandbox imports here: the Airflow hook (plugins/checkout_hook.py), the
CLI and the sync use cases all build a :class:`CheckoutClient` from :class:`CheckoutSettings`.
See docs/checkout-client.md.
"""

from __future__ import annotations

from .client import CheckoutClient, new_idempotency_key
from .errors import (
    ActionNotAllowedError,
    AuthenticationError,
    CheckoutError,
    CheckoutTransportError,
    ConflictError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedStatusError,
    UnsafeRedirectError,
    ValidationError,
    error_from_response,
)
from .models import Balances, BalancesError, next_href, parse_ts, payment_balances
from .settings import CheckoutSettings, SettingsError
from .stats import CallStats

__all__ = [
    "ActionNotAllowedError",
    "AuthenticationError",
    "Balances",
    "BalancesError",
    "CallStats",
    "CheckoutClient",
    "CheckoutError",
    "CheckoutSettings",
    "CheckoutTransportError",
    "ConflictError",
    "NotFoundError",
    "PaginationError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "ServerError",
    "SettingsError",
    "UnexpectedStatusError",
    "UnsafeRedirectError",
    "ValidationError",
    "error_from_response",
    "new_idempotency_key",
    "next_href",
    "parse_ts",
    "payment_balances",
]
