"""Settings of the FreshPortal simulator: tenant, credentials, data, quirks and faults.

One dataclass so the demo, the tests and the benchmarks configure the simulator the same way.
Orders come either from a seeded generator or from a scenario (``orders=[...]``), which is how
a shared scenario hands both simulators the same orders (order number = payment reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

#: A made-up sandbox API key, not a real credential.
DEFAULT_API_KEY = "fp_sandbox_key_not_a_real_one_42"
DEFAULT_TENANT = "fp042100"
DEFAULT_PORT = 8200

#: FreshPortal payment statuses the simulated tenant accepts (same as the default mapping).
PAYMENT_STATUSES: tuple[str, ...] = (
    "awaiting_payment",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "declined",
    "cancelled",
    "expired",
    "disputed",
    "chargeback",
)
ORDER_STATUSES: tuple[str, ...] = (
    "draft",
    "confirmed",
    "picking",
    "delivered",
    "invoiced",
    "cancelled",
    "credited",
)
REFUND_STATES: tuple[str, ...] = ("none", "pending", "partial", "full", "failed")
REFUND_REQUEST_STATUSES: tuple[str, ...] = (
    "requested",
    "approved",
    "processing",
    "refunded",
    "failed",
    "rejected",
    "cancelled",
)
#: Statuses a ``PUT .../outcome`` may set.
OUTCOME_STATUSES: tuple[str, ...] = ("processing", "refunded", "failed")
NOTE_CATEGORIES: tuple[str, ...] = ("payment_exception", "payment_info")
FAULT_KINDS: tuple[str, ...] = ("429", "500", "500_after_commit", "slow")


def _default_api_keys() -> list[str]:
    return [DEFAULT_API_KEY]


@dataclass
class FreshPortalSandboxConfig:
    """Everything that shapes the simulated FreshPortal tenant."""

    # ---- data
    seed: int = 42
    #: Scenario orders (our neutral shape, see docs/freshportal.md); ``None`` = generate.
    orders: list[dict[str, Any]] | None = None
    #: Scenario refund requests; ``None`` = generate some when orders are generated.
    refund_requests: list[dict[str, Any]] | None = None
    #: Scenario fulfilment releases ``[{order_number, amount_minor, complete}]``; none by default.
    fulfilment_releases: list[dict[str, Any]] | None = None
    order_count: int = 40
    refund_request_count: int | None = None
    #: History spread of generated orders, ending at ``now``.
    days: int = 14
    #: End of generated history; default: wall clock at start-up.
    now: datetime | str | None = None

    # ---- tenant and credentials
    tenant: str = DEFAULT_TENANT
    api_keys: list[str] = field(default_factory=_default_api_keys)
    #: Wall-clock lifetime of a token; an expired token answers 401 (the client re-authenticates).
    token_ttl_seconds: float = 3600.0
    export_url_ttl_seconds: float = 600.0
    #: ``major_decimal`` ("12.50") or ``minor_int`` (1250) amounts on the wire.
    amount_format: str = "major_decimal"
    local_timezone: str = "Europe/Amsterdam"
    max_page_size: int = 500
    default_page_size: int = 100

    # ---- faults (changeable at runtime via POST /_sandbox/faults)
    fault_429_share: float = 0.0
    fault_500_share: float = 0.0
    fault_slow_share: float = 0.0
    #: Share of *writes* that are stored and then answered 500 (the duplicate-create trap).
    fault_500_after_commit_share: float = 0.0
    slow_seconds: float = 2.0
    fault_seed: int | None = None

    def __post_init__(self) -> None:
        if self.amount_format not in ("major_decimal", "minor_int"):
            raise ValueError(
                f"amount_format must be 'major_decimal' or 'minor_int', got {self.amount_format!r}"
            )
        if self.order_count < 0 or self.days < 0:
            raise ValueError("order_count and days must not be negative")
        if not self.api_keys:
            raise ValueError("at least one API key is needed")
        if self.token_ttl_seconds <= 0 or self.export_url_ttl_seconds <= 0:
            raise ValueError("token_ttl_seconds and export_url_ttl_seconds must be positive")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("default_page_size must be within 1..max_page_size")
        check_fault_shares(
            self.fault_429_share,
            self.fault_500_share,
            self.fault_slow_share,
            self.fault_500_after_commit_share,
        )

    @property
    def effective_fault_seed(self) -> int:
        return self.seed if self.fault_seed is None else self.fault_seed

    @classmethod
    def from_scenario(
        cls, scenario: str | Path | dict[str, Any], **overrides: Any
    ) -> FreshPortalSandboxConfig:
        """Orders, refund requests and fulfilment releases from a scenario file or dict.

        Accepted shapes: ``{"orders": [...], "refund_requests": [...], "fulfilment_releases":
        [...]}`` (the last two optional), or a shared scenario
        with those keys under ``"freshportal"``; top-level ``seed`` and ``now`` are used too.
        """
        if isinstance(scenario, str | Path):
            path = Path(scenario)
            text = path.read_text(encoding="utf-8")
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        else:
            data = scenario
        if not isinstance(data, dict):
            raise ValueError("a scenario must be an object")
        section = data.get("freshportal", data)
        if not isinstance(section, dict) or not isinstance(section.get("orders"), list):
            raise ValueError("the scenario has no 'orders' list (top level or under 'freshportal')")
        kwargs: dict[str, Any] = {
            "orders": section["orders"],
            "refund_requests": section.get("refund_requests"),
            "fulfilment_releases": section.get("fulfilment_releases"),
        }
        for key in ("seed", "now"):
            if key in data:
                kwargs[key] = data[key]
        known = {f.name for f in fields(cls)}
        for key, value in (section.get("options") or {}).items():
            if key not in known:
                raise ValueError(f"unknown sandbox option in scenario: {key!r}")
            kwargs[key] = value
        kwargs.update(overrides)
        return cls(**kwargs)


def check_fault_shares(s429: float, s500: float, slow: float, after_commit: float) -> None:
    for name, value in (("429", s429), ("500", s500), ("slow", slow), ("500_after_commit", after_commit)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault share {name} must be within 0..1, got {value!r}")
    if s429 + s500 + slow > 1.0:
        raise ValueError("the 429, 500 and slow fault shares add up to more than 1")


#: Options ``POST /_sandbox/faults`` may change while the server runs.
RUNTIME_OPTIONS: frozenset[str] = frozenset(
    {
        "fault_429_share",
        "fault_500_share",
        "fault_slow_share",
        "fault_500_after_commit_share",
        "slow_seconds",
        "token_ttl_seconds",
        "export_url_ttl_seconds",
    }
)
