"""Checkout.com API client: Checkout.com's endpoints on the shared HTTP layer.

Every call goes through :meth:`CheckoutClient._request`, i.e. the shared
:class:`~checkout_freshportal.http.transport.HttpTransport`, which

1. waits for a slot in the read (GET) or write (POST/...) budget (``ratelimit.py``);
2. adds ``Authorization`` (secret key or cached OAuth token), ``User-Agent`` and, for money
   moving POSTs, ``Cko-Idempotency-Key``;
3. retries per ``http/retry.py`` (429 / 5xx / transport, the latter two only when a replay is
   safe; 409 with the same idempotency key), with full-jitter exponential backoff that honours
   ``Retry-After``;
4. on a 401 with OAuth, drops the token, fetches a new one and repeats the request once;
5. maps any other non-success status to an exception from ``errors.py`` -- nothing is swallowed;
6. counts the attempt in :attr:`CheckoutClient.stats` and logs method, path (never the query),
   status, request id and attempt -- never headers, keys, tokens or bodies.

Report files are downloaded from their storage host without credentials (``http/download.py``).
Responses are returned as the API's JSON, unchanged: unknown fields are kept for the raw layer.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from ..http.transport import ErrorClasses, HttpTransport, TransportSettings
from ..timeutil import format_ts
from .auth import Authenticator, OAuthTokenAuth, SecretKeyAuth
from .errors import (
    REQUEST_ID_HEADER,
    CheckoutError,
    CheckoutTransportError,
    ResponseTooLargeError,
    UnsafeRedirectError,
    error_from_response,
)
from .pagination import (
    dedupe,
    page_items,
    walk_links,
    walk_offset,
    walk_search_windows,
)
from .params import _check_limit, _query_value, _seg, new_idempotency_key
from .ratelimit import BlockingRateLimiter
from .report_files import open_storage_stream
from .retry import BackoffPolicy
from .settings import CheckoutSettings
from .stats import READ_METHODS, CallStats

log = logging.getLogger("checkout_freshportal.checkout")

JSON = dict[str, Any]
_ERRORS = ErrorClasses(
    base=CheckoutError,
    transport=CheckoutTransportError,
    unsafe_redirect=UnsafeRedirectError,
    too_large=ResponseTooLargeError,
    from_response=error_from_response,
)
_STREAM_BUFFER = 1 << 16


class CheckoutClient:
    """Synchronous Checkout.com client; safe to share between threads of one process.

    ``session`` lets a caller supply a configured :class:`requests.Session` (proxies, CA bundle);
    the client never stores credentials on it -- auth is added per request.
    """

    def __init__(
        self,
        settings: CheckoutSettings,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = CallStats()
        self._http = HttpTransport(
            TransportSettings(
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                backoff=BackoffPolicy(settings.backoff_base, settings.backoff_cap, settings.conflict_wait),
                user_agent=settings.user_agent,
                request_id_header=REQUEST_ID_HEADER,
                max_response_bytes=settings.max_response_bytes,
                response_deadline=settings.response_deadline,
            ),
            _ERRORS,
            stats=self.stats,
            log=log,
            session=session,
            sleep=sleep,
        )
        self._read_budget = BlockingRateLimiter(settings.read_rps, name="read", sleep=self._http.sleep)
        self._write_budget = BlockingRateLimiter(settings.write_rps, name="write", sleep=self._http.sleep)
        self._auth: Authenticator
        if settings.auth_mode == "secret_key":
            self._auth = SecretKeyAuth(settings.secret_key or "")
        else:
            self._auth = OAuthTokenAuth(
                settings.client_id or "",
                settings.client_secret or "",
                settings.scopes,
                self._fetch_token,
                on_refresh=self.stats.record_token_refresh,
            )
        base = urlsplit(settings.api_base_url)
        self._base_origin = (base.scheme, base.netloc.lower())

    def __repr__(self) -> str:
        return f"CheckoutClient(base_url={self.settings.api_base_url!r}, auth={self.settings.auth_mode!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CheckoutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================== payments (reads)
    def search_payments(
        self,
        from_: datetime,
        to: datetime,
        query: str = "amount:>=0",
        limit: int = 1000,
    ) -> Iterator[JSON]:
        """Every payment with ``from_ <= requested_on < to`` matching ``query``, each once.

        ``POST /payments/search``; follow-up pages by ``GET _links.next.href``. A window whose
        only page is full (``len == limit``) without a next link is split in halves until each
        window is provably complete (min width 1 ms, else :class:`PaginationError`). Items are
        deduplicated by id within this call; the order is not guaranteed. Arguments are checked
        when called, the HTTP calls happen while iterating.
        """
        _check_limit(limit, 1, 1000, "limit")
        for value in (from_, to):
            format_ts(value)  # refuses naive datetimes before any call
        if to < from_:
            raise ValueError("search_payments: 'to' is before 'from_'")
        if len(query) > 1024:
            raise ValueError("search_payments: query longer than 1024 characters")
        return self._search_payments(from_, to, query, limit)

    def _search_payments(self, from_: datetime, to: datetime, query: str, limit: int) -> Iterator[JSON]:
        def first_page(lo: datetime, hi: datetime) -> JSON:
            body = {"query": query, "limit": limit, "from": format_ts(lo), "to": format_ts(hi)}
            resp = self._request(
                "POST",
                self._api_url("payments/search"),
                kind="payments.search",
                json_body=body,
                replay_safe=True,
            )
            return self._json(resp)

        def follow(href: str) -> JSON:
            return self._get_json(self._link_url(href), kind="payments.search")

        seen: set[str] = set()
        for page in walk_search_windows(first_page, follow, from_, to, limit):
            yield from dedupe(page_items(page, what="payments.search"), seen)

    def get_payment(self, payment_id: str) -> JSON:
        """``GET /payments/{id}`` (``pay_...`` or ``sid_...``)."""
        return self._get_json(self._api_url(f"payments/{_seg(payment_id)}"), kind="payments.get")

    def get_payment_actions(self, payment_id: str) -> list[JSON]:
        """``GET /payments/{id}/actions``: a bare JSON array, newest first."""
        resp = self._request(
            "GET", self._api_url(f"payments/{_seg(payment_id)}/actions"), kind="payments.actions"
        )
        data = self._json_any(resp)
        if isinstance(data, dict) and isinstance(data.get("data"), list):  # tolerate a wrapped form
            data = data["data"]
        if data is None:
            return []
        if not isinstance(data, list):
            raise CheckoutError(
                f"expected a JSON array, got {type(data).__name__}",
                method="GET",
                path=f"/payments/{payment_id}/actions",
            )
        return data

    def list_payments_by_reference(self, reference: str, limit: int = 100) -> Iterator[JSON]:
        """``GET /payments?reference=`` paged by ``limit``/``skip`` until ``total_count``."""
        _check_limit(limit, 1, 100, "limit")
        if not reference:
            raise ValueError("reference is required")
        params = {"reference": reference, "limit": limit}
        return self._iter_offset(self._api_url("payments"), params, limit, kind="payments.list")

    # ================================================================== disputes
    def list_disputes(
        self,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 250,
        **filters: Any,
    ) -> Iterator[JSON]:
        """``GET /disputes`` (``from``/``to`` filter on ``last_update``), skip/limit paging.

        The list is newest-first by last update, so a dispute updated while we page moves to the
        top and shifts the rest down: we may see an item twice (deduplicated by id here) and, if
        an item leaves a bounded ``[from, to)`` window mid-walk, miss one that shifted up across
        a page boundary. Callers re-read with an overlap (``IngestSettings.disputes_overlap``).
        Filters: ``statuses=["won", "lost"]`` (lists are comma-joined), ``payment_id=...``,
        ``this_channel_only=True`` etc., passed as query parameters.
        """
        _check_limit(limit, 1, 250, "limit")
        base_params: dict[str, Any] = {"limit": limit}
        if from_ is not None:
            base_params["from"] = format_ts(from_)
        if to is not None:
            base_params["to"] = format_ts(to)
        for key, value in filters.items():
            if key in {"limit", "skip", "from", "to"}:
                raise ValueError(f"list_disputes: pass {key!r} as an argument, not a filter")
            encoded = _query_value(value)
            if encoded is not None:
                base_params[key] = encoded
        return self._iter_offset(self._api_url("disputes"), base_params, limit, kind="disputes.list")

    def get_dispute(self, dispute_id: str) -> JSON:
        """``GET /disputes/{id}``: the details view, whose ``payment{...}`` nests what the list
        flattens (``method``, ``arn``, ``action_id``) and which carries ``reason_code`` and the
        entity even when a list item lacks them (docs/checkout-com.md#disputes)."""
        return self._get_json(self._api_url(f"disputes/{_seg(dispute_id)}"), kind="disputes.get")

    # ================================================================== financial actions, reports
    def list_financial_actions(
        self,
        payment_id: str | None = None,
        action_id: str | None = None,
        limit: int = 100,
    ) -> Iterator[JSON]:
        """``GET /financial-actions``; the next page's token exists only in ``_links.next.href``."""
        _check_limit(limit, 1, 100, "limit")
        params: dict[str, Any] = {"limit": limit}
        if payment_id is not None:
            params["payment_id"] = payment_id
        if action_id is not None:
            params["action_id"] = action_id
        return self._iter_links(
            self._api_url("financial-actions"), params, kind="financial_actions.list", dedupe_key=None
        )

    def list_reports(
        self,
        created_after: datetime,
        created_before: datetime | None = None,
        limit: int = 100,
    ) -> Iterator[JSON]:
        """``GET /reports?created_after=&created_before=``, following ``_links.next.href``."""
        _check_limit(limit, 1, 100, "limit")
        params: dict[str, Any] = {"created_after": format_ts(created_after), "limit": limit}
        if created_before is not None:
            params["created_before"] = format_ts(created_before)
        return self._iter_links(self._api_url("reports"), params, kind="reports.list", dedupe_key="id")

    def get_report(self, report_id: str) -> JSON:
        return self._get_json(self._api_url(f"reports/{_seg(report_id)}"), kind="reports.get")

    @contextlib.contextmanager
    def open_report_file(self, report_id: str, file_id: str) -> Iterator[IO[bytes]]:
        """Stream one report file: ``with client.open_report_file(r, f) as raw: ...``.

        Yields a buffered binary file (``io.BufferedReader`` over urllib3's content-decoded
        response stream: ``read``, ``read1``, ``readline``, ``peek``, iteration by lines) that
        is read incrementally -- the file is never held in memory. For CSV, wrap it:
        ``csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))`` or use
        :meth:`open_report_text`.

        ``GET /reports/{id}/files/{file_id}`` is sent with redirects disabled; its redirect is
        followed by hand through a separate session that carries **no** ``Authorization``
        header (a pre-signed storage URL must never see the bearer token, and S3-style storage
        refuses requests that carry one). A 5xx/429/403 or transport failure from storage is
        retried by asking the API for a fresh signed URL. A failure *while reading* the body is
        not retried here: the consumer has seen part of the file, so it must restart the load.
        """
        api_url = self._api_url(f"reports/{_seg(report_id)}/files/{_seg(file_id)}")
        stream = open_storage_stream(
            self._http,
            lambda: self._request("GET", api_url, kind="reports.file", stream=True, accept_redirect=True),
            api_url,
            warn_plain_http=self._base_origin[0] == "https",
        )
        try:
            raw = stream.raw
            raw.decode_content = True
            # Stay "open" at EOF so wrappers (BufferedReader, TextIOWrapper for csv) can read to
            # the end and detach; the response itself is closed below when the block ends.
            raw.auto_close = False
            yield io.BufferedReader(raw, buffer_size=_STREAM_BUFFER)
        finally:
            stream.close()

    @contextlib.contextmanager
    def open_report_text(
        self, report_id: str, file_id: str, encoding: str = "utf-8-sig"
    ) -> Iterator[io.TextIOWrapper]:
        """:meth:`open_report_file` as text ready for :mod:`csv` (``newline=""``, BOM stripped)."""
        with self.open_report_file(report_id, file_id) as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, newline="")
            try:
                yield text
            finally:
                with contextlib.suppress(ValueError):  # already closed by the caller
                    text.detach()

    # ================================================================== writes
    def request_payment(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> JSON:
        """``POST /payments`` (201 processed / 202 pending). Always idempotent: a key is sent."""
        return self._post_idempotent("payments", body, idempotency_key, kind="payments.request")

    def capture_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> JSON:
        """``POST /payments/{id}/captures`` -> 202 ``{"action_id": ..., "reference": ...}``."""
        return self._post_idempotent(
            f"payments/{_seg(payment_id)}/captures", body, idempotency_key, kind="payments.capture"
        )

    def refund_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> JSON:
        """``POST /payments/{id}/refunds`` -> 202 ``{"action_id": ...}``; 403 before capture."""
        return self._post_idempotent(
            f"payments/{_seg(payment_id)}/refunds", body, idempotency_key, kind="payments.refund"
        )

    def void_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> JSON:
        """``POST /payments/{id}/voids`` -> 202 ``{"action_id": ...}``; 403 after capture."""
        return self._post_idempotent(
            f"payments/{_seg(payment_id)}/voids", body, idempotency_key, kind="payments.void"
        )

    def create_payment_link(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> JSON:
        """``POST /payment-links`` -> 201 ``{"id": "pl_...", "_links": {"redirect": ...}}``.

        Idempotency keys are not documented for links, so a 5xx or a timeout after sending is
        *not* retried (a replay could create a second link); 429 and connect failures are.
        Callers recover by looking the link up by reference / their own intent row. A key, when
        given, is still sent: if Checkout.com honours it, a replay by the caller is exact.
        """
        resp = self._request(
            "POST",
            self._api_url("payment-links"),
            kind="payment_links.create",
            json_body=dict(body),
            idempotency_key=idempotency_key,
            replay_safe=False,
        )
        return self._json(resp)

    def get_payment_link(self, link_id: str) -> JSON:
        return self._get_json(self._api_url(f"payment-links/{_seg(link_id)}"), kind="payment_links.get")

    def create_workflow(self, body: Mapping[str, Any]) -> JSON:
        """``POST /workflows`` -> 201 ``{"id": "wf_..."}``; not replayed on 5xx (not idempotent)."""
        resp = self._request(
            "POST",
            self._api_url("workflows"),
            kind="workflows.create",
            json_body=dict(body),
            replay_safe=False,
        )
        return self._json(resp)

    # ================================================================== internals: URLs
    def _api_url(self, path: str) -> str:
        return urljoin(self.settings.api_base_url, path.lstrip("/"))

    def _link_url(self, href: str) -> str:
        """Resolve an API-provided link and refuse hosts that must not receive our credentials.

        Allowed: the configured API origin, or any ``https://*.checkout.com`` host (the API may
        answer with links on its non-prefixed host). Anything else would hand the bearer token to
        a third party, so it raises :class:`UnsafeRedirectError`.

        The link is judged by the parser that will send it too (urllib3's): the two disagree on
        some forms (``https://evil.example\\@api.checkout.com/`` is ``api.checkout.com`` to
        ``urlsplit`` and ``evil.example`` to urllib3), so a link they read differently, or one
        with credentials, a backslash, spaces, control or non-ASCII characters (none of which a
        Checkout.com link has), is refused; the URL sent is rebuilt from the checked parts.
        """
        if not href.isascii() or any(c <= " " or c in "\\\x7f" for c in href):
            raise UnsafeRedirectError("refusing a link with spaces, backslashes or control characters")
        url = urljoin(self.settings.api_base_url, href)
        parts = urlsplit(url)
        try:
            sent = parse_url(url)
            same = (
                (sent.host or "").strip("[]").lower() == (parts.hostname or "").lower()
                and sent.port == parts.port
                and (sent.scheme or "").lower() == parts.scheme.lower()
            )
        except (LocationParseError, ValueError):  # ValueError: a port that is no number
            same = False
        if not same or "@" in parts.netloc:
            raise UnsafeRedirectError("refusing a link its parsers read differently", path=parts.path)
        origin = (parts.scheme, parts.netloc.lower())
        host = (parts.hostname or "").lower()
        rebuilt = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        if origin == self._base_origin:
            return rebuilt
        if parts.scheme == "https" and (host == "checkout.com" or host.endswith(".checkout.com")):
            return rebuilt
        raise UnsafeRedirectError(
            f"refusing to send credentials to link host {parts.scheme}://{parts.netloc}",
            path=parts.path,
        )

    # ================================================================== internals: HTTP
    def _get_json(self, url: str, *, kind: str, params: Mapping[str, Any] | None = None) -> JSON:
        return self._json(self._request("GET", url, kind=kind, params=params))

    def _iter_offset(self, url: str, params: Mapping[str, Any], limit: int, *, kind: str) -> Iterator[JSON]:
        """Items of a ``limit``/``skip``/``total_count`` listing, deduplicated by id."""

        def fetch(skip: int) -> JSON:
            return self._get_json(url, kind=kind, params={**params, "skip": skip})

        seen: set[str] = set()
        for page in walk_offset(fetch, limit, what=kind):
            yield from dedupe(page_items(page, what=kind), seen)

    def _iter_links(
        self, url: str, params: Mapping[str, Any], *, kind: str, dedupe_key: str | None
    ) -> Iterator[JSON]:
        """Items of a listing whose next page is only reachable through ``_links.next.href``."""
        first = self._get_json(url, kind=kind, params=params)
        seen: set[str] = set()
        for page in walk_links(
            first, lambda href: self._get_json(self._link_url(href), kind=kind), what=kind
        ):
            items = page_items(page, what=kind)
            if dedupe_key is None:
                yield from items
            else:
                yield from dedupe(items, seen, key=dedupe_key)

    def _post_idempotent(
        self, path: str, body: Mapping[str, Any] | None, idempotency_key: str | None, *, kind: str
    ) -> JSON:
        key = idempotency_key if idempotency_key is not None else new_idempotency_key()
        if not key or len(key) > 255 or any(ch in key for ch in "\r\n"):
            raise ValueError("idempotency_key must be a non-empty single-line string of at most 255 chars")
        resp = self._request(
            "POST", self._api_url(path), kind=kind, json_body=dict(body or {}), idempotency_key=key
        )
        return self._json(resp)

    def _request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        replay_safe: bool | None = None,
        stream: bool = False,
        accept_redirect: bool = False,
    ) -> requests.Response:
        """One authenticated, paced call with the full retry policy; returns a 2xx (or accepted 3xx).

        Redirects are never followed with credentials: an unexpected 3xx raises
        :class:`UnexpectedStatusError` (the report file redirect is handled explicitly).
        """
        headers = {"Cko-Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return self._http.request(
            method,
            url,
            kind=kind,
            replay_safe=replay_safe,
            idempotency_key_sent=idempotency_key is not None,
            auth=self._auth,
            pace=self._pace,
            headers=headers,
            params=params,
            json_body=json_body,
            stream=stream,
            accept_redirect=accept_redirect,
        )

    def _pace(self, method: str) -> None:
        """Wait for a slot in the account budget this method draws from (reads vs writes)."""
        budget = self._read_budget if method in READ_METHODS else self._write_budget
        self.stats.record_throttle_wait(budget.acquire())

    def _fetch_token(self, form: dict[str, str], basic: tuple[str, str]) -> JSON:
        """OAuth client-credentials exchange; goes through the retry policy like any call.

        Not paced: the token endpoint is the access host, outside the API's rate budgets.
        """
        resp = self._http.request(
            "POST", self.settings.oauth_token_url, kind="token", replay_safe=True, form=form, basic=basic
        )
        return self._json(resp)

    # ================================================================== internals: bodies
    def _json(self, resp: requests.Response) -> JSON:
        return self._http.json_object(resp)

    def _json_any(self, resp: requests.Response) -> Any:
        return self._http.json_value(resp)
