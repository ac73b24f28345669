"""Report files: a fresh signed URL from the API, then the file from storage without credentials.

``GET /reports/{id}/files/{file_id}`` answers with a redirect to a pre-signed storage URL
(architecture decision 3). The redirect is followed by hand through the transport's
credential-free download, never by ``requests`` with the bearer token. A failure from storage
-- 5xx, 429, a transport error, or a 403 because the signature expired -- is retried by asking
the API again for a *fresh* URL, with the shared backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import requests

from ..http.download import download
from ..http.transport import HttpTransport
from .errors import (
    ActionNotAllowedError,
    CheckoutError,
    CheckoutTransportError,
    RateLimitedError,
    ServerError,
)

log = logging.getLogger("checkout_freshportal.checkout")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _storage_retryable(exc: BaseException) -> bool:
    if isinstance(exc, CheckoutError) and exc.final:
        return False  # the API hop already spent its retries on this error
    # 403 from storage = signature expired/refused: a fresh signed URL may cure it.
    return isinstance(exc, ServerError | RateLimitedError | CheckoutTransportError | ActionNotAllowedError)


def open_storage_stream(
    http: HttpTransport,
    ask_api: Callable[[], requests.Response],
    api_url: str,
    *,
    warn_plain_http: bool,
) -> requests.Response:
    """The file as a streamed response; ``ask_api`` makes the authenticated, redirect-less API call.

    If the API serves the file itself (2xx instead of a redirect), that response is returned.
    ``warn_plain_http``: the API is https, so a plain-http storage URL deserves a warning.
    """
    api_path = urlsplit(api_url).path
    result: requests.Response | None = None
    for attempt in http.retrying(_storage_retryable, "GET <report storage>"):
        with attempt:
            first = ask_api()
            if first.status_code not in _REDIRECTS:
                result = first
                continue
            location = first.headers.get("Location")
            first.close()
            if not location:
                raise CheckoutError(
                    "redirect without Location", status=first.status_code, method="GET", path=api_path
                )
            storage_url = urljoin(first.url or api_url, location)
            if warn_plain_http and urlsplit(storage_url).scheme == "http":
                log.warning("report file storage URL is plain http (host %s)", urlsplit(storage_url).hostname)
            result = download(
                http,
                storage_url,
                kind="reports.storage",
                label="report storage",
                attempt=attempt.retry_state.attempt_number,
            )
    assert result is not None
    return result
