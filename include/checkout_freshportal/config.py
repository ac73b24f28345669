"""Settings read from the environment, for the CLI, the sidecar and the demo (DAGs use Connections).

Only ``CFP_*`` variables are read. Secrets come from the environment or a secret backend, never
from files in the repository.
"""

from __future__ import annotations

import os

from checkout_freshportal.errors import PermanentError

#: The environment variable naming the warehouse (SQLAlchemy URL) outside Airflow, and inside it
#: when the Connection below is absent.
WAREHOUSE_ENV = "CFP_WAREHOUSE_URL"
#: The Airflow Connection the DAGs read the warehouse from (``plugins/warehouse_hook.py``).
WAREHOUSE_CONN_ID = "cfp_warehouse"


#: What to do when neither is set; shared by the CLI, the sidecar and the Airflow hook.
WAREHOUSE_MISSING = (
    f"no warehouse configured: add the Airflow Connection {WAREHOUSE_CONN_ID!r} "
    f"or set the environment variable {WAREHOUSE_ENV} to a SQLAlchemy URL "
    "(the demo sets it to its own SQLite file under .demo/)"
)


class WarehouseNotConfiguredError(PermanentError, ValueError):
    """No warehouse named anywhere.

    There is deliberately no fallback: a silent default (a SQLite file in the working directory)
    lets a misconfigured deployment "succeed" while writing where nobody reads. The message names
    both places a deployment can set, so the fix is in the error itself.
    """


def warehouse_url() -> str:
    """``CFP_WAREHOUSE_URL``; raises :class:`WarehouseNotConfiguredError` when it is unset or empty."""
    url = os.environ.get(WAREHOUSE_ENV, "").strip()
    if not url:
        raise WarehouseNotConfiguredError(WAREHOUSE_MISSING)
    return url


def checkout_settings_from_env():  # -> CheckoutSettings (import kept lazy for a fast CLI)
    """Client settings from ``CFP_CHECKOUT_*``; the base URL defaults to a sandbox on 127.0.0.1:8790."""
    from checkout_freshportal.checkout.settings import CheckoutSettings

    base_url = os.environ.get("CFP_CHECKOUT_BASE_URL", "http://127.0.0.1:8790")
    client_id = os.environ.get("CFP_CHECKOUT_CLIENT_ID")
    if client_id:
        return CheckoutSettings(
            base_url=base_url,
            client_id=client_id,
            client_secret=os.environ["CFP_CHECKOUT_CLIENT_SECRET"],
            scopes=tuple(
                os.environ.get("CFP_CHECKOUT_SCOPES", "gateway payments:search disputes reports").split()
            ),
        )
    key = os.environ.get("CFP_CHECKOUT_SECRET_KEY")
    if not key:
        raise SystemExit("set CFP_CHECKOUT_SECRET_KEY (or CFP_CHECKOUT_CLIENT_ID/_SECRET for OAuth)")
    return CheckoutSettings(base_url=base_url, secret_key=key)
