"""FreshPortal API client: tenant host, token auth, strict parsing, retries, no blind creates.

Every call goes through :meth:`FreshPortalClient._call`, which

1. adds ``Authorization: Bearer <token>``; the token comes from ``POST /v1/auth`` with the API
   key, is cached and shared by the client's threads, and on a 401 is dropped and fetched again
   -- once -- before the request is repeated (tokens expire; no lifetime is published);
2. retries 429, 5xx and timeouts with full-jitter exponential backoff (tenacity) -- but only
   when repeating cannot double an effect: reads, ``POST /v1/auth`` and the ``PUT`` writes,
   which replace a sub-resource and are idempotent by construction;
3. maps every other failure to an exception from ``errors.py`` -- nothing is swallowed;
4. counts each attempt in :attr:`FreshPortalClient.stats` and logs method, path (never the
   query), status, request id and attempt -- never headers, keys, tokens or bodies.

Creates are different: FreshPortal accepts a duplicate create (reference/freshportal.md), so
``create_note`` is never retried blindly. It looks for a note with our ``external_ref`` first,
and after a failed or timed-out POST it looks *again* before posting again: a 500 sent after the
server stored the note must not produce a second note.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import (
    REQUEST_ID_HEADER,
    AuthenticationError,
    DataError,
    ExportError,
    ForbiddenError,
    FreshPortalError,
    RateLimitedError,
    ServerError,
    TransportError,
    error_from_response,
)
from .export import ExportArchive
from .feed import ChangeFeed
from .mapping import FreshPortalMapping, load_mapping
from .models import (
    Note,
    Order,
    OrderPayment,
    Page,
    PaymentStatusUpdate,
    RefundOutcome,
    RefundRequest,
    note_body,
    note_from_api,
    order_from_api,
    payment_from_api,
    payment_update_body,
    refund_outcome_body,
    refund_request_from_api,
)
from .settings import MAX_PAGE_SIZE, FreshPortalSettings
from .stats import CallStats

log = logging.getLogger("checkout_freshportal.freshportal")

JSON = dict[str, Any]
RetryMode = Literal["safe", "none"]
MAX_EXTERNAL_REF = 200
_CHUNK = 1024 * 256


class _TokenCache:
    """One bearer token per client, fetched lazily and replaced only when the server refuses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None

    def get(self, fetch: Callable[[], str]) -> tuple[str, bool]:
        """``(token, fetched_now)``; the lock makes concurrent callers share one fetch."""
        with self._lock:
            if self._token is None:
                self._token = fetch()
                return self._token, True
            return self._token, False

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def __repr__(self) -> str:
        return "_TokenCache(<redacted>)"


