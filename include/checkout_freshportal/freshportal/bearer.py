"""The FreshPortal bearer token: fetched lazily, shared by a client's threads, renewed on a 401.

No token lifetime is published, so the token is kept until the server refuses it; the lock makes
concurrent callers share one ``POST /v1/auth`` instead of each fetching their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class BearerToken:
    """One bearer token per client, fetched lazily and replaced only when the server refuses it.

    The transport's :class:`~checkout_freshportal.http.transport.Authenticator`: a 401 calls
    :meth:`invalidate`, the repeat calls :meth:`authorization`, which fetches a new token.
    """

    refreshable = True

    def __init__(self, fetch: Callable[[], str], on_refresh: Callable[[], None]) -> None:
        self._fetch = fetch
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._token: str | None = None

    def authorization(self) -> str:
        """``Bearer <token>``; the lock makes concurrent callers share one fetch."""
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return f"Bearer {self._token}"

    def invalidate(self, authorization: str) -> None:
        with self._lock:
            if self._token is not None and authorization == f"Bearer {self._token}":
                self._token = None
        self._on_refresh()

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"
