"""FreshPortal API client: tenant host, token auth, strict parsing, retries, no blind creates.

Every call goes through :meth:`FreshPortalClient._call`, i.e. the shared
:class:`~checkout_freshportal.http.transport.HttpTransport`, which

1. adds ``Authorization: Bearer <token>``; the token comes from ``POST /v1/auth`` with the API
   key, is cached and shared by the client's threads, and on a 401 is dropped and fetched again
   -- once -- before the request is repeated (tokens expire; no lifetime is published);
2. retries 429, 5xx and timeouts with full-jitter exponential backoff that honours
   ``Retry-After`` (``http/retry.py``) -- but only when repeating cannot double an effect:
   reads, ``POST /v1/auth`` and the ``PUT`` writes, which replace a sub-resource and are
   idempotent by construction;
3. maps every other failure to an exception from ``errors.py`` -- nothing is swallowed;
4. counts each attempt in :attr:`FreshPortalClient.stats` and logs method, path (never the
   query), status, request id and attempt -- never headers, keys, tokens or bodies.

Creates are different: FreshPortal accepts a duplicate create (docs/freshportal.md#known-vs-assumed), so
``create_note`` is never retried blindly. It looks for a note with our ``external_ref`` first,
and after a failed or timed-out POST it looks *again* before posting again: a 500 sent after the
server stored the note must not produce a second note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests

from ..http.retry import BackoffPolicy
from ..http.transport import ErrorClasses, HttpTransport, TransportSettings
from ..logsafe import safe, safe_masked
from .bearer import BearerToken
from .errors import (
    REQUEST_ID_HEADER,
    AuthenticationError,
    DataError,
    ExportError,
    FreshPortalError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnsafeRedirectError,
    error_from_response,
)
from .export import ExportArchive
from .export_download import download_export
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
    note_from_listing,
    order_from_api,
    payment_from_api,
    payment_update_body,
    refund_outcome_body,
    refund_request_from_api,
)
from .releases import FulfilmentRelease, fulfilment_release_from_api
from .settings import MAX_PAGE_SIZE, FreshPortalSettings
from .stats import CallStats

log = logging.getLogger("checkout_freshportal.freshportal")

JSON = dict[str, Any]
RetryMode = Literal["safe", "none"]
MAX_EXTERNAL_REF = 200
_ERRORS = ErrorClasses(
    base=FreshPortalError,
    transport=TransportError,
    unsafe_redirect=UnsafeRedirectError,
    too_large=ResponseTooLargeError,
    from_response=error_from_response,
)


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
        self.stats = CallStats()
        self._http = HttpTransport(
            TransportSettings(
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                backoff=BackoffPolicy(settings.backoff_base, settings.backoff_cap),
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
        self._tokens = BearerToken(self._fetch_token, self.stats.record_token_refresh)

    def __repr__(self) -> str:
        return f"FreshPortalClient(base_url={self.settings.api_base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FreshPortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================== auth
    def authenticate(self) -> None:
        """Fetch a token now (e.g. to test a connection); normally this happens lazily."""
        self._tokens.authorization()

    def _fetch_token(self) -> str:
        """``POST /v1/auth`` with ``{"username": <api key>, "type": "api"}`` -> ``{"token"}``."""
        refused: AuthenticationError | None = None
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
            # A fresh error, not the server's with its message replaced: its text (which may
            # echo the key) must not survive in args, repr() or __context__, so it is raised
            # outside this block (``from None`` only hides the context, it keeps it).
            refused = AuthenticationError(
                "API key refused (key not shown)",
                status=exc.status,
                request_id=exc.request_id,
                method=exc.method,
                path=exc.path,
                code=exc.code if exc.code and self.settings.api_key not in exc.code else None,
            )
        except FreshPortalError as exc:
            # Any other refusal of the key exchange may quote the username we sent: the key.
            if self.settings.api_key in exc.message:
                exc.message = exc.message.replace(self.settings.api_key, "[API key]")
            raise
        if refused is not None:
            raise refused
        token = self._json(resp).get("token")
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
        return ChangeFeed(
            lambda c: self.get_orders_page(c, limit),
            since_cursor,
            what="orders",
            max_pages=self.settings.max_feed_pages,
        )

    def get_order(self, order_id: str) -> Order:
        """``GET /v1/orders/{order_id}``."""
        path = f"v1/orders/{_seg(order_id)}"
        resp = self._call("GET", path, kind="orders.get")
        return order_from_api(self._json(resp), self.mapping)

    def write_payment_status(self, order_id: str, update: PaymentStatusUpdate) -> OrderPayment:
        """``PUT /v1/orders/{order_id}/payment``: replace the order's payment sub-resource.

        Idempotent (same body -> same state), hence retried like a read. A lower ``sequence``
        than the stored one is refused by the server with 409 (:class:`~.errors.ConflictError`).
        """
        body = payment_update_body(update, self.mapping)
        path = f"v1/orders/{_seg(order_id)}/payment"
        resp = self._call("PUT", path, kind="orders.payment.put", json_body=body, retry="safe")
        return payment_from_api(self._json(resp), self.mapping, record=f"order {order_id}")

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
            lambda c: self.get_refund_requests_page(c, limit),
            since_cursor,
            what="refund requests",
            max_pages=self.settings.max_feed_pages,
        )

    def get_refund_request(self, refund_request_id: str) -> RefundRequest:
        """``GET /v1/refund-requests/{id}``."""
        path = f"v1/refund-requests/{_seg(refund_request_id)}"
        resp = self._call("GET", path, kind="refund_requests.get")
        return refund_request_from_api(self._json(resp), self.mapping)

    def write_refund_outcome(self, refund_request_id: str, outcome: RefundOutcome) -> RefundRequest:
        """``PUT /v1/refund-requests/{id}/outcome`` (idempotent replace; retried like a read)."""
        body = refund_outcome_body(outcome, self.mapping)
        path = f"v1/refund-requests/{_seg(refund_request_id)}/outcome"
        resp = self._call("PUT", path, kind="refund_requests.outcome.put", json_body=body, retry="safe")
        return refund_request_from_api(self._json(resp), self.mapping)

    # ================================================================== fulfilment releases
    def get_fulfilment_releases_page(
        self, cursor: str | None = None, limit: int | None = None
    ) -> Page[FulfilmentRelease]:
        """One page of ``GET /v1/fulfilment-releases?cursor=&limit=`` (assumed feed)."""
        return self._page(
            "v1/fulfilment-releases",
            "fulfilment_releases.list",
            cursor,
            limit,
            lambda raw: fulfilment_release_from_api(raw, self.mapping),
        )

    def iter_fulfilment_releases_changed(
        self, since_cursor: str | None = None, *, limit: int | None = None
    ) -> ChangeFeed[FulfilmentRelease]:
        """Every release changed after ``since_cursor`` (see :meth:`iter_orders_changed`)."""
        return ChangeFeed(
            lambda c: self.get_fulfilment_releases_page(c, limit),
            since_cursor,
            what="fulfilment releases",
            max_pages=self.settings.max_feed_pages,
        )

    def get_fulfilment_release(self, release_id: str) -> FulfilmentRelease:
        """``GET /v1/fulfilment-releases/{id}``."""
        path = f"v1/fulfilment-releases/{_seg(release_id)}"
        resp = self._call("GET", path, kind="fulfilment_releases.get")
        return fulfilment_release_from_api(self._json(resp), self.mapping)

    # ================================================================== notes
    def list_notes(self, order_id: str) -> list[Note]:
        """``GET /v1/orders/{order_id}/notes``: every note of the order, oldest first."""
        path = f"v1/orders/{_seg(order_id)}/notes"
        resp = self._call("GET", path, kind="notes.list")
        data = self._json(resp).get("data")
        if not isinstance(data, list):
            raise DataError(f"GET /{path}: 'data' is not a list", field="data", record=f"order {order_id}")
        return [note_from_api(item, self.mapping) for item in data]

    def _notes_to_search(self, order_id: str) -> list[Note]:
        """The notes of ``order_id`` read only as far as finding ours needs.

        A note someone else wrote that does not even read that far is skipped with a warning:
        failing the look-up on it would leave our own note unposted for good (a permanent
        :class:`DataError`), while skipping it can at worst miss a note of ours that is equally
        unreadable, and ours are never written that way.
        """
        path = f"v1/orders/{_seg(order_id)}/notes"
        resp = self._call("GET", path, kind="notes.list")
        data = self._json(resp).get("data")
        if not isinstance(data, list):
            raise DataError(f"GET /{path}: 'data' is not a list", field="data", record=f"order {order_id}")
        notes: list[Note] = []
        for index, item in enumerate(data):
            try:
                notes.append(note_from_listing(item, self.mapping, order_id))
            except DataError as exc:
                log.warning(
                    "order %s: skipping note #%d of its listing, which does not read: %s",
                    safe(order_id),
                    index,
                    safe_masked(str(exc)),
                )
        return notes

    def find_note(self, order_id: str, external_ref: str) -> Note | None:
        """The note of ``order_id`` carrying ``external_ref`` (the oldest if duplicates exist)."""
        matches = [n for n in self._notes_to_search(order_id) if n.external_ref == external_ref]
        if len(matches) > 1:
            log.warning(
                "order %s has %d notes with one external_ref (created elsewhere?); using the oldest",
                safe(order_id),
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
                return note_from_api(self._json(resp), self.mapping)
            except (RateLimitedError, ServerError, TransportError) as exc:
                if attempt >= attempts:
                    raise
                wait = self._http.settings.backoff.delay(attempt, exc)
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
                self._http.sleep(wait)
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
        url = self._json(resp).get("export_url")
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
        return ExportArchive(
            mutation_date,
            lambda: download_export(
                self._http,
                lambda: self.get_export_url(mutation_date),
                max_bytes=self.settings.max_export_bytes,
                timeout=self.settings.timeout,
            ),
        )

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
        body = self._json(resp)
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
        return self._http.request(
            method,
            self.settings.api_base_url + path,
            kind=kind,
            path="/" + path,
            replay_safe=retry == "safe",
            retry=retry == "safe",
            auth=self._tokens if authenticated else None,
            params=params,
            json_body=json_body,
        )

    def _json(self, resp: requests.Response) -> JSON:
        """The body as a JSON object, decimals as ``Decimal`` (a float never touches an amount)."""
        return self._http.json_object(resp, exact=True)


# ====================================================================== helpers
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
