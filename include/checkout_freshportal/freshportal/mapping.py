"""Field names, status tables and formats of a FreshPortal tenant, as data.

FreshPortal publishes no API reference, so everything the port assumes about names and codes
lives in one data file (``default_mapping.json`` next to this module) instead of in code. A
tenant whose API differs is adapted by a small override file named by the environment variable
``CFP_FRESHPORTAL_MAPPING`` (JSON, or YAML when PyYAML is installed): it is deep-merged over the
default -- objects key by key, lists and strings replaced -- and the result is validated as a
whole, so a typo fails at start-up and not in the middle of a sync.

What the file holds:

* ``fields``: per entity, *our* model field -> FreshPortal field (dotted paths allowed);
* ``payment_status_map``: Checkout.com payment status (plus the dispute states the status state
  machine derives) -> FreshPortal payment status; must cover :data:`CHECKOUT_PAYMENT_STATUSES`;
* ``dispute_status_map``: Checkout.com dispute ``status`` -> FreshPortal payment status;
* ``order_statuses`` / ``confirmed_order_statuses``: which orders get a payment request;
* ``refund_request_statuses`` (FreshPortal -> ours) and ``refund_outcome_statuses`` (ours ->
  FreshPortal);
* ``amount_format`` (``major_decimal`` strings such as ``"12.50"``, or ``minor_int``) and
  ``local_timezone`` of ``DD-MM-YYYY HH:MM`` timestamps.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..money import MoneyError, bigint, to_major, to_minor_exact
from .errors import DataError

# What a mapping must hold (the vocabularies, our field names, the whole-mapping check) lives in
# mapping_schema.py; the names stay importable from here, where callers have always found them.
from .mapping_schema import (
    AMOUNT_FORMATS,
    CHECKOUT_DISPUTE_STATES,
    CHECKOUT_DISPUTE_STATUSES,
    CHECKOUT_PAYMENT_STATUSES,
    ENTITY_FIELDS,
    REFUND_OUTCOMES,
    REFUND_REQUEST_STATES,
    MappingError,
    UnknownStatusError,
    normalize_status,
    validate_mapping,
)

__all__ = [
    "AMOUNT_FORMATS",
    "CHECKOUT_DISPUTE_STATES",
    "CHECKOUT_DISPUTE_STATUSES",
    "CHECKOUT_PAYMENT_STATUSES",
    "DEFAULT_MAPPING_RESOURCE",
    "ENTITY_FIELDS",
    "MAPPING_ENV_VAR",
    "REFUND_OUTCOMES",
    "REFUND_REQUEST_STATES",
    "FreshPortalMapping",
    "MappingError",
    "UnknownStatusError",
    "deep_merge",
    "default_mapping_data",
    "load_mapping",
    "normalize_status",
    "read_mapping_file",
]

MAPPING_ENV_VAR = "CFP_FRESHPORTAL_MAPPING"
DEFAULT_MAPPING_RESOURCE = "default_mapping.json"


@dataclass(frozen=True)
class FreshPortalMapping:
    """A validated mapping. Build it with :func:`load_mapping` (or :meth:`from_dict`)."""

    data: Mapping[str, Any] = field(repr=False)
    sources: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], sources: tuple[str, ...] = ("<dict>",)) -> FreshPortalMapping:
        clean = {k: v for k, v in data.items() if not str(k).startswith(("$", "_"))}
        mapping = cls(copy.deepcopy(clean), sources)
        validate_mapping(mapping.data, mapping._where())
        return mapping

    # ------------------------------------------------------------------ simple settings
    @property
    def amount_format(self) -> str:
        return str(self.data["amount_format"])

    @property
    def local_timezone(self) -> ZoneInfo:
        return ZoneInfo(str(self.data["local_timezone"]))

    @property
    def confirmed_order_statuses(self) -> frozenset[str]:
        return frozenset(self.data["confirmed_order_statuses"])

    @property
    def order_statuses(self) -> frozenset[str]:
        return frozenset(self.data["order_statuses"])

    @property
    def freshportal_payment_statuses(self) -> frozenset[str]:
        return frozenset(self.data["freshportal_payment_statuses"])

    @property
    def refund_states(self) -> frozenset[str]:
        return frozenset(self.data["refund_states"])

    @property
    def note_categories(self) -> frozenset[str]:
        return frozenset(self.data["note_categories"])

    @property
    def default_note_category(self) -> str:
        return str(self.data["default_note_category"])

    def _where(self) -> str:
        return " + ".join(self.sources)

    # ------------------------------------------------------------------ fields
    def path(self, entity: str, name: str) -> str:
        """FreshPortal field (dotted path) holding our ``entity.name``."""
        try:
            return str(self.data["fields"][entity][name])
        except KeyError:
            raise MappingError(f"fields.{entity}.{name} is not mapped ({self._where()})") from None

    def get(self, entity: str, raw: Mapping[str, Any], name: str) -> Any:
        """Value of our ``entity.name`` in a FreshPortal object; ``None`` when absent."""
        value: Any = raw
        for part in self.path(entity, name).split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value

    def put(self, entity: str, body: MutableMapping[str, Any], name: str, value: Any) -> None:
        """Set our ``entity.name`` in a request body under its FreshPortal name."""
        parts = self.path(entity, name).split(".")
        target = body
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value

    # ------------------------------------------------------------------ statuses
    def payment_status_for(self, checkout_status: str) -> str:
        """Checkout.com payment status (or derived dispute state) -> FreshPortal payment status."""
        table = {normalize_status(k): v for k, v in self.data["payment_status_map"].items()}
        key = normalize_status(checkout_status or "")
        if key not in table:
            raise UnknownStatusError(
                f"Checkout.com payment status {checkout_status!r} has no FreshPortal mapping; add it to "
                f"payment_status_map ({self._where()}); mapped: {sorted(self.data['payment_status_map'])}"
            )
        return str(table[key])

    def payment_status_for_dispute(self, dispute_status: str) -> str:
        """Checkout.com dispute ``status`` -> FreshPortal payment status."""
        table = {normalize_status(k): v for k, v in self.data["dispute_status_map"].items()}
        key = normalize_status(dispute_status or "")
        if key not in table:
            raise UnknownStatusError(
                f"Checkout.com dispute status {dispute_status!r} has no FreshPortal mapping; add it to "
                f"dispute_status_map ({self._where()})"
            )
        return str(table[key])

    def check_payment_status(self, freshportal_status: str) -> str:
        """Refuse a FreshPortal payment status the tenant does not know (before any write)."""
        if freshportal_status not in self.freshportal_payment_statuses:
            raise UnknownStatusError(
                f"{freshportal_status!r} is not a FreshPortal payment status of this tenant; known: "
                f"{sorted(self.freshportal_payment_statuses)} ({self._where()})"
            )
        return freshportal_status

    def is_confirmed(self, order_status: str, *, record: str | None = None) -> bool:
        """True when an order in ``order_status`` should get a payment request."""
        if order_status in self.confirmed_order_statuses:
            return True
        if order_status not in self.order_statuses and self.data["unknown_order_status"] == "error":
            where = f" on {record}" if record else ""
            raise UnknownStatusError(
                f"unknown FreshPortal order status {order_status!r}{where}; add it to order_statuses "
                f"(and to confirmed_order_statuses if such orders must be paid) ({self._where()})"
            )
        return False

    def refund_request_state(self, freshportal_status: str, *, record: str | None = None) -> str:
        """FreshPortal refund-request status -> our state (``requested``, ``succeeded``, ...)."""
        table = self.data["refund_request_statuses"]
        if freshportal_status not in table:
            where = f" on {record}" if record else ""
            raise UnknownStatusError(
                f"unknown FreshPortal refund request status {freshportal_status!r}{where}; add it to "
                f"refund_request_statuses ({self._where()})"
            )
        return str(table[freshportal_status])

    def refund_outcome_status(self, outcome: str) -> str:
        """Our outcome (``processing`` / ``succeeded`` / ``failed``) -> FreshPortal status."""
        table = self.data["refund_outcome_statuses"]
        if outcome not in table:
            raise UnknownStatusError(
                f"refund outcome {outcome!r} has no FreshPortal status; known: {sorted(table)} "
                f"({self._where()})"
            )
        return str(table[outcome])

    # ------------------------------------------------------------------ amounts
    def amount_to_minor(
        self, value: object, currency: str, *, field: str, record: str | None = None
    ) -> int | None:
        """An amount as the API writes it -> integer minor units (exact, never via float)."""
        if value is None or value == "":
            return None
        where = f" of {record}" if record else ""
        if isinstance(value, bool | float):
            raise DataError(
                f"field {field!r}{where}: refusing a float/bool amount", field=field, record=record
            )
        try:
            if self.amount_format == "minor_int":
                dec = Decimal(str(value).strip()) if isinstance(value, str | int | Decimal) else None
                if dec is None or not dec.is_finite() or dec != dec.to_integral_value():
                    raise MoneyError("minor units must be an integer")
                return bigint(dec)
            if not isinstance(value, str | int | Decimal):
                raise MoneyError(f"unsupported amount type {type(value).__name__}")
            return to_minor_exact(value, currency)
        except (MoneyError, ArithmeticError, ValueError) as exc:
            raise DataError(
                f"field {field!r}{where}: amount {value!r} {currency} is not exact "
                f"in {self.amount_format} ({exc})",
                field=field,
                record=record,
            ) from None

    def amount_from_minor(self, minor: int | None, currency: str) -> str | int | None:
        """Integer minor units -> the API's amount form (``"12.50"`` or ``1250``)."""
        if minor is None:
            return None
        if self.amount_format == "minor_int":
            return int(minor)
        return str(to_major(minor, currency))


