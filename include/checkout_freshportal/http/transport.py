"""One HTTP transport for every client: session, timeouts, attempts, retries, logging, stats.

A client (``checkout.client``, ``freshportal.client``) describes its API -- URLs, auth, which
calls are safe to replay, how an error body reads -- and lets :class:`HttpTransport` do the
wire work the same way for both:

* one pooled :class:`requests.Session` for the API, and a second one that never carries
  credentials for pre-signed downloads (``download.py``);
* a ``(connect, read)`` timeout on every request (``requests`` has none by default), and per
  attempt a wall-clock ``response_deadline`` and a ``max_response_bytes`` cap on the body: the
  read timeout bounds each socket read, not the call, and ``requests`` would otherwise buffer
  any body whole (see ``body.py``);
* per attempt: optional pacing (a client-side rate budget), the ``Authorization`` header from an
  :class:`Authenticator`, and after a 401 with a refreshable credential one immediate repeat
  with a fresh one;
* retries per ``retry.py`` (full jitter, ``Retry-After`` honoured, permanent errors never
  repeated), errors marked ``final`` once the policy has been applied;
* every attempt counted in :class:`~.stats.CallStats` and logged with method, path (never the
  query), status, request id and attempt -- never headers, keys, tokens or bodies.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying

from .body import DeadlinePassed, keep_body, read_limited
from .errors import ERROR_BODY_LIMIT, HttpError, TransportError, UnsafeRedirectError
from .retry import BackoffPolicy, build_retrying, is_retryable
from .stats import READ_METHODS, CallStats

_REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: Default cap on one API answer. The largest legitimate pages (up to 1,000 Checkout.com
#: payments or 500 FreshPortal orders with their lines, a few KB each) stay well below it.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024**2
#: Default wall-clock budget of one attempt, headers and body: above Checkout.com's 60 s read
#: timeout (its gateway's own timeout) with room for the body to arrive after a slow answer.
DEFAULT_RESPONSE_DEADLINE = 120.0


class Authenticator(Protocol):
    """What the transport needs from a credential (static key, cached token)."""

    #: True when a 401 can be cured by fetching a new credential, False for static keys.
    refreshable: bool

    def authorization(self) -> str:
        """Value of the ``Authorization`` header (may fetch a token)."""
        ...

    def invalidate(self, authorization: str) -> None:
        """The server rejected ``authorization``: forget it if it is still the current one."""
        ...


class ErrorFactory(Protocol):
    def __call__(
        self, response: requests.Response, *, method: str | None = None, path: str | None = None
    ) -> HttpError: ...


@dataclass(frozen=True)
class ErrorClasses:
    """The client's own classes for failures the transport detects itself."""

    #: Body that is not the JSON the API promised; also the class marked ``final``.
    base: type[HttpError]
    transport: type[TransportError]
    unsafe_redirect: type[UnsafeRedirectError]
    #: A success body over ``max_response_bytes`` (permanent).
    too_large: type[HttpError]
    #: Non-success response -> the client's error (reads the client's error body format).
    from_response: ErrorFactory


@dataclass(frozen=True)
class TransportSettings:
    timeout: tuple[float, float]
    max_retries: int
    backoff: BackoffPolicy
    user_agent: str
    #: Response header carrying the provider's request id (quoted in logs and errors).
    request_id_header: str
    #: Largest body an API call reads into memory; a larger one raises ``too_large``.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: Seconds one attempt may take, body included, before it fails like a read timeout.
    response_deadline: float = DEFAULT_RESPONSE_DEADLINE


