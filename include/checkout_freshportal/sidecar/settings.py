"""Sidecar settings from ``CFP_*`` environment variables, validated once at start.

A sidecar that starts with a typo in its configuration would answer 401 to every delivery (and
Checkout.com gives up after about 30 hours), so every value is checked here and a missing or
malformed one stops the process with a message naming the variable, never a secret's value.
Secrets (signature keys, the Authorization value, the Airflow password) are excluded from
``repr``. Parsing is the shared one of :mod:`checkout_freshportal.settings_base`; a file named by
``CFP_SIDECAR_SETTINGS_FILE`` may hold the non-secret values (the environment wins over it).

``CFP_WAREHOUSE_URL`` is read like every other variable, from the mapping given to
:meth:`~SidecarSettings.from_env` (the process environment only when none is given): a caller
passing its own environment must get a sidecar on that environment's warehouse, never on
whatever the calling process happened to have set.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from checkout_freshportal.config import WAREHOUSE_MISSING
from checkout_freshportal.settings_base import (
    Flag,
    PositiveInt,
    Seconds,
    SecretKeys,
    SettingsError,
    TextList,
    TypedSettings,
    setting_label,
)

MiB = 1 << 20

#: Kept for callers that catch it by this name; every settings group raises the same error.
SidecarSettingsError = SettingsError


class SidecarSettings(TypedSettings):
    settings_group: ClassVar[str] = "sidecar"
    env_prefix: ClassVar[str] = "CFP_SIDECAR_"
    env_names: ClassVar[dict[str, str]] = {
        "warehouse_url": "CFP_WAREHOUSE_URL",
        "airflow_url": "CFP_AIRFLOW_URL",
        "airflow_user": "CFP_AIRFLOW_USER",
        "airflow_password": "CFP_AIRFLOW_PASSWORD",
        "airflow_timeout": "CFP_AIRFLOW_TIMEOUT",
    }

    warehouse_url: str = Field(default="", validate_default=True)  # required, see _warehouse_named
    signature_keys: SecretKeys = Field(repr=False)
    authorization: TextList = Field(default=(), repr=False)
    max_body_bytes: PositiveInt = MiB
    commit_timeout: Seconds = 10.0  # a request waiting longer for its batch's COMMIT answers 503
    body_timeout: Seconds = 10.0  # a request body not complete this long after the headers: 408
    # /healthz says down while a batch has waited this long for its COMMIT: above SQLite's 30 s
    # busy timeout and the ~30 s in which a dead PostgreSQL connection is noticed, so a lock held
    # by a long load or a migration does not get a healthy process restarted
    stuck_after: Seconds = 60.0
    max_batch: PositiveInt = 1000  # rows per group-commit transaction
    writers: PositiveInt = 2  # group-commit threads on PostgreSQL (SQLite: always 1)
    # trigger loop
    trigger_enabled: Flag = True
    airflow_url: str | None = None
    airflow_user: str | None = None
    airflow_password: str | None = Field(default=None, repr=False)
    dag_id: str = "checkout_events"
    trigger_delay: Seconds = 1.0  # new event -> trigger, at most (plus the API call)
    poll_interval: Seconds = 0.5  # how often the table is looked at without an in-process wake-up
    backoff_max: Seconds = 60.0  # cap of the exponential backoff while Airflow is unreachable
    retrigger_after: Seconds = 300.0  # re-kick when unprocessed events are this old and no run is active
    airflow_timeout: Seconds = 10.0

    @field_validator("warehouse_url")
    @classmethod
    def _warehouse_named(cls, url: str) -> str:
        """No fallback (see config.py): a sidecar writing to a default file would answer 200 for nothing."""
        if not url.strip():
            raise PydanticCustomError("settings", "is required: {hint}", {"hint": WAREHOUSE_MISSING})
        return url.strip()

    @field_validator("signature_keys")
    @classmethod
    def _at_least_one_key(cls, keys: tuple[bytes, ...]) -> tuple[bytes, ...]:
        if not keys:
            raise PydanticCustomError("settings", "must name at least one signature key (comma-separated)")
        return keys

    @field_validator("airflow_url")
    @classmethod
    def _no_trailing_slash(cls, url: str | None) -> str | None:
        return (url or "").strip().rstrip("/") or None

    @model_validator(mode="after")
    def _trigger_loop_has_airflow(self, info: ValidationInfo) -> SidecarSettings:
        """The trigger loop cannot run without the Airflow API: say so at start, not at the first event."""
        if self.trigger_enabled:
            missing = [
                setting_label(info, name)
                for name in ("airflow_url", "airflow_user", "airflow_password")
                if not getattr(self, name)
            ]
            if missing:
                raise PydanticCustomError(
                    "settings",
                    "{missing} required for the trigger loop "
                    "(or set {flag}=false and rely on the scheduled sweep)",
                    {"missing": ", ".join(missing), "flag": setting_label(info, "trigger_enabled")},
                )
        return self