# ====================================================================== loading
def default_mapping_data() -> dict[str, Any]:
    """The packaged default mapping as a plain dict (a fresh copy)."""
    text = resources.files(__package__).joinpath(DEFAULT_MAPPING_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def read_mapping_file(path: str | Path) -> dict[str, Any]:
    """A tenant override file: ``.json``, or ``.yaml``/``.yml`` (needs PyYAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read FreshPortal mapping file {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml  # optional dependency, only for YAML tenant files

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # JSON and YAML raise different classes; the message is what matters
        raise MappingError(f"FreshPortal mapping file {p} does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"FreshPortal mapping file {p} must hold an object at the top level")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge key by key (recursively); any other value in ``override`` replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_mapping(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> FreshPortalMapping:
    """Default mapping, merged with ``path`` or else the file named by ``CFP_FRESHPORTAL_MAPPING``."""
    env = os.environ if environ is None else environ
    override_path = path if path is not None else (env.get(MAPPING_ENV_VAR) or None)
    data = default_mapping_data()
    sources: list[str] = [f"{__package__}/{DEFAULT_MAPPING_RESOURCE}"]
    if override_path:
        data = deep_merge(data, read_mapping_file(override_path))
        sources.append(str(override_path))
    return FreshPortalMapping.from_dict(data, tuple(sources))