def new_session() -> requests.Session:
    """A session whose pool fits the thread pools of the sync use cases (up to 32 workers)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HttpTransport:
    """Thread-safe; one per client instance. ``session`` lets a caller supply proxies or a CA bundle."""

    def __init__(
        self,
        settings: TransportSettings,
        errors: ErrorClasses,
        *,
        stats: CallStats,
        log: logging.Logger,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.errors = errors
        self.stats = stats
        self.log = log
        self.sleep = sleep if sleep is not None else time.sleep
        self._owns_session = session is None
        self.session = session if session is not None else new_session()
        # Pre-signed downloads go to a storage host that must never see our credentials: a
        # separate session that is never given any auth (see download.py).
        self.storage_session = new_session()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
        self.storage_session.close()

    # ------------------------------------------------------------------ retries
    def retrying(self, retryable: Callable[[BaseException], bool], what: str) -> Retrying:
        """A retry loop with the shared backoff, counting each retry and logging it as ``what``."""
        return build_retrying(
            max_retries=self.settings.max_retries,
            policy=self.settings.backoff,
            retryable=retryable,
            sleep=self.sleep,
            log=self.log,
            what=what,
            on_retry=self.stats.record_retry,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        replay_safe: bool | None = None,
        idempotency_key_sent: bool = False,
        retry: bool = True,
        path: str | None = None,
        **send: Any,
    ) -> requests.Response:
        """One logical call: attempts per the retry rule; returns a 2xx (or accepted 3xx) response.

        ``replay_safe`` defaults to "a read or a request carrying an idempotency key";
        ``retry=False`` makes exactly one attempt (a create the server does not deduplicate).
        ``send`` goes to :meth:`send` unchanged. The raised error is marked ``final``.
        """
        method = method.upper()
        path = path or urlsplit(url).path or "/"
        if replay_safe is None:
            replay_safe = method in READ_METHODS or idempotency_key_sent
        safe = replay_safe

        def retryable(exc: BaseException) -> bool:
            return retry and is_retryable(exc, replay_safe=safe, has_idempotency_key=idempotency_key_sent)

        response: requests.Response | None = None
        try:
            for attempt in self.retrying(retryable, f"{method} {path}"):
                with attempt:
                    response = self.send(
                        method, url, kind=kind, path=path, attempt=attempt.retry_state.attempt_number, **send
                    )
        except HttpError as exc:
            exc.final = True
            raise
        assert response is not None
        return response

    def send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        path: str | None = None,
        attempt: int = 1,
        auth: Authenticator | None = None,
        pace: Callable[[str], None] | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None,
        stream: bool = False,
        accept_redirect: bool = False,
    ) -> requests.Response:
        """One attempt (plus one immediate repeat with a fresh credential after a 401).

        Redirects are never followed with credentials: a 3xx raises unless ``accept_redirect``
        (the caller then follows it by hand, e.g. through :func:`~.download.download`).

        Every request goes out streamed. Unless the caller asked for ``stream`` (it then reads
        and closes the body itself), a success body is read here, inside the attempt, so that
        the size cap and the deadline apply and a failure is retried like any read timeout;
        the response comes back closed with its body in ``resp.content``. An error body is read
        up to ``ERROR_BODY_LIMIT`` bytes only, within the same deadline.
        """
        method = method.upper()
        path = path or urlsplit(url).path or "/"
        wire: dict[str, Any] = {
            "params": dict(params) if params else None,
            "json": json_body,
            "data": dict(form) if form is not None else None,
            "auth": requests.auth.HTTPBasicAuth(*basic) if basic is not None else None,
        }
        refreshed = False
        while True:
            if pace is not None:
                pace(method)
            authorization = auth.authorization() if auth is not None else None
            sent_headers = self._headers(headers, json_body is not None, authorization)
            deadline = time.monotonic() + self.settings.response_deadline
            resp = self._exchange(method, url, path, kind=kind, attempt=attempt, headers=sent_headers, **wire)
            status = resp.status_code
            if 200 <= status < 300 or (accept_redirect and status in _REDIRECTS):
                if not stream:
                    self._read_body(resp, method, path, deadline)
                return resp
            if status == 401 and auth is not None and authorization and auth.refreshable and not refreshed:
                resp.close()
                auth.invalidate(authorization)
                refreshed = True
                self.log.info("%s %s -> 401: credential refreshed, repeating once", method, path)
                continue
            try:
                self._read_error_body(resp, deadline)
                error = self.errors.from_response(resp, method=method, path=path)
            finally:
                resp.close()
            raise error

    def _headers(
        self, headers: Mapping[str, str] | None, has_json: bool, authorization: str | None
    ) -> dict[str, str]:
        """The attempt's headers: ours, then the caller's, then the credential (which always wins)."""
        # identity: see http/body.py (a compressed body could hold a call past its deadline)
        sent = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": self.settings.user_agent,
        }
        if has_json:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        if authorization is not None:
            sent["Authorization"] = authorization
        return sent

    def _exchange(
        self, method: str, url: str, path: str, *, kind: str, attempt: int, **wire: Any
    ) -> requests.Response:
        """The request on the wire, counted and logged; a failure to get any answer is described
        without the URL (its query may hold tokens or signatures)."""
        self.stats.record_call(method, kind)
        started = time.monotonic()
        try:
            resp = self.session.request(
                method, url, timeout=self.settings.timeout, allow_redirects=False, stream=True, **wire
            )
        except requests.RequestException as exc:
            raise transport_error(exc, method, path, self.settings.timeout, self.errors.transport) from None
        status = resp.status_code
        self.stats.record_status(status)
        self.log.debug(
            "%s %s -> %s (kind=%s, request_id=%s, attempt=%d, %.0f ms)",
            method,
            path,
            status,
            kind,
            resp.headers.get(self.settings.request_id_header),
            attempt,
            (time.monotonic() - started) * 1000,
        )
        return resp

    # ------------------------------------------------------------------ bodies
    def _read_body(self, resp: requests.Response, method: str, path: str, deadline: float) -> None:
        """Read a success body into ``resp`` within the size cap and the deadline; always closes.

        Too large: the client's ``too_large`` error (permanent; the message names the limit,
        never the body), refused from ``Content-Length`` before any byte is read when it says
        so. Deadline passed: the client's transport error with ``request_sent`` -- the same
        error, retried (or left in doubt for a non-idempotent write) exactly as a read timeout.
        """
        limit = self.settings.max_response_bytes
        try:
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit and not resp.headers.get("Content-Encoding"):
                raise self._too_large(resp, method, path)
            try:
                content, complete = read_limited(resp, limit, deadline)
            except DeadlinePassed:
                raise self.errors.transport(
                    f"response not complete within the {self.settings.response_deadline:g} s "
                    "response deadline (treated as a read timeout)",
                    method=method,
                    path=path,
                    request_sent=True,
                ) from None
            except requests.RequestException as exc:
                raise transport_error(
                    exc, method, path, self.settings.timeout, self.errors.transport
                ) from None
            if not complete:
                raise self._too_large(resp, method, path)
            keep_body(resp, content)
        finally:
            resp.close()  # fully read: the connection goes back to the pool; else it is dropped

    def _too_large(self, resp: requests.Response, method: str, path: str) -> HttpError:
        if method not in ("GET", "HEAD"):
            # a write was answered 2xx: it took effect, only its answer is unreadable -- in doubt
            # (as after a lost answer), never a refusal the caller would file for good
            return self.errors.transport(
                f"answer larger than max_response_bytes ({self.settings.max_response_bytes} bytes); "
                "not read, the write may have taken effect",
                method=method,
                path=path,
                request_sent=True,
            )
        return self.errors.too_large(
            f"response body larger than max_response_bytes ({self.settings.max_response_bytes} bytes); "
            "not read",
            status=resp.status_code,
            method=method,
            path=path,
            request_id=resp.headers.get(self.settings.request_id_header),
        )

    def _read_error_body(self, resp: requests.Response, deadline: float) -> None:
        """At most ``ERROR_BODY_LIMIT`` (+1) bytes of an error body, for its code and message.

        The status decides the error; a body that is too large, too slow or broken is dropped
        (kept as empty or cut, which the error parsers ignore) instead of replacing it.
        """
        try:
            content, complete = read_limited(resp, ERROR_BODY_LIMIT, deadline)
        except (DeadlinePassed, requests.RequestException):
            content, complete = b"", False
        keep_body(resp, content if complete else b"", complete=complete)

    def json_value(self, resp: requests.Response, *, parse_float: Callable[[str], Any] | None = None) -> Any:
        """The body as JSON (``None`` when empty or 204); ``parse_float=Decimal`` keeps amounts exact."""
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return json.loads(resp.content, parse_float=parse_float)
        except (ValueError, UnicodeDecodeError):
            raise self._body_error(resp, "response body is not JSON") from None

    def json_object(self, resp: requests.Response, *, exact: bool = False) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); ``exact`` parses decimals as Decimal."""
        data = self.json_value(resp, parse_float=Decimal if exact else None)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self._body_error(resp, f"expected a JSON object, got {type(data).__name__}")
        return data

    def _body_error(self, resp: requests.Response, message: str) -> HttpError:
        return self.errors.base(
            message,
            status=resp.status_code,
            method=resp.request.method if resp.request is not None else None,
            path=urlsplit(resp.url).path if resp.url else None,
            request_id=resp.headers.get(self.settings.request_id_header),
        )


def transport_error(
    exc: requests.RequestException,
    method: str,
    path: str,
    timeout: tuple[float, float],
    cls: type[TransportError] = TransportError,
) -> TransportError:
    """Describe a transport failure without the URL (its query may hold tokens or signatures).

    ``request_sent`` is False only when the connection was never established: a connect
    timeout, a refused connection or a failed DNS look-up -- read from the exception types
    urllib3 raises, never from the wording of their messages.
    """
    sent = not isinstance(exc, requests.ConnectTimeout)
    if isinstance(exc, requests.ConnectTimeout):
        what = f"connect timeout after {timeout[0]:g} s"
    elif isinstance(exc, requests.ReadTimeout):
        what = f"read timeout after {timeout[1]:g} s"
    elif isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        what = f"connection error ({type(inner).__name__})"
        if type(inner).__name__ in {"NewConnectionError", "NameResolutionError"}:
            sent = False
    else:
        what = type(exc).__name__
    return cls(what, method=method, path=path, request_sent=sent)
