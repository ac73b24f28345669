"""Settings read from the environment, for the CLI, the sidecar and the demo (DAGs use Connections).

Only ``CFP_*`` variables are read. Secrets come from the environment or a secret backend, never
from files in the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO_ROOT / ".demo"


def warehouse_url() -> str:
    """``CFP_WAREHOUSE_URL`` or the embedded SQLite warehouse under ``.demo/``."""
    url = os.environ.get("CFP_WAREHOUSE_URL")
    if url:
        return url
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEMO_DIR / 'warehouse.sqlite'}"


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
