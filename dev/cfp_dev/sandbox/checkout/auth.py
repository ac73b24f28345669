"""Credentials: secret keys, OAuth client credentials, access tokens and per-endpoint scopes.

docs/checkout-com.md#secret-keys and #oauth: ``Authorization: Bearer sk_sbox_...`` (format-checked,
then looked up) or ``Bearer <access token>`` from ``POST /connect/token``. Any failure -- missing
header, unknown key, expired token, missing scope -- is a 401 with an empty body, as on the real API.
Payment links take the secret key only (no OAuth scope exists for them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from .clock import SimClock
from .config import ALL_SCOPES, SECRET_KEY_RE, SandboxConfig


@dataclass(frozen=True)
class Endpoint:
    """What the middleware needs to know about a route before the route runs."""

    kind: str
    scopes: frozenset[str] = frozenset()
    secret_key_only: bool = False
    idempotent: bool = False
    public: bool = False  # no Authorization needed (token endpoint)


def _ep(kind: str, *scopes: str, **flags: Any) -> Endpoint:
    return Endpoint(kind, frozenset(scopes), **flags)


_GATEWAY_DETAILS = ("gateway", "gateway:payment-details")
_ID = r"[^/]+"
#: (method, path regex) -> endpoint; first match wins.
ROUTES: tuple[tuple[str, re.Pattern[str], Endpoint], ...] = tuple(
    (m, re.compile(f"^{p}$"), e)
    for m, p, e in (
        ("POST", "/connect/token", _ep("token", public=True)),
        ("POST", "/payments", _ep("payments.request", "gateway", "gateway:payment", idempotent=True)),
        ("GET", "/payments", _ep("payments.list", *_GATEWAY_DETAILS)),
        ("POST", "/payments/search", _ep("payments.search", "payments:search", "gateway")),
        ("GET", f"/payments/search/{_ID}", _ep("payments.search", "payments:search", "gateway")),
        ("GET", f"/payments/{_ID}/actions", _ep("payments.actions", *_GATEWAY_DETAILS)),
        (
            "POST",
            f"/payments/{_ID}/captures",
            _ep("payments.captures", "gateway", "gateway:payment-captures", idempotent=True),
        ),
        (
            "POST",
            f"/payments/{_ID}/refunds",
            _ep("payments.refunds", "gateway", "gateway:payment-refunds", idempotent=True),
        ),
        (
            "POST",
            f"/payments/{_ID}/voids",
            _ep("payments.voids", "gateway", "gateway:payment-voids", idempotent=True),
        ),
        ("GET", f"/payments/{_ID}", _ep("payments.get", *_GATEWAY_DETAILS)),
        ("POST", "/payment-links", _ep("payment_links.create", secret_key_only=True)),
        ("GET", f"/payment-links/{_ID}", _ep("payment_links.get", secret_key_only=True)),
        ("GET", "/disputes", _ep("disputes.list", "disputes", "disputes:view")),
        ("GET", f"/disputes/{_ID}", _ep("disputes.get", "disputes", "disputes:view")),
        (
            "GET",
            "/financial-actions",
            _ep("financial_actions.list", "financial-actions", "financial-actions:view"),
        ),
        ("GET", "/reports", _ep("reports.list", "reports", "reports:view")),
        ("GET", f"/reports/{_ID}/files/{_ID}", _ep("reports.file", "reports", "reports:view")),
        ("GET", f"/reports/{_ID}", _ep("reports.get", "reports", "reports:view")),
        ("POST", "/workflows", _ep("workflows.create", "flow", "flow:workflows")),
        ("GET", "/workflows", _ep("workflows.list", "flow", "flow:workflows")),
        ("GET", f"/workflows/{_ID}", _ep("workflows.get", "flow", "flow:workflows")),
        ("DELETE", f"/workflows/{_ID}", _ep("workflows.delete", "flow", "flow:workflows")),
    )
)
UNKNOWN = Endpoint("unknown")


def classify(method: str, path: str) -> Endpoint:
    path = path.rstrip("/") or "/"
    for m, rx, ep in ROUTES:
        if m == method and rx.match(path):
            return ep
    return UNKNOWN


@dataclass(frozen=True)
class Principal:
    kind: str  # "secret_key" | "oauth"
    client_id: str | None
    scopes: frozenset[str]


@dataclass
class _Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float  # SimClock.wall_time(): /_sandbox/advance ages tokens


class TokenError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Authenticator:
    """Checks credentials; issues and validates OAuth access tokens (in memory).

    Token lifetimes are read from ``clock.wall_time()`` so advancing the sandbox clock expires
    them, as it would on the real API after that much time.
    """

    def __init__(self, config: SandboxConfig, clock: SimClock) -> None:
        self.config = config
        self._clock = clock
        self._keys = frozenset(config.secret_keys)
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)

    # ---- token endpoint
    def issue_token(
        self, client_id: str | None, client_secret: str | None, grant_type: str | None, scope: str | None
    ) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise TokenError("unsupported_grant_type" if grant_type else "invalid_request")
        if not client_id or client_secret is None:
            raise TokenError("invalid_client")
        client = self.config.oauth_clients.get(client_id)
        if client is None or not hmac.compare_digest(str(client.get("secret", "")), client_secret):
            raise TokenError("invalid_client")
        allowed = frozenset(client.get("scopes", ALL_SCOPES))
        requested = frozenset(scope.split()) if scope else allowed
        if not requested or not requested <= allowed:
            raise TokenError("invalid_scope")
        ttl = float(self.config.token_ttl_seconds)
        now = self._clock.wall_time()
        token = self._jwt(client_id, sorted(requested), now, ttl)
        with self._lock:
            self._tokens[token] = _Token(client_id, requested, now + ttl)
            if len(self._tokens) > 10_000:
                self._purge(now)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(ttl) if ttl >= 1 else ttl,
            "scope": " ".join(sorted(requested)),
        }

    def _jwt(self, client_id: str, scopes: list[str], now: float, ttl: float) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

        header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
        claims = {
            "iss": "https://access.sandbox.checkout.com",
            "aud": "gateway",
            "client_id": client_id,
            "scope": scopes,
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": secrets.token_hex(8),
        }
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(sig)}"

    def _purge(self, now: float) -> None:
        for tok in [t for t, info in self._tokens.items() if info.expires_at <= now]:
            del self._tokens[tok]

    # ---- request authentication
    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return None
        credential = credential.strip()
        if credential.startswith("sk_"):
            if SECRET_KEY_RE.match(credential) and credential in self._keys:
                return Principal("secret_key", None, frozenset(ALL_SCOPES))
            return None
        with self._lock:
            info = self._tokens.get(credential)
        if info is None or self._clock.wall_time() >= info.expires_at:
            return None
        return Principal("oauth", info.client_id, info.scopes)

    @staticmethod
    def allowed(principal: Principal, endpoint: Endpoint) -> bool:
        if principal.kind == "secret_key":
            return True
        if endpoint.secret_key_only:
            return False
        if not endpoint.scopes:
            return True
        return bool(principal.scopes & endpoint.scopes)
