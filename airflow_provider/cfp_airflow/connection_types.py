"""The ``checkout`` and ``freshportal`` connection types as Airflow's providers manager reads them.

Declared as data (no Airflow import) so listing them costs the api-server nothing: the UI builds
the Connection form from ``ui-field-behaviour`` (standard fields hidden, relabelled, with
placeholders) and ``conn-fields`` (the extras, each a form field stored in ``Connection.extra``).
The hooks read the same constants, so the form and the code cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

CHECKOUT = "checkout"
FRESHPORTAL = "freshportal"

#: ``get_ui_field_behaviour`` format (snake case); :func:`provider_entry` converts it.
CHECKOUT_FIELD_BEHAVIOUR: dict[str, Any] = {
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

FRESHPORTAL_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["login", "schema", "port"],
    "relabeling": {"host": "Base URL (empty: from extra.tenant)", "password": "API key"},
    "placeholders": {
        "host": "http://127.0.0.1:8200  (leave empty for https://{tenant}-api.freshportal.com)",
        "extra": json.dumps({"tenant": "fp042100", "timeout": [5, 30], "max_retries": 4, "page_size": 100}),
    },
}


def _field(label: str, kind: str | list[str], description: str, **schema: Any) -> dict[str, Any]:
    # ``null`` allowed: an empty form field means "use the default", never an empty string.
    types = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    return {"label": label, "description": description, "schema": {"type": types, **schema}}


CHECKOUT_FIELDS: dict[str, dict[str, Any]] = {
    "environment": _field(
        "Environment",
        "string",
        "sandbox or production; decides the API host when Base URL is empty.",
        enum=["sandbox", "production", None],
    ),
    "account_prefix": _field(
        "Account prefix", "string", "Account subdomain (first 8 characters of the client id, lower case)."
    ),
    "auth": _field(
        "Auth mode",
        "string",
        "secret_key (default without login) or oauth (login = client id, password = client secret).",
        enum=["secret_key", "oauth", None],
    ),
    "scopes": _field("OAuth scopes", "string", "Space-separated, e.g. 'gateway reports:view'."),
    "read_rps": _field("Read budget (req/s)", "integer", "Client-side reads per second (default 80)."),
    "write_rps": _field("Write budget (req/s)", "integer", "Client-side writes per second (default 80)."),
    "max_retries": _field("Max retries", "integer", "Retries per call for 429/5xx/timeouts (default 5)."),
}

FRESHPORTAL_FIELDS: dict[str, dict[str, Any]] = {
    "tenant": _field(
        "Tenant", "string", "Tenant id such as fp042100; gives https://{tenant}-api.freshportal.com."
    ),
    "mapping_path": _field("Mapping file", "string", "Tenant mapping override file (JSON)."),
    "page_size": _field("Page size", "integer", "Items per change-feed page (1..500, default 100)."),
    "max_retries": _field("Max retries", "integer", "Retries per call for 429/5xx/timeouts (default 4)."),
}


def provider_entry(
    connection_type: str,
    hook_class_name: str,
    hook_name: str,
    behaviour: dict[str, Any],
    fields: dict[str, Any],
) -> dict[str, Any]:
    """One ``connection-types`` item of the provider info (kebab-case keys, as Airflow expects)."""
    return {
        "connection-type": connection_type,
        "hook-class-name": hook_class_name,
        "hook-name": hook_name,
        "ui-field-behaviour": {
            "hidden-fields": list(behaviour["hidden_fields"]),
            "relabeling": dict(behaviour["relabeling"]),
            "placeholders": dict(behaviour["placeholders"]),
        },
        "conn-fields": fields,
    }