class FreshPortalClient:
    """Synchronous FreshPortal client; safe to share between threads of one process.

    ``session`` lets a caller supply a configured :class:`requests.Session` (proxies, CA bundle);
    credentials are added per request and never stored on it. ``mapping`` defaults to
    :func:`~.mapping.load_mapping` with ``settings.mapping_path``.
    """

    def __init__(
        self,
        settings: FreshPortalSettings,
        session: requests.Session | None = None,
        *,
        mapping: FreshPortalMapping | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.mapping = mapping if mapping is not None else load_mapping(settings.mapping_path)
        self._owns_session = session is None
        self._session = session if session is not None else _new_session()
        # The export's pre-signed storage URL must never see the token: a session never given auth.
        self._storage_session = _new_session()
        self._sleep = sleep if sleep is not None else time.sleep
        self._tokens = _TokenCache()
        self.stats = CallStats()

    def __repr__(self) -> str:
        return f"FreshPortalClient(base_url={self.settings.api_base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()
        self._storage_session.close()

    def __enter__(self) -> FreshPortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================== auth
    def authenticate(self) -> None:
        """Fetch a token now (e.g. to test a connection); normally this happens lazily."""
        self._tokens.get(self._fetch_token)

    def _fetch_token(self) -> str:
        """``POST /v1/auth`` with ``{"username": <api key>, "type": "api"}`` -> ``{"token"}``."""
        try:
            resp = self._call(
                "POST",
                "v1/auth",
                kind="auth",
                json_body={"username": self.settings.api_key, "type": "api"},
                retry="safe",
                authenticated=False,
            )
        except AuthenticationError as exc:
            exc.message = "API key refused (key not shown)"
            raise
        token = self._json(resp, "POST", "/v1/auth").get("token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError("POST /v1/auth answered without a token", status=resp.status_code)
        return token

    # ================================================================== orders
    def get_orders_page(self, cursor: str | None = None, limit: int | None = None) -> Page[Order]:
        """One page of ``GET /v1/orders?cursor=&limit=``: orders changed after ``cursor``."""
        return self._page(
            "v1/orders", "orders.list", cursor, limit, lambda raw: order_from_api(raw, self.mapping)
        )

    def iter_orders_changed(
        self, since_cursor: str | None = None, *, limit: int | None = None
    ) -> ChangeFeed[Order]:
        """Every order changed after ``since_cursor`` (``None`` = from the beginning), oldest change first.

        Store ``feed.next_cursor`` once the items taken from it are processed. An order changed
        while the feed is walked may be yielded again with a higher ``version``.
        """
        return ChangeFeed(lambda c: self.get_orders_page(c, limit), since_cursor, what="orders")

    def get_order(self, order_id: str) -> Order:
        """``GET /v1/orders/{order_id}``."""
        path = f"v1/orders/{_seg(order_id)}"
        resp = self._call("GET", path, kind="orders.get")
        return order_from_api(self._json(resp, "GET", "/" + path), self.mapping)

    def write_payment_status(self, order_id: str, update: PaymentStatusUpdate) -> OrderPayment:
        """``PUT /v1/orders/{order_id}/payment``: replace the order's payment sub-resource.

        Idempotent (same body -> same state), hence retried like a read. A lower ``sequence``
        than the stored one is refused by the server with 409 (:class:`~.errors.ConflictError`).
        """
        body = payment_update_body(update, self.mapping)
        path = f"v1/orders/{_seg(order_id)}/payment"
        resp = self._call("PUT", path, kind="orders.payment.put", json_body=body, retry="safe")
        return payment_from_api(self._json(resp, "PUT", "/" + path), self.mapping, record=f"order {order_id}")

    # ================================================================== refund requests
    def get_refund_requests_page(
        self, cursor: str | None = None, limit: int | None = None
    ) -> Page[RefundRequest]:
        """One page of ``GET /v1/refund-requests?cursor=&limit=``."""
        return self._page(
            "v1/refund-requests",
            "refund_requests.list",
            cursor,
            limit,
            lambda raw: refund_request_from_api(raw, self.mapping),
        )

    def iter_refund_requests_changed(
        self, since_cursor: str | None = None, *, limit: int | None = None
    ) -> ChangeFeed[RefundRequest]:
        """Every refund request changed after ``since_cursor`` (see :meth:`iter_orders_changed`)."""
        return ChangeFeed(
            lambda c: self.get_refund_requests_page(c, limit), since_cursor, what="refund requests"
        )

    def get_refund_request(self, refund_request_id: str) -> RefundRequest:
        """``GET /v1/refund-requests/{id}``."""
        path = f"v1/refund-requests/{_seg(refund_request_id)}"
        resp = self._call("GET", path, kind="refund_requests.get")
        return refund_request_from_api(self._json(resp, "GET", "/" + path), self.mapping)

    def write_refund_outcome(self, refund_request_id: str, outcome: RefundOutcome) -> RefundRequest:
        """``PUT /v1/refund-requests/{id}/outcome`` (idempotent replace; retried like a read)."""
        body = refund_outcome_body(outcome, self.mapping)
        path = f"v1/refund-requests/{_seg(refund_request_id)}/outcome"
        resp = self._call("PUT", path, kind="refund_requests.outcome.put", json_body=body, retry="safe")
        return refund_request_from_api(self._json(resp, "PUT", "/" + path), self.mapping)

    # ================================================================== notes
    def list_notes(self, order_id: str) -> list[Note]:
        """``GET /v1/orders/{order_id}/notes``: every note of the order, oldest first."""
        path = f"v1/orders/{_seg(order_id)}/notes"
        resp = self._call("GET", path, kind="notes.list")
        data = self._json(resp, "GET", "/" + path).get("data")
        if not isinstance(data, list):
            raise DataError(f"GET /{path}: 'data' is not a list", field="data", record=f"order {order_id}")
        return [note_from_api(item, self.mapping) for item in data]

    def find_note(self, order_id: str, external_ref: str) -> Note | None:
        """The note of ``order_id`` carrying ``external_ref`` (the oldest if duplicates exist)."""
        matches = [n for n in self.list_notes(order_id) if n.external_ref == external_ref]
        if len(matches) > 1:
            log.warning(
                "order %s has %d notes with one external_ref (created elsewhere?); using the oldest",
                order_id,
                len(matches),
            )
        if not matches:
            return None
        return min(matches, key=lambda n: (_id_sort_key(n.note_id), n.created_at or 0))

    def create_note(
        self, order_id: str, text: str, external_ref: str, *, category: str | None = None
    ) -> Note:
        """Attach a note/exception to an order exactly once per ``external_ref``.

        ``POST /v1/orders/{order_id}/notes`` is not idempotent on the server, so: look for an
        existing note with this ``external_ref`` first; post; after a 429, 5xx or timeout look
        again and post again only if the note is still absent. If the look-up itself fails after
        its retries, the error is raised -- never a blind second POST.
        """
        if not isinstance(external_ref, str) or not external_ref.strip():
            raise ValueError("create_note needs a non-empty external_ref (our dedup key)")
        if len(external_ref) > MAX_EXTERNAL_REF:
            raise ValueError(f"external_ref longer than {MAX_EXTERNAL_REF} characters")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("create_note needs a non-empty text")
        category = category or self.mapping.default_note_category
        if category not in self.mapping.note_categories:
            raise ValueError(
                f"note category {category!r} is not one of {sorted(self.mapping.note_categories)}"
            )

        existing = self.find_note(order_id, external_ref)
        if existing is not None:
            self.stats.record_note_deduplicated()
            return existing
        path = f"v1/orders/{_seg(order_id)}/notes"
        body = note_body(text, external_ref, category, self.mapping)
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                resp = self._call("POST", path, kind="notes.create", json_body=body, retry="none")
                return note_from_api(self._json(resp, "POST", "/" + path), self.mapping)
            except (RateLimitedError, ServerError, TransportError) as exc:
                if attempt >= attempts:
                    raise
                wait = self._backoff(attempt)
                if isinstance(exc, TransportError) and exc.request_sent:
                    # A timed-out POST may still be executing on the server: give it the read
                    # timeout once more before looking, so the look-up sees what it stored.
                    wait = max(wait, self.settings.timeout[1])
                self.stats.record_retry()
                log.warning(
                    "POST /%s: attempt %d failed (%s); checking for the note before any retry (in %.2f s)",
                    path,
                    attempt,
                    exc,
                    wait,
                )
                self._sleep(wait)
                found = self.find_note(order_id, external_ref)
                if found is not None:
                    log.info("POST /%s: the note was stored despite the failure; not posting again", path)
                    self.stats.record_note_deduplicated()
                    return found
        raise AssertionError("unreachable")  # pragma: no cover

    # ================================================================== export
    def get_export_url(self, mutation_date: date) -> str:
        """``GET /v2/export?mutation_datetime=YYYY-MM-DD`` -> the pre-signed ZIP URL (~10 min)."""
        if not isinstance(mutation_date, date):
            raise TypeError("mutation_date must be a datetime.date")
        resp = self._call(
            "GET",
            "v2/export",
            kind="export.url",
            params={"mutation_datetime": mutation_date.strftime("%Y-%m-%d")},
        )
        url = self._json(resp, "GET", "/v2/export").get("export_url")
        if not isinstance(url, str) or urlsplit(url).scheme not in {"http", "https"}:
            raise ExportError("GET /v2/export: missing or non-http(s) export_url", status=resp.status_code)
        return url

    def export(self, mutation_date: date) -> ExportArchive:
        """Tables changed since ``mutation_date`` as ``(table, row)`` pairs; use it with ``with``.

        Entering downloads the ZIP to a temp file (fresh signed URL per attempt, retried on
        5xx/429/timeouts and on 403 -- an expired URL); leaving deletes it.
        """
        if not isinstance(mutation_date, date):
            raise TypeError("mutation_date must be a datetime.date")
        return ExportArchive(mutation_date, lambda: self._download_export(mutation_date))

    def _download_export(self, mutation_date: date) -> Path:
        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, FreshPortalError) and exc.final:
                return False
            return isinstance(exc, ServerError | RateLimitedError | TransportError | ForbiddenError)

        result: Path | None = None
        for attempt in self._retrying(retryable, "GET", "<export storage>"):
            with attempt:
                url = self.get_export_url(mutation_date)
                result = self._fetch_storage(url)
        assert result is not None
        return result

    def _fetch_storage(self, url: str) -> Path:
        parts = urlsplit(url)
        where = f"<export storage {parts.hostname}>"
        # A fresh request on a session that never holds credentials; drop any header a
        # ~/.netrc entry would add. Pre-signed storage refuses a second auth mechanism.
        request = requests.Request("GET", url, headers={"User-Agent": self.settings.user_agent})
        prepared = self._storage_session.prepare_request(request)
        prepared.headers.pop("Authorization", None)
        env = self._storage_session.merge_environment_settings(url, {}, True, None, None)
        self.stats.record_call("GET", "export.download")
        try:
            env["stream"] = True
            resp = self._storage_session.send(prepared, timeout=self.settings.timeout, **env)
        except requests.RequestException as exc:
            raise _transport_error(exc, "GET", where) from None
        self.stats.record_status(resp.status_code)
        log.debug("GET %s -> %s", where, resp.status_code)
        if not 200 <= resp.status_code < 300:
            error = error_from_response(resp, method="GET", path=where)
            resp.close()
            raise error
        fd, name = tempfile.mkstemp(prefix="freshportal-export-", suffix=".zip")
        path = Path(name)
        size = 0
        try:
            with resp, os.fdopen(fd, "wb") as out:
                for chunk in resp.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > self.settings.max_export_bytes:
                        raise ExportError(
                            f"export larger than max_export_bytes={self.settings.max_export_bytes}",
                            path=where,
                        )
                    out.write(chunk)
        except requests.RequestException as exc:
            path.unlink(missing_ok=True)
            raise _transport_error(exc, "GET", where) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        log.info("export downloaded: %d bytes", size)
        return path

    # ================================================================== internals: pages
    def _page(
        self, path: str, kind: str, cursor: str | None, limit: int | None, parse: Callable[[Any], Any]
    ) -> Page[Any]:
        size = self.settings.page_size if limit is None else limit
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be an integer within 1..{MAX_PAGE_SIZE}, got {size!r}")
        params: dict[str, Any] = {"limit": size}
        if cursor:
            params["cursor"] = cursor
        resp = self._call("GET", path, kind=kind, params=params)
        body = self._json(resp, "GET", "/" + path)
        data, next_cursor, has_more = body.get("data"), body.get("next_cursor"), body.get("has_more")
        if not isinstance(data, list) or not isinstance(next_cursor, str) or not isinstance(has_more, bool):
            raise DataError(
                f"GET /{path}: page must hold data (list), next_cursor (string) and has_more (bool)",
                field="data",
                record=kind,
            )
        return Page(tuple(parse(item) for item in data), next_cursor, has_more)

    # ================================================================== internals: HTTP
    def _call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        retry: RetryMode = "safe",
        authenticated: bool = True,
    ) -> requests.Response:
        """One logical call; ``retry="safe"`` retries 429/5xx/timeouts, ``"none"`` never repeats."""
        method = method.upper()
        url = self.settings.api_base_url + path
        log_path = "/" + path

        if retry == "none":
            try:
                return self._send(method, url, log_path, kind, params, json_body, authenticated, 1)
            except FreshPortalError as exc:
                exc.final = True
                raise

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, FreshPortalError) and exc.final:
                return False
            return isinstance(exc, RateLimitedError | ServerError | TransportError)

        response: requests.Response | None = None
        try:
            for attempt in self._retrying(retryable, method, log_path):
                with attempt:
                    response = self._send(
                        method,
                        url,
                        log_path,
                        kind,
                        params,
                        json_body,
                        authenticated,
                        attempt.retry_state.attempt_number,
                    )
        except FreshPortalError as exc:
            exc.final = True
            raise
        assert response is not None
        return response

    def _send(
        self,
        method: str,
        url: str,
        log_path: str,
        kind: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        authenticated: bool,
        attempt: int,
    ) -> requests.Response:
        """One attempt, plus one immediate repeat with a fresh token after a 401."""
        reauthenticated = False
        while True:
            headers = {"Accept": "application/json", "User-Agent": self.settings.user_agent}
            token: str | None = None
            if authenticated:
                token, _ = self._tokens.get(self._fetch_token)
                headers["Authorization"] = f"Bearer {token}"
            self.stats.record_call(method, kind)
            started = time.monotonic()
            try:
                resp = self._session.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    json=json_body,
                    headers=headers,
                    timeout=self.settings.timeout,
                )
            except requests.RequestException as exc:
                raise _transport_error(exc, method, log_path) from None
            status = resp.status_code
            self.stats.record_status(status)
            log.debug(
                "%s %s -> %s (kind=%s, request_id=%s, attempt=%d, %.0f ms)",
                method,
                log_path,
                status,
                kind,
                resp.headers.get(REQUEST_ID_HEADER),
                attempt,
                (time.monotonic() - started) * 1000,
            )
            if 200 <= status < 300:
                return resp
            if status == 401 and token is not None and not reauthenticated:
                resp.close()
                self._tokens.invalidate(token)
                self.stats.record_token_refresh()
                reauthenticated = True
                log.info("%s %s -> 401: token expired or revoked; re-authenticating once", method, log_path)
                continue
            error = error_from_response(resp, method=method, path=log_path)
            resp.close()
            raise error

    def _retrying(self, retryable: Callable[[BaseException], bool], method: str, log_path: str) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            self.stats.record_retry()
            exc = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "%s %s: attempt %d failed (%s); retrying in %.2f s",
                method,
                log_path,
                state.attempt_number,
                exc,
                wait,
            )

        return Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=lambda state: self._backoff(state.attempt_number),
            retry=retry_if_exception(retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )

    def _backoff(self, attempt: int) -> float:
        """Full jitter: ``uniform(0, min(cap, base * 2**(attempt-1)))`` -- workers must not retry in step."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * (2 ** max(attempt - 1, 0)))
        return random.uniform(0.0, ceiling)

    @staticmethod
    def _json(resp: requests.Response, method: str, path: str) -> JSON:
        """The body as a JSON object, decimals as ``Decimal`` (a float never touches an amount)."""
        try:
            data = json.loads(resp.content, parse_float=Decimal) if resp.content else {}
        except (ValueError, UnicodeDecodeError):
            raise FreshPortalError(
                "response body is not JSON",
                status=resp.status_code,
                method=method,
                path=path,
                request_id=resp.headers.get(REQUEST_ID_HEADER),
            ) from None
        if not isinstance(data, dict):
            raise FreshPortalError(
                f"expected a JSON object, got {type(data).__name__}",
                status=resp.status_code,
                method=method,
                path=path,
                request_id=resp.headers.get(REQUEST_ID_HEADER),
            )
        return data


# ====================================================================== helpers
def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _seg(value: str) -> str:
    """One path segment: ids are quoted so a hostile id cannot change the path."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValueError("id must be a non-empty string")
    return quote(value, safe="")


def _id_sort_key(value: str) -> tuple[int, int | str]:
    """Numeric ids sort numerically, others as text after them."""
    return (0, int(value)) if value.isdigit() else (1, value)


def _transport_error(exc: requests.RequestException, method: str, path: str) -> TransportError:
    """Timeouts and connection failures; ``request_sent`` is False only when no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        sent = False
    elif isinstance(exc, requests.Timeout):
        sent = True  # read timeout: the server may have acted on the request
    elif isinstance(exc, requests.ConnectionError):
        text = str(exc)
        sent = not any(
            s in text for s in ("Connection refused", "Failed to establish", "Name or service not known")
        )
    else:
        sent = True
    return TransportError(type(exc).__name__, request_sent=sent, method=method, path=path)
