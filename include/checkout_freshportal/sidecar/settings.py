"""Sidecar settings from ``CFP_*`` environment variables, validated once at start.

A sidecar that starts with a typo in its configuration would answer 401 to every delivery (and
Checkout.com gives up after about 30 hours), so every value is checked here and a missing or
malformed one stops the process with a message naming the variable, never its value. Secrets
(signature keys, the Authorization value, the Airflow password) are excluded from ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_freshportal.warehouse.engine import default_url as default_warehouse_url

MiB = 1 << 20


class SidecarSettingsError(ValueError):
    """A missing or invalid ``CFP_*`` variable. The message names it and never shows a secret."""


@dataclass(frozen=True)
class SidecarSettings:
    warehouse_url: str
    signature_keys: tuple[bytes, ...] = field(repr=False)
    authorization: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = MiB
    commit_timeout: float = 10.0  # a request waiting longer for its batch's COMMIT answers 503
    body_timeout: float = 10.0  # a request body not complete this long after the headers: 408
    max_batch: int = 1000  # rows per group-commit transaction
    writers: int = 2  # group-commit threads on PostgreSQL (SQLite: always 1)
    # trigger loop
    trigger_enabled: bool = True
    airflow_url: str | None = None
    airflow_user: str | None = None
    airflow_password: str | None = field(default=None, repr=False)
    dag_id: str = "checkout_events"
    trigger_delay: float = 1.0  # new event -> trigger, at most (plus the API call)
    poll_interval: float = 0.5  # how often the table is looked at without an in-process wake-up
    backoff_max: float = 60.0  # cap of the exponential backoff while Airflow is unreachable
    retrigger_after: float = 300.0  # re-kick when unprocessed events are this old and no run is active
    airflow_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.signature_keys:
            raise SidecarSettingsError("CFP_SIDECAR_SIGNATURE_KEYS: at least one signature key is required")
        if self.trigger_enabled:
            missing = [
                name
                for name, value in (
                    ("CFP_AIRFLOW_URL", self.airflow_url),
                    ("CFP_AIRFLOW_USER", self.airflow_user),
                    ("CFP_AIRFLOW_PASSWORD", self.airflow_password),
                )
                if not value
            ]
            if missing:
                raise SidecarSettingsError(
                    f"{', '.join(missing)} required for the trigger loop "
                    "(or set CFP_SIDECAR_TRIGGER_ENABLED=false and rely on the scheduled sweep)"
                )
        if self.max_body_bytes < 1:
            raise SidecarSettingsError("CFP_SIDECAR_MAX_BODY_BYTES must be positive")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> SidecarSettings:
        """Build from ``env`` (default ``os.environ``); keyword overrides win (CLI flags, tests)."""
        e = os.environ if env is None else env
        values: dict[str, object] = {
            "warehouse_url": e.get("CFP_WAREHOUSE_URL") or default_warehouse_url(),
            "signature_keys": tuple(k.encode() for k in _csv(e.get("CFP_SIDECAR_SIGNATURE_KEYS"))),
            "authorization": tuple(_csv(e.get("CFP_SIDECAR_AUTHORIZATION"))),
            "trigger_enabled": _bool(e, "CFP_SIDECAR_TRIGGER_ENABLED", True),
            "airflow_url": (e.get("CFP_AIRFLOW_URL") or "").rstrip("/") or None,
            "airflow_user": e.get("CFP_AIRFLOW_USER") or None,
            "airflow_password": e.get("CFP_AIRFLOW_PASSWORD") or None,
            "dag_id": e.get("CFP_SIDECAR_DAG_ID") or "checkout_events",
        }
        for attr, name, kind in _NUMBERS:
            if e.get(name):
                values[attr] = _number(name, e[name], kind)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


_NUMBERS: tuple[tuple[str, str, type], ...] = (
    ("max_body_bytes", "CFP_SIDECAR_MAX_BODY_BYTES", int),
    ("commit_timeout", "CFP_SIDECAR_COMMIT_TIMEOUT", float),
    ("body_timeout", "CFP_SIDECAR_BODY_TIMEOUT", float),
    ("max_batch", "CFP_SIDECAR_MAX_BATCH", int),
    ("writers", "CFP_SIDECAR_WRITERS", int),
    ("trigger_delay", "CFP_SIDECAR_TRIGGER_DELAY", float),
    ("poll_interval", "CFP_SIDECAR_POLL_INTERVAL", float),
    ("backoff_max", "CFP_SIDECAR_BACKOFF_MAX", float),
    ("retrigger_after", "CFP_SIDECAR_RETRIGGER_AFTER", float),
    ("airflow_timeout", "CFP_AIRFLOW_TIMEOUT", float),
)


def _csv(value: str | None) -> list[str]:
    """Comma-separated list, blanks dropped (a trailing comma is not an empty key)."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off"}:
        return False
    raise SidecarSettingsError(f"{name} must be true or false")


def _number(name: str, raw: str, kind: type) -> float | int:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SidecarSettingsError(f"{name} must be a {kind.__name__}, got {raw.strip()!r}") from None
    if value < 0:
        raise SidecarSettingsError(f"{name} must not be negative")
    return value
