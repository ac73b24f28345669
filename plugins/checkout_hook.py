"""Airflow adapter for Checkout.com: a :class:`CheckoutClient` from Connection ``checkout_default``.

Connection fields (conn type ``checkout``):

=============  =====================================================================
host           API base URL, e.g. ``http://127.0.0.1:8100`` for the local simulator.
               Empty: taken from ``extra.environment`` (``sandbox`` | ``production``)
               and ``extra.account_prefix`` (``https://{prefix}.api.checkout.com/``).
               A host without scheme is combined with ``schema`` (default https) and
               ``port``.
login          Empty for secret-key auth; the OAuth client id (``ack_...``) for OAuth.
password       The secret key ``sk_[sbox_]...``, or the OAuth client secret.
extra (JSON)   ``environment``: "sandbox" (default) | "production";
               ``account_prefix``: account subdomain (recommended by Checkout.com);
               ``auth``: "secret_key" (default when login is empty) | "oauth";
               ``scopes``: list or space-separated string, e.g. ["gateway", "reports"];
               ``token_url``: OAuth token endpoint override;
               ``timeout``: seconds or [connect, read] (default [5, 60]);
               ``read_rps`` / ``write_rps``: client-side budgets (default 80 each);
               ``max_retries``, ``backoff_base``, ``backoff_cap``, ``conflict_wait``,
               ``user_agent``.
=============  =====================================================================

Example (environment variable, JSON form)::

    AIRFLOW_CONN_CHECKOUT_DEFAULT='{"conn_type": "checkout", "host": "http://127.0.0.1:8100",
      "password": "sk_sbox_...", "extra": {"read_rps": 20}}'

Nothing here touches the network at import time; the client is built lazily by ``get_conn``.
The retry policy lives in the client, not in Airflow's http provider (which would turn a 429
into a bare exception and sets no timeout, see docs/checkout-client.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook

# Extra keys that map 1:1 onto CheckoutSettings fields.
_PASSTHROUGH_EXTRAS: tuple[str, ...] = (
    "environment",
    "account_prefix",
    "scopes",
    "token_url",
    "timeout",
    "read_rps",
    "write_rps",
    "max_retries",
    "backoff_base",
    "backoff_cap",
    "conflict_wait",
    "user_agent",
)
_KNOWN_EXTRAS = frozenset((*_PASSTHROUGH_EXTRAS, "auth", "base_url"))
_INT_EXTRAS = frozenset({"read_rps", "write_rps", "max_retries"})
_FLOAT_EXTRAS = frozenset({"backoff_base", "backoff_cap", "conflict_wait"})


def settings_kwargs_from_connection(
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | str | None,
    *,
    schema: str | None = None,
    port: int | None = None,
    conn_id: str = "checkout_default",
) -> dict[str, Any]:
    """Keyword arguments for ``CheckoutSettings`` from the Connection's fields (no Airflow needed).

    Raises ``ValueError`` naming the connection and the offending field -- never its value
    when the field is a credential.
    """
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except ValueError as exc:
            raise ValueError(f"Connection {conn_id!r}: extra is not valid JSON ({exc.msg})") from None
    extra = dict(extra or {})
    unknown = sorted(set(extra) - _KNOWN_EXTRAS)
    if unknown:
        raise ValueError(
            f"Connection {conn_id!r}: unknown extra key(s) {unknown}; known: {sorted(_KNOWN_EXTRAS)}"
        )

    kwargs: dict[str, Any] = {}
    for key in _PASSTHROUGH_EXTRAS:
        value = extra.get(key)
        if value is None or value == "":
            continue
        if key in _INT_EXTRAS:
            value = int(value)
        elif key in _FLOAT_EXTRAS:
            value = float(value)
        elif key == "scopes" and isinstance(value, list):
            value = tuple(str(s) for s in value)
        kwargs[key] = value

    base_url = _base_url(host, schema, port) or (extra.get("base_url") or None)
    if base_url:
        kwargs["base_url"] = base_url

    auth = str(extra.get("auth") or ("oauth" if login else "secret_key")).lower()
    if auth == "oauth":
        if not login or not password:
            raise ValueError(
                f"Connection {conn_id!r}: OAuth needs login (client id) and password (client secret)"
            )
        kwargs["client_id"] = login
        kwargs["client_secret"] = password
    elif auth in {"secret_key", "key"}:
        if not password:
            raise ValueError(f"Connection {conn_id!r}: password must hold the secret key (sk_...)")
        kwargs["secret_key"] = password.strip()
    else:
        raise ValueError(f"Connection {conn_id!r}: extra.auth must be 'secret_key' or 'oauth', got {auth!r}")
    return kwargs


def _base_url(host: str | None, schema: str | None, port: int | None) -> str | None:
    host = (host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = (schema or "https").strip().lower()
    if scheme not in {"http", "https"}:  # the URI form puts the database name in schema
        scheme = "https"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


class CheckoutHook(BaseHook):
    """Builds (and caches, per hook instance) a ``CheckoutClient`` from an Airflow Connection."""

    conn_name_attr = "checkout_conn_id"
    default_conn_name = "checkout_default"
    conn_type = "checkout"
    hook_name = "Checkout.com"

    def __init__(self, checkout_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkout_conn_id = checkout_conn_id
        self._client: Any = None

    def get_settings(self):  # -> CheckoutSettings
        from checkout_freshportal.checkout import CheckoutSettings

        conn = self.get_connection(self.checkout_conn_id)
        kwargs = settings_kwargs_from_connection(
            conn.host,
            conn.login,
            conn.password,
            conn.extra_dejson,
            schema=conn.schema,
            port=conn.port,
            conn_id=self.checkout_conn_id,
        )
        return CheckoutSettings(**kwargs)

    def get_conn(self):  # -> CheckoutClient
        if self._client is None:
            from checkout_freshportal.checkout import CheckoutClient

            self._client = CheckoutClient(self.get_settings())
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate with one cheap read: a 404 for an unknown payment proves the key works."""
        from checkout_freshportal.checkout import CheckoutError, NotFoundError

        try:
            self.get_conn().get_payment("pay_" + "0" * 26)
        except NotFoundError:
            return True, "Authenticated (unknown test payment answered 404 as expected)"
        except (CheckoutError, ValueError) as exc:
            return False, str(exc)
        return True, "Authenticated"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "host": "Base URL (empty: by environment)",
                "login": "OAuth client id (empty: secret-key auth)",
                "password": "Secret key, or OAuth client secret",
            },
            "placeholders": {
                "host": "http://127.0.0.1:8100  (leave empty for api.[sandbox.]checkout.com)",
                "login": "ack_...  (only for OAuth)",
                "password": "sk_sbox_...",
                "extra": json.dumps(
                    {
                        "environment": "sandbox",
                        "account_prefix": "vkuhvk4v",
                        "auth": "secret_key",
                        "scopes": ["gateway", "payments:search", "disputes:view", "reports:view"],
                        "timeout": [5, 60],
                        "read_rps": 80,
                        "write_rps": 80,
                        "max_retries": 5,
                    }
                ),
            },
        }
