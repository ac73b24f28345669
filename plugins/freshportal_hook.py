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
               ``max_retries``, ``backoff_base``, ``backoff_cap``, ``page_size``,
               ``max_export_bytes``, ``user_agent``.
=============  =====================================================================

Example (environment variable, JSON form)::

    AIRFLOW_CONN_FRESHPORTAL_DEFAULT='{"conn_type": "freshportal", "host": "http://127.0.0.1:8200",
      "password": "<api key>", "extra": {"page_size": 200}}'

Nothing here touches the network at import time; the client is built lazily by ``get_conn``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook

_PASSTHROUGH_EXTRAS: tuple[str, ...] = (
    "tenant",
    "mapping_path",
    "timeout",
    "max_retries",
    "backoff_base",
    "backoff_cap",
    "page_size",
    "max_export_bytes",
    "user_agent",
)
_KNOWN_EXTRAS = frozenset((*_PASSTHROUGH_EXTRAS, "base_url"))
_INT_EXTRAS = frozenset({"max_retries", "page_size", "max_export_bytes"})
_FLOAT_EXTRAS = frozenset({"backoff_base", "backoff_cap"})


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
        elif key == "tenant":
            value = str(value)
        kwargs[key] = value
    base_url = _base_url(host, schema, port) or (extra.get("base_url") or None)
    if base_url:
        kwargs["base_url"] = base_url
    if not base_url and not kwargs.get("tenant"):
        raise ValueError(f"Connection {conn_id!r}: set host (base URL) or extra.tenant")
    if not password or not password.strip():
        raise ValueError(f"Connection {conn_id!r}: password must hold the FreshPortal API key")
    kwargs["api_key"] = password.strip()
    return kwargs


def _base_url(host: str | None, schema: str | None, port: int | None) -> str | None:
    host = (host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = (schema or "https").strip().lower()
    if scheme not in {"http", "https"}:  # the URI form puts other things in schema
        scheme = "https"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


class FreshPortalHook(BaseHook):
    """Builds (and caches, per hook instance) a ``FreshPortalClient`` from an Airflow Connection."""

    conn_name_attr = "freshportal_conn_id"
    default_conn_name = "freshportal_default"
    conn_type = "freshportal"
    hook_name = "FreshPortal"

    def __init__(self, freshportal_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.freshportal_conn_id = freshportal_conn_id
        self._client: Any = None

    def get_settings(self):  # -> FreshPortalSettings
        from checkout_freshportal.freshportal import FreshPortalSettings

        conn = self.get_connection(self.freshportal_conn_id)
        kwargs = settings_kwargs_from_connection(
            conn.host,
            conn.password,
            conn.extra_dejson,
            schema=conn.schema,
            port=conn.port,
            conn_id=self.freshportal_conn_id,
        )
        return FreshPortalSettings(**kwargs)

    def get_conn(self):  # -> FreshPortalClient
        if self._client is None:
            from checkout_freshportal.freshportal import FreshPortalClient

            self._client = FreshPortalClient(self.get_settings())
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """Exchange the API key for a token (``POST /v1/auth``); no data is read."""
        from checkout_freshportal.freshportal import FreshPortalError, MappingError

        try:
            self.get_conn().authenticate()
        except (FreshPortalError, MappingError, ValueError) as exc:
            return False, str(exc)
        return True, "Authenticated"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login", "schema", "port"],
            "relabeling": {"host": "Base URL (empty: from extra.tenant)", "password": "API key"},
            "placeholders": {
                "host": "http://127.0.0.1:8200  (leave empty for https://{tenant}-api.freshportal.com)",
                "extra": json.dumps(
                    {"tenant": "fp042100", "timeout": [5, 30], "max_retries": 4, "page_size": 100}
                ),
            },
        }
