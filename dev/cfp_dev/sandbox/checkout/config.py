"""Settings of the Checkout.com sandbox: credentials, limits, faults and scenario size.

One dataclass so the demo, the tests and the benchmarks configure the simulator the same way.
Every behaviour the reference marks as unknown ([U]) is an option here, so the client can be
tested against each alternative (see docs/architecture.md, "Decisions").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Secret-key and public-key formats the SDKs validate (docs/checkout-com.md#secret-keys).
SECRET_KEY_RE = re.compile(r"^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$")
PUBLIC_KEY_RE = re.compile(r"^pk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$")

#: ``sk_sbox_`` + 26 chars of [a-z2-7] + 1 char; a made-up sandbox key, not a real credential.
DEFAULT_SECRET_KEY = "sk_sbox_fre5hp2rta7sandb2xkeyf2rdem"
DEFAULT_PUBLIC_KEY = "pk_sbox_fre5hp2rta7sandb2xkeyf2rdem"
DEFAULT_OAUTH_CLIENT_ID = "ack_fre5hp2rta7sandb2xc7ient2q"
DEFAULT_OAUTH_CLIENT_SECRET = "sandbox-client-secret-not-a-real-one"

#: OAuth scopes the sandbox knows (docs/checkout-com.md#oauth).
ALL_SCOPES: tuple[str, ...] = (
    "gateway",
    "gateway:payment",
    "gateway:payment-details",
    "gateway:payment-captures",
    "gateway:payment-refunds",
    "gateway:payment-voids",
    "gateway:payment-authorizations",
    "gateway:payment-cancellations",
    "payments:search",
    "disputes",
    "disputes:view",
    "disputes:accept",
    "disputes:provide-evidence",
    "disputes:scheme-files",
    "flow",
    "flow:workflows",
    "flow:events",
    "financial-actions",
    "financial-actions:view",
    "reports",
    "reports:view",
    "balances",
    "balances:view",
    "files",
    "transfers",
)

#: Value of the ``Cko-Version`` response header (an API build number, docs/checkout-com.md#http-conventions).
CKO_VERSION = "3.31.4"


def _default_secret_keys() -> list[str]:
    return [DEFAULT_SECRET_KEY]


def _default_public_keys() -> list[str]:
    return [DEFAULT_PUBLIC_KEY]


def _default_oauth_clients() -> dict[str, dict[str, Any]]:
    return oauth_client(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)


def oauth_client(client_id: str, secret: str) -> dict[str, dict[str, Any]]:
    """``oauth_clients`` value for one client with every scope (what the CLI options build)."""
    return {client_id: {"secret": secret, "scopes": list(ALL_SCOPES)}}


@dataclass
class SandboxConfig:
    """Everything that shapes the simulated Checkout.com account.

    Times in ``*_seconds`` options are *simulated* seconds unless noted; the simulated clock runs
    ``clock_speed`` times faster than the wall clock and jumps forward on ``/_sandbox/advance``.
    """

    # ---- scenario
    seed: int = 42
    scenario_path: str | None = None
    days: int = 14
    payments_per_day: int = 40
    #: End of the generated history (and start of the simulated clock); default: wall clock now.
    now: datetime | str | None = None

    # ---- credentials
    secret_keys: list[str] = field(default_factory=_default_secret_keys)
    #: Public keys a client may be configured with; the sandbox serves no public-key endpoint
    #: (card tokenization is not simulated), so like the real API it answers 401 to them.
    public_keys: list[str] = field(default_factory=_default_public_keys)
    oauth_clients: dict[str, dict[str, Any]] = field(default_factory=_default_oauth_clients)
    #: Lifetime of OAuth access tokens, in wall-clock seconds (clients cache by ``expires_in``).
    token_ttl_seconds: float = 3600

    # ---- limits and faults (changeable at runtime via POST /_sandbox/faults)
    read_rps: int = 100
    write_rps: int = 100
    fault_429_share: float = 0.0
    fault_500_share: float = 0.0
    fault_slow_share: float = 0.0
    #: "Processed then failed" (docs/sandbox.md, "Money movements"): the request IS executed (and
    #: an idempotency key remembers its 2xx), but the client gets a 500 ...
    fault_after_500_share: float = 0.0
    #: ... or waits ``slow_seconds`` and gets a 504 (a client with a shorter read timeout times out).
    fault_after_timeout_share: float = 0.0
    #: Draw faults for POST/PUT/PATCH/DELETE only (reads always answer normally).
    fault_writes_only: bool = False
    #: Wall-clock delay of a "slow" response.
    slow_seconds: float = 2.0
    list_lag_seconds: float = 0.0
    search_next_links: bool = True
    search_actions: str = "full"
    fee_sign: int = 1
    idempotency_ttl_seconds: float = 86400
    fault_seed: int | None = None

    # ---- time
    clock_speed: float = 1.0
    action_delay_seconds: float = 2.0
    authorization_expiry_days: int = 7
    #: Answer to a capture of an expired authorization ([U], docs/sandbox.md): 403 with no body
    #: ("Capture not allowed", the default) or 422 ``payment_expired``.
    expired_capture_status: int = 403
    pending_expiry_seconds: float = 3600
    #: Delay between a trigger payment (card 4242..., expiry 01/2099, amount 1040) and its dispute.
    dispute_delay_seconds: float = 60.0

    # ---- shapes of what is sent
    #: ``z``: every timestamp ends in ``Z``; ``offset_ms``: ``+00:00`` with milliseconds;
    #: ``mixed``: about a fifth of the stamped instants use ``+00:00`` (deterministic per seed),
    #: so every test, the demo and the benchmarks see both styles, as real deliveries do.
    timestamp_style: str = "mixed"
    #: Answer the API in the shapes Checkout.com's own samples and SDK fixtures show instead of
    #: the tidy ones (docs/sandbox.md, "Real API shapes"): lower-case search statuses, partial
    #: balances, search actions with ``status`` and pseudo-actions, ``GET /payments/{id}``
    #: without balances, slim dispute list items, offset-less report times, a ``next`` link
    #: equal to ``self``, numeric response codes, a minimal payment-link 201.
    real_shapes: bool = False

    # ---- report files (docs/checkout-com.md#reports)
    #: IANA time zone of the (one) simulated entity's settlement: settlement days run from local
    #: midnight to midnight and report timestamps are written in it, without an offset.
    report_time_zone: str = "UTC"
    #: Append the optional ``Fee Detail`` column to financial-actions files (Checkout.com adds it
    #: on request).
    report_fee_detail: bool = True
    #: A report file without lines: ``header`` (the header line only) or ``empty`` (0 bytes).
    empty_report_files: str = "header"
    #: Lines that belong to no card payment (authentication, optimisation, account updater,
    #: network tokens, entity-level movements), as real reports carry them.
    report_non_payment_lines: bool = True

    # ---- webhooks
    webhook_duplicate_share: float = 0.0
    webhook_reorder_share: float = 0.0
    webhook_drop_share: float = 0.0
    webhook_delay_seconds: float = 0.0
    #: Share of events sent with the alternate ``timestamp`` envelope instead of ``created_on``.
    webhook_timestamp_envelope_share: float = 0.25
    #: Wall-clock timeout of one delivery attempt.
    webhook_timeout_seconds: float = 5.0
    webhook_workers: int = 4

    def __post_init__(self) -> None:
        if self.search_actions not in ("full", "summary"):
            raise ValueError(f"search_actions must be 'full' or 'summary', got {self.search_actions!r}")
        if self.fee_sign not in (1, -1):
            raise ValueError(f"fee_sign must be 1 or -1, got {self.fee_sign!r}")
        if self.clock_speed <= 0:
            raise ValueError("clock_speed must be positive")
        if self.days < 0 or self.payments_per_day < 0:
            raise ValueError("days and payments_per_day must not be negative")
        if self.timestamp_style not in ("z", "offset_ms", "mixed"):
            raise ValueError(f"timestamp_style must be z, offset_ms or mixed, got {self.timestamp_style!r}")
        if self.empty_report_files not in ("header", "empty"):
            raise ValueError(f"empty_report_files must be header or empty, got {self.empty_report_files!r}")
        try:
            ZoneInfo(self.report_time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"report_time_zone must be an IANA zone, got {self.report_time_zone!r}") from exc
        for key in self.secret_keys:
            if not SECRET_KEY_RE.match(key):
                raise ValueError("a configured secret key does not match the sk_sbox_ format")
        for key in self.public_keys:
            if not PUBLIC_KEY_RE.match(key):
                raise ValueError("a configured public key does not match the pk_sbox_ format")
        for client_id, client in self.oauth_clients.items():
            if not client_id or not str(client.get("secret") or ""):
                raise ValueError("an OAuth client needs a non-empty id and secret")
        for name in (
            "fault_429_share",
            "fault_500_share",
            "fault_slow_share",
            "fault_after_500_share",
            "fault_after_timeout_share",
            "webhook_duplicate_share",
            "webhook_reorder_share",
            "webhook_drop_share",
            "webhook_timestamp_envelope_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value!r}")
        if sum(self.fault_shares()) > 1.0:
            raise ValueError("the fault shares add up to more than 1")
        if self.expired_capture_status not in (403, 422):
            raise ValueError("expired_capture_status must be 403 or 422")

    def fault_shares(self) -> tuple[float, float, float, float, float]:
        """429, 500, slow, processed-then-500, processed-then-timeout (the draw order)."""
        return (
            self.fault_429_share,
            self.fault_500_share,
            self.fault_slow_share,
            self.fault_after_500_share,
            self.fault_after_timeout_share,
        )

    @property
    def effective_fault_seed(self) -> int:
        return self.seed if self.fault_seed is None else self.fault_seed


#: Options that ``POST /_sandbox/faults`` may change while the server runs.
RUNTIME_OPTIONS: frozenset[str] = frozenset(
    {
        "read_rps",
        "write_rps",
        "fault_429_share",
        "fault_500_share",
        "fault_slow_share",
        "fault_after_500_share",
        "fault_after_timeout_share",
        "fault_writes_only",
        "expired_capture_status",
        "slow_seconds",
        "list_lag_seconds",
        "search_next_links",
        "search_actions",
        "real_shapes",
        "action_delay_seconds",
        "webhook_duplicate_share",
        "webhook_reorder_share",
        "webhook_drop_share",
        "webhook_delay_seconds",
        "webhook_timestamp_envelope_share",
        "idempotency_ttl_seconds",
        "token_ttl_seconds",
    }
)
