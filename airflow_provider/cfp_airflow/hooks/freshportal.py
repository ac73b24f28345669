"""Airflow adapter for FreshPortal: a :class:`FreshPortalClient` from Connection ``freshportal_default``.

Connection fields (conn type ``freshportal``):

=============  =====================================================================
host           API base URL, e.g. ``http://127.0.0.1:8200`` for the local simulator.
               Empty: built from ``extra.tenant`` as ``https://{tenant}-api.freshportal.com``.
               A host without scheme is combined with ``schema`` (default https) and ``port``.
password       The FreshPortal API key (sent once to ``POST /v1/auth``; never logged).
extra (JSON)   ``tenant``: tenant id such as ``fp042100`` (needed when host is empty);
               ``mapping_path``: tenant mapping override file (else ``CFP_FRESHPORTAL_MAPPING``);
               ``timeout``: seconds or [connect, read] (default [5, 30]);
               ``max_response_bytes``: largest answer read (default 32 MiB);
               ``response_deadline``: seconds per attempt, body included (default
               120, must exceed the read timeout);
               ``max_retries``, ``backoff_base``, ``backoff_cap``, ``page_size``,
               ``max_export_bytes``, ``max_feed_pages``, ``user_agent``.
=============  =====================================================================

Example (environment variable, JSON form)::

    AIRFLOW_CONN_FRESHPORTAL_DEFAULT='{"conn_type": "freshportal", "host": "http://127.0.0.1:8200",
      "password": "<api key>", "extra": {"page_size": 200}}'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..connection import ExtraKind, base_url, read_extra, typed_extras
from ..connection_types import FRESHPORTAL, FRESHPORTAL_FIELD_BEHAVIOUR
from .base import ClientHook

if TYPE_CHECKING:
    from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings

_PASSTHROUGH_EXTRAS: tuple[str, ...] = (
    "tenant",
    "mapping_path",
    "timeout",
    "max_response_bytes",
    "response_deadline",
    "max_retries",
    "backoff_base",
    "backoff_cap",
    "page_size",
    "max_export_bytes",
    "max_feed_pages",
    "user_agent",
)
_KNOWN_EXTRAS = frozenset((*_PASSTHROUGH_EXTRAS, "base_url"))
_KINDS: dict[str, ExtraKind] = {
    "timeout": "timeout",
    "max_response_bytes": "positive",
    "response_deadline": "seconds",
    "max_retries": "count",
    "page_size": "positive",
    "max_export_bytes": "positive",
    "max_feed_pages": "positive",
    "backoff_base": "seconds",
    "backoff_cap": "seconds",
}


def settings_kwargs_from_connection(
    host: str | None,
    password: str | None,
    extra: Mapping[str, Any] | str | None,
    *,
    schema: str | None = None,
    port: int | None = None,
    conn_id: str = "freshportal_default",
) -> dict[str, Any]:
    """Keyword arguments for ``FreshPortalSettings`` from a Connection's fields (no Airflow needed).

    Raises ``ValueError`` naming the connection and the offending field, never the API key.
    """
    flat = read_extra(extra, conn_id=conn_id, conn_type=FRESHPORTAL, known=_KNOWN_EXTRAS)
    kwargs = typed_extras(flat, _PASSTHROUGH_EXTRAS, kinds=_KINDS, conn_id=conn_id)
    if "tenant" in kwargs:
        kwargs["tenant"] = str(kwargs["tenant"])
    url = base_url(host, schema, port) or flat.get("base_url")
    if url:
        kwargs["base_url"] = url
    if not url and not kwargs.get("tenant"):
        raise ValueError(f"Connection {conn_id!r}: set host (base URL) or extra.tenant")
    if not password or not password.strip():
        raise ValueError(f"Connection {conn_id!r}: password must hold the FreshPortal API key")
    kwargs["api_key"] = password.strip()
    return kwargs


class FreshPortalHook(ClientHook["FreshPortalSettings", "FreshPortalClient"]):
    """Builds (and caches, per hook instance) a ``FreshPortalClient`` from an Airflow Connection."""

    conn_name_attr = "freshportal_conn_id"
    default_conn_name = "freshportal_default"
    conn_type = FRESHPORTAL
    hook_name = "FreshPortal"
    field_behaviour = FRESHPORTAL_FIELD_BEHAVIOUR

    def __init__(self, freshportal_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.freshportal_conn_id = freshportal_conn_id

    def settings_kwargs(self, conn: Any) -> dict[str, Any]:
        return settings_kwargs_from_connection(
            conn.host,
            conn.password,
            conn.extra_dejson,
            schema=conn.schema,
            port=conn.port,
            conn_id=self.freshportal_conn_id,
        )

    def new_settings(self, kwargs: dict[str, Any]) -> FreshPortalSettings:
        from checkout_freshportal.freshportal import FreshPortalSettings

        return FreshPortalSettings(**kwargs)

    def new_client(self, settings: FreshPortalSettings) -> FreshPortalClient:
        from checkout_freshportal.freshportal import FreshPortalClient

        return FreshPortalClient(settings)

    def test_connection(self) -> tuple[bool, str]:
        """Exchange the API key for a token (``POST /v1/auth``); no data is read."""
        from checkout_freshportal.freshportal import FreshPortalError, MappingError

        try:
            self.get_conn().authenticate()
        except (FreshPortalError, MappingError, ValueError) as exc:
            return False, str(exc)
        return True, "Authenticated"
