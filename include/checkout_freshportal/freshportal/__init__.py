"""FreshPortal port: the contract this project needs from FreshPortal, as a client.

FreshPortal publishes no API reference; docs/freshportal-openapi.yaml is the contract we
assume (every assumption marked) and docs/freshportal.md explains it. Names and status codes
live in the mapping config (``mapping.py`` + ``default_mapping.json``), so adapting to a
tenant is a config change. No Airflow or sandbox imports here: the Airflow hook
(plugins/freshportal_hook.py), the CLI and the sync use cases build a
:class:`FreshPortalClient` from :class:`FreshPortalSettings`.
"""

from __future__ import annotations

from .chargebacks import Chargeback
from .client import FreshPortalClient
from .dates import parse_date, parse_datetime
from .errors import (
    AuthenticationError,
    ConflictError,
    DataError,
    ExportError,
    ForbiddenError,
    FreshPortalError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    ValidationError,
)
from .export import ExportArchive
from .feed import ChangeFeed
from .mapping import (
    CHECKOUT_DISPUTE_STATES,
    CHECKOUT_DISPUTE_STATUSES,
    CHECKOUT_PAYMENT_STATUSES,
    MAPPING_ENV_VAR,
    FreshPortalMapping,
    MappingError,
    UnknownStatusError,
    load_mapping,
)
from .models import (
    Address,
    Customer,
    InvoiceRef,
    Note,
    Order,
    OrderLine,
    OrderPayment,
    Page,
    PaymentStatusUpdate,
    RefundOutcome,
    RefundRequest,
)
from .privacy import mask_email
from .releases import FulfilmentRelease
from .settings import FreshPortalSettings, SettingsError
from .stats import CallStats

__all__ = [
    "CHECKOUT_DISPUTE_STATES",
    "CHECKOUT_DISPUTE_STATUSES",
    "CHECKOUT_PAYMENT_STATUSES",
    "MAPPING_ENV_VAR",
    "Address",
    "AuthenticationError",
    "CallStats",
    "ChangeFeed",
    "Chargeback",
    "ConflictError",
    "Customer",
    "DataError",
    "ExportArchive",
    "ExportError",
    "ForbiddenError",
    "FreshPortalClient",
    "FreshPortalError",
    "FreshPortalMapping",
    "FreshPortalSettings",
    "FulfilmentRelease",
    "InvoiceRef",
    "MappingError",
    "NotFoundError",
    "Note",
    "Order",
    "OrderLine",
    "OrderPayment",
    "Page",
    "PaginationError",
    "PaymentStatusUpdate",
    "RateLimitedError",
    "RefundOutcome",
    "RefundRequest",
    "ResponseTooLargeError",
    "ServerError",
    "SettingsError",
    "TransportError",
    "UnknownStatusError",
    "ValidationError",
    "load_mapping",
    "mask_email",
    "parse_date",
    "parse_datetime",
]
