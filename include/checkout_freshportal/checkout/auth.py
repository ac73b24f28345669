"""Credentials -> ``Authorization`` header: a static secret key or a cached OAuth token.

The OAuth token is fetched with the client-credentials grant (docs/checkout-com.md#oauth): HTTP Basic
auth *and* the body fields, as the Python SDK does, because the docs and the SDKs disagree on
which one the server reads. It is cached until shortly before ``expires_in`` and shared by all
threads of one client; a 401 on an API call drops it (once) so the next attempt fetches a fresh
one -- tokens can be revoked or expire early on the server. Both classes satisfy the shared
:class:`~checkout_freshportal.http.transport.Authenticator` the transport asks per attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..http.transport import Authenticator
from .errors import AuthenticationError, CheckoutError

__all__ = ["AccessToken", "Authenticator", "OAuthTokenAuth", "SecretKeyAuth", "TokenFetcher"]


class SecretKeyAuth:
    """NAS secret key sent as ``Authorization: Bearer sk_...`` (docs/checkout-com.md#secret-keys)."""

    refreshable = False

    def __init__(self, secret_key: str) -> None:
        self._header = f"Bearer {secret_key}"

    def authorization(self) -> str:
        return self._header

    def invalidate(self, authorization: str) -> None:
        return None

    def __repr__(self) -> str:
        return "SecretKeyAuth(<redacted>)"


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # monotonic clock

    def __repr__(self) -> str:
        return f"AccessToken(<redacted>, expires_at={self.expires_at:.1f})"


#: ``fetch(form_fields, basic_auth) -> response JSON``: the client injects its HTTP call so the
#: token request gets the same timeouts, retries, logging and stats as every other call.
TokenFetcher = Callable[[dict[str, str], tuple[str, str]], dict]


class OAuthTokenAuth:
    """Client-credentials token cached until ``expires_in`` minus a safety margin."""

    refreshable = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        scopes: tuple[str, ...],
        fetch: TokenFetcher,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: Callable[[], None] | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._fetch = fetch
        self._clock = clock
        self._on_refresh = on_refresh
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def authorization(self) -> str:
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                token = self._token = self._new_token()
            return f"Bearer {token.value}"

    def invalidate(self, authorization: str) -> None:
        with self._lock:
            if self._token is not None and authorization == f"Bearer {self._token.value}":
                self._token = None

    @staticmethod
    def margin(expires_in: float) -> float:
        """Refresh this long before expiry: 10 % of the lifetime, at most 60 s.

        Covers clock skew and the time a request spends in flight, without turning a short-lived
        test token into one that is refreshed on every call.
        """
        return min(60.0, expires_in * 0.1)

    def _new_token(self) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        started = self._clock()
        payload = self._fetch(form, (self._client_id, self._client_secret))
        value = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthenticationError("token response has no access_token", path="connect/token")
        token_type = payload.get("token_type", "Bearer")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise CheckoutError(f"unsupported token_type {token_type!r}", path="connect/token")
        expires_in = payload.get("expires_in", 3600)
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            lifetime = 3600.0
        if self._on_refresh is not None:
            self._on_refresh()
        return AccessToken(value=value, expires_at=started + lifetime - self.margin(lifetime))

    def __repr__(self) -> str:
        return f"OAuthTokenAuth(client_id={self._client_id!r}, scopes={self._scopes!r})"
