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
               ``max_response_bytes``: largest answer read (default 32 MiB);
               ``response_deadline``: seconds per attempt, body included (default
               120, must exceed the read timeout);
               ``read_rps`` / ``write_rps``: client-side budgets (default 80 each);
               ``max_retries``, ``backoff_base``, ``backoff_cap``, ``conflict_wait``,
               ``user_agent``.
=============  =====================================================================

Example (environment variable, JSON form)::

    AIRFLOW_CONN_CHECKOUT_DEFAULT='{"conn_type": "checkout", "host": "http://127.0.0.1:8100",
      "password": "sk_sbox_...", "extra": {"read_rps": 20}}'

The retry policy lives in the client, not in Airflow's http provider (which would turn a 429
into a bare exception and sets no timeout, see docs/checkout-client.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..connection import ExtraKind, base_url, read_extra, typed_extras
from ..connection_types import CHECKOUT, CHECKOUT_FIELD_BEHAVIOUR
from .base import ClientHook

if TYPE_CHECKING:
    from checkout_freshportal.checkout import CheckoutClient, CheckoutSettings

# Extra keys that map 1:1 onto CheckoutSettings fields.
_PASSTHROUGH_EXTRAS: tuple[str, ...] = (
    "environment",
    "account_prefix",
    "scopes",
    "token_url",
    "timeout",
    "max_response_bytes",
    "response_deadline",
    "read_rps",
    "write_rps",
    "max_retries",
    "backoff_base",
    "backoff_cap",
    "conflict_wait",
    "user_agent",
)
_KNOWN_EXTRAS = frozenset((*_PASSTHROUGH_EXTRAS, "auth", "base_url"))
_KINDS: dict[str, ExtraKind] = {
    "timeout": "timeout",
    "max_response_bytes": "positive",
    "response_deadline": "seconds",
    "read_rps": "count",  # 0 = no client-side budget
    "write_rps": "count",
    "max_retries": "count",
    "backoff_base": "seconds",
    "backoff_cap": "seconds",
    "conflict_wait": "seconds",
}


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
    flat = read_extra(extra, conn_id=conn_id, conn_type=CHECKOUT, known=_KNOWN_EXTRAS)
    kwargs = typed_extras(flat, _PASSTHROUGH_EXTRAS, kinds=_KINDS, conn_id=conn_id)
    if isinstance(kwargs.get("scopes"), list):
        kwargs["scopes"] = tuple(str(s) for s in kwargs["scopes"])
    url = base_url(host, schema, port) or flat.get("base_url")
    if url:
        kwargs["base_url"] = url

    auth = str(flat.get("auth") or ("oauth" if login else "secret_key")).lower()
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


class CheckoutHook(ClientHook["CheckoutSettings", "CheckoutClient"]):
    """Builds (and caches, per hook instance) a ``CheckoutClient`` from an Airflow Connection."""

    conn_name_attr = "checkout_conn_id"
    default_conn_name = "checkout_default"
    conn_type = CHECKOUT
    hook_name = "Checkout.com"
    field_behaviour = CHECKOUT_FIELD_BEHAVIOUR

    def __init__(self, checkout_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkout_conn_id = checkout_conn_id

    def settings_kwargs(self, conn: Any) -> dict[str, Any]:
        return settings_kwargs_from_connection(
            conn.host,
            conn.login,
            conn.password,
            conn.extra_dejson,
            schema=conn.schema,
            port=conn.port,
            conn_id=self.checkout_conn_id,
        )

    def new_settings(self, kwargs: dict[str, Any]) -> CheckoutSettings:
        from checkout_freshportal.checkout import CheckoutSettings

        return CheckoutSettings(**kwargs)

    def new_client(self, settings: CheckoutSettings) -> CheckoutClient:
        from checkout_freshportal.checkout import CheckoutClient

        return CheckoutClient(settings)

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
