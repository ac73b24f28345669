"""Airflow provider of the Checkout.com <-> FreshPortal sync: connection types and hooks.

Airflow finds connection types only through providers: packages that declare an
``apache_airflow_provider`` entry point returning their provider info. This package does, so
``checkout`` and ``freshportal`` appear in the Connection form of the UI, with their fields,
and the hooks resolve by dotted path in every Airflow process. The library
(``checkout_freshportal``) stays free of Airflow; ``plugins/*_hook.py`` re-export the hooks for
the task modules that import them by file name.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .connection_types import (
    CHECKOUT,
    CHECKOUT_FIELD_BEHAVIOUR,
    CHECKOUT_FIELDS,
    FRESHPORTAL,
    FRESHPORTAL_FIELD_BEHAVIOUR,
    FRESHPORTAL_FIELDS,
    provider_entry,
)

PACKAGE_NAME = "checkout-freshportal-airflow"


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow validates against ``airflow/provider_info.schema.json``."""
    try:
        current = version(PACKAGE_NAME)
    except PackageNotFoundError:  # imported from a source tree that was not installed
        current = "0.0.0"
    return {
        "package-name": PACKAGE_NAME,
        "name": "Checkout.com and FreshPortal",
        "description": "Connection types and hooks for the Checkout.com <-> FreshPortal payment sync.",
        "versions": [current],
        "connection-types": [
            provider_entry(
                CHECKOUT,
                "cfp_airflow.hooks.checkout.CheckoutHook",
                "Checkout.com",
                CHECKOUT_FIELD_BEHAVIOUR,
                CHECKOUT_FIELDS,
            ),
            provider_entry(
                FRESHPORTAL,
                "cfp_airflow.hooks.freshportal.FreshPortalHook",
                "FreshPortal",
                FRESHPORTAL_FIELD_BEHAVIOUR,
                FRESHPORTAL_FIELDS,
            ),
        ],
    }
