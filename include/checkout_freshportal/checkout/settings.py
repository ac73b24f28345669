"""How to reach one Checkout.com account: environment, credentials, timeouts, budgets.

Everything is validated when the settings are built, so a wrong key or prefix fails at DAG
start with a clear message instead of as a 401 deep inside a paging loop. Secrets never appear
in ``repr()`` or in any error message (a traceback in Airflow's task log is readable by many).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ..http.config import check_transport, check_url, timeout_pair
from ..http.errors import SettingsError
from ..http.transport import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RESPONSE_DEADLINE

__all__ = ["CheckoutSettings", "SettingsError", "validate_secret_key"]

Environment = Literal["sandbox", "production"]
AuthMode = Literal["secret_key", "oauth"]

#: NAS secret key (docs/checkout-com.md#secret-keys, from the official SDKs). ABC ("previous") keys
#: are refused: this client only speaks the NAS platform.
SECRET_KEY_RE = re.compile(r"^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$")
#: Account-specific subdomain (docs/checkout-com.md#environments).
ACCOUNT_PREFIX_RE = re.compile(r"^(?:pl-)?[a-z0-9]+$")

_API_HOSTS: dict[str, str] = {"sandbox": "api.sandbox.checkout.com", "production": "api.checkout.com"}
_ACCESS_HOSTS: dict[str, str] = {
    "sandbox": "access.sandbox.checkout.com",
    "production": "access.checkout.com",
}

DEFAULT_USER_AGENT = "checkout-freshportal/0.1 (+python-requests)"


@dataclass(frozen=True)
class CheckoutSettings:
    """Connection settings of a :class:`~checkout_freshportal.checkout.client.CheckoutClient`.

    Exactly one auth mode: ``secret_key``, or ``client_id`` + ``client_secret`` (OAuth client
    credentials, "access keys"). ``base_url`` overrides ``environment``/``account_prefix`` and is
    how tests point the client at the local simulator.
    """

    environment: Environment = "sandbox"
    base_url: str | None = None
    account_prefix: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    token_url: str | None = None
    # (connect, read). Read is 60 s because the gateway's own timeout is 60 s: a shorter read
    # timeout turns slow-but-successful authorizations into apparent failures (docs/checkout-com.md#timeouts).
    timeout: tuple[float, float] = (5.0, 60.0)
    # Largest answer read into memory (a larger one fails, permanent), and the wall-clock
    # seconds one attempt may take, body included (then it fails like a read timeout): the read
    # timeout bounds each socket read, not a body that drips. Must exceed the read timeout.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    response_deadline: float = DEFAULT_RESPONSE_DEADLINE
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    # Wait before re-sending an idempotency key that answered 409 (the first request with that key
    # is still in flight). Checkout's doc suggests >= 30 s.
    conflict_wait: float = 30.0
    # Client-side budgets per client instance, under the 100/s account-wide limits
    # (docs/checkout-com.md#rate-limits) so a second process or a human in the dashboard still has
    # headroom. 0 disables a budget.
    read_rps: int = 80
    write_rps: int = 80
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise through object.__setattr__ (lists from JSON become tuples).
        if isinstance(self.scopes, str):
            object.__setattr__(self, "scopes", tuple(self.scopes.split()))
        else:
            object.__setattr__(self, "scopes", tuple(self.scopes or ()))
        if not isinstance(self.timeout, tuple):
            object.__setattr__(self, "timeout", timeout_pair(self.timeout))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if self.environment not in _API_HOSTS:
            raise SettingsError(f"environment must be 'sandbox' or 'production', got {self.environment!r}")
        if self.base_url is not None:
            check_url(self.base_url, "base_url")
        if self.account_prefix is not None and not ACCOUNT_PREFIX_RE.match(self.account_prefix):
            raise SettingsError(
                f"account_prefix {self.account_prefix!r} does not match {ACCOUNT_PREFIX_RE.pattern} "
                "(first 8 characters of the client id without 'cli_', lower case)"
            )
        has_key = bool(self.secret_key)
        has_oauth = bool(self.client_id) or bool(self.client_secret)
        if has_key == has_oauth:
            raise SettingsError(
                "configure exactly one auth mode: secret_key, or client_id + client_secret (OAuth)"
            )
        if has_key:
            validate_secret_key(self.secret_key or "")
            if self.base_url is None:
                is_sbox = (self.secret_key or "").startswith("sk_sbox_")
                if is_sbox != (self.environment == "sandbox"):
                    raise SettingsError(
                        f"the secret key is a {'sandbox' if is_sbox else 'production'} key but "
                        f"environment is {self.environment!r} (key not shown)"
                    )
        else:
            if not self.client_id or not self.client_secret:
                raise SettingsError("OAuth needs both client_id and client_secret")
            if self.token_url is not None:
                check_url(self.token_url, "token_url")
        check_transport(
            self.timeout,
            self.max_retries,
            self.user_agent,
            max_response_bytes=self.max_response_bytes,
            response_deadline=self.response_deadline,
        )
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.conflict_wait < 0:
            raise SettingsError("backoff_base, backoff_cap and conflict_wait must be >= 0")
        if self.read_rps < 0 or self.write_rps < 0:
            raise SettingsError("read_rps and write_rps must be >= 0 (0 = no client-side limit)")

    # ------------------------------------------------------------------ derived values
    @property
    def auth_mode(self) -> AuthMode:
        return "secret_key" if self.secret_key else "oauth"

    @property
    def api_base_url(self) -> str:
        """Base URL of the main API, always ending with ``/``."""
        if self.base_url is not None:
            return self.base_url.rstrip("/") + "/"
        host = _API_HOSTS[self.environment]
        if self.account_prefix:
            host = f"{self.account_prefix}.{host}"
        return f"https://{host}/"

    @property
    def oauth_token_url(self) -> str:
        """Where client credentials are exchanged for a token.

        An explicit ``token_url`` wins; with an explicit ``base_url`` (the local simulator) the
        token endpoint is ``{base_url}/connect/token``; otherwise the environment's access host,
        account-prefixed when a prefix is set (docs/checkout-com.md#environments).
        """
        if self.token_url is not None:
            return self.token_url
        if self.base_url is not None:
            return self.api_base_url + "connect/token"
        host = _ACCESS_HOSTS[self.environment]
        if self.account_prefix:
            host = f"{self.account_prefix}.{host}"
        return f"https://{host}/connect/token"


def validate_secret_key(key: str) -> None:
    """Raise :class:`SettingsError` when ``key`` is not a NAS secret key; never echoes it."""
    if not isinstance(key, str) or not SECRET_KEY_RE.match(key):
        hint = ""
        if isinstance(key, str):
            if key.startswith("pk_"):
                hint = " (this looks like a public key; the API needs the secret key)"
            elif key.startswith("sk_test_") or (key.startswith("sk_") and "-" in key):
                hint = " (this looks like a 'previous'/ABC platform key; this client needs a NAS key)"
            elif key != key.strip():
                hint = " (it has leading/trailing whitespace)"
        raise SettingsError(
            "secret_key does not have the Checkout.com secret key format "
            f"sk_[sbox_]<27 lower-case base32 characters>{hint}; the value is not shown"
        )
