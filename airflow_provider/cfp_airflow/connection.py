"""From an Airflow Connection's fields to a library settings object's keyword arguments.

Shared by both hooks so a base URL, an extra and a number are read the same way for either
API. No Airflow import: the functions take the Connection's plain fields, so they are tested
without a metadata database.

``extra`` comes in three shapes: a JSON string (``AIRFLOW_CONN_*`` URIs), a dict from the JSON
form, or a dict the UI wrote from the declared form fields -- whose keys may carry Airflow's
``extra__<conn type>__`` prefix and whose empty fields arrive as ``""`` or ``null``. All three
become one flat dict; unknown keys are refused so a typo fails at DAG start, not silently.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal


def read_extra(
    extra: Mapping[str, Any] | str | None, *, conn_id: str, conn_type: str, known: Collection[str]
) -> dict[str, Any]:
    """The extra as a flat dict without empty values; ``ValueError`` naming the connection otherwise."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"Connection {conn_id!r}: extra is not valid JSON ({exc.msg})") from None
    if extra is not None and not isinstance(extra, Mapping):
        raise ValueError(f"Connection {conn_id!r}: extra must be a JSON object")
    prefix = f"extra__{conn_type}__"
    flat: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        name = key[len(prefix) :] if key.startswith(prefix) else key
        if value is None or value == "":
            continue
        flat[name] = value
    unknown = sorted(set(flat) - set(known))
    if unknown:
        raise ValueError(f"Connection {conn_id!r}: unknown extra key(s) {unknown}; known: {sorted(known)}")
    return flat


#: How an extra's value is read: the name of a settings kind (``settings_types``), so an extra
#: means what the same text means in every other settings source.
ExtraKind = Literal["count", "positive", "seconds", "timeout"]


def typed_extras(
    extra: Mapping[str, Any],
    passthrough: Collection[str],
    *,
    kinds: Mapping[str, ExtraKind],
    conn_id: str,
) -> dict[str, Any]:
    """The extras that map 1:1 onto settings fields, each number read by its settings kind.

    A form sends text and JSON sends numbers; both go through the same parsers as DAG params
    and the environment (``PositiveInt``, ``NonNegativeInt``, ``Seconds``): ``True``, ``"nan"``,
    ``"inf"``, a negative count or ``"2.5"`` retries are refused instead of becoming 1, NaN or
    2. A refusal is a ``SettingsError`` in the settings' format -- key, value, what is allowed
    -- and no numeric extra is a secret, so showing the value is safe.
    """
    kwargs: dict[str, Any] = {}
    for key in passthrough:
        if key not in extra:
            continue
        value = extra[key]
        kind = kinds.get(key)
        kwargs[key] = value if kind is None else _read_kind(kind, value, key=key, conn_id=conn_id)
    return kwargs


def _read_kind(kind: ExtraKind, value: Any, *, key: str, conn_id: str) -> Any:
    """One extra through its settings kind (imported here: listing hooks needs no library)."""
    from pydantic import TypeAdapter, ValidationError

    from checkout_freshportal.http.errors import SettingsError
    from checkout_freshportal.settings_types import NonNegativeInt, PositiveInt, Seconds

    adapters: dict[str, TypeAdapter[Any]] = {
        "count": TypeAdapter(NonNegativeInt),
        "positive": TypeAdapter(PositiveInt),
        "seconds": TypeAdapter(Seconds),
    }
    try:
        if kind != "timeout":
            return adapters[kind].validate_python(value)
        if not isinstance(value, list | tuple):
            return adapters["seconds"].validate_python(value)  # one number: connect and read
        if len(value) != 2:
            raise SettingsError(
                f"Connection {conn_id!r}: extra.{key} must be seconds or a [connect, read] pair, "
                f"got {len(value)} values"
            )
        return tuple(adapters["seconds"].validate_python(v) for v in value)
    except ValidationError as exc:
        allowed = exc.errors(include_input=False)[0]["msg"]
        shown = repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:77]}..."
        raise SettingsError(f"Connection {conn_id!r}: extra.{key} {allowed}, got {shown}") from None


def base_url(host: str | None, schema: str | None, port: int | None) -> str | None:
    """``host`` as a base URL: a full URL as is, a bare host with ``schema`` (http/https) and ``port``.

    The URI form of a Connection puts other things (a database name) in ``schema``: anything but
    http/https there means https.
    """
    host = (host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = (schema or "https").strip().lower()
    if scheme not in {"http", "https"}:
        scheme = "https"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
