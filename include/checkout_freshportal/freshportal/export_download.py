"""Fetching the bulk export: a fresh signed URL per attempt, streamed to a size-capped temp file.

The signed URL lives about ten minutes, so a storage 403 means it expired and a new URL may cure
it -- that is why the URL is asked for inside each attempt rather than once. The ZIP goes to a
temporary file, never to memory, and a download larger than ``max_bytes`` is refused mid-stream;
on any failure the partial file is removed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ..http.download import download
from ..http.transport import HttpTransport, transport_error
from .errors import (
    ExportError,
    ForbiddenError,
    FreshPortalError,
    RateLimitedError,
    ServerError,
    TransportError,
)

log = logging.getLogger("checkout_freshportal.freshportal")

_CHUNK = 1024 * 256


def download_export(
    http: HttpTransport,
    export_url: Callable[[], str],
    *,
    max_bytes: int,
    timeout: tuple[float, float],
) -> Path:
    """Download the export ZIP named by ``export_url()`` to a temp file; the caller deletes it."""

    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, FreshPortalError) and exc.final:
            return False
        # 403 from storage = the signed URL expired: a fresh one may cure it.
        return isinstance(exc, ServerError | RateLimitedError | TransportError | ForbiddenError)

    result: Path | None = None
    for attempt in http.retrying(retryable, "GET <export storage>"):
        with attempt:
            url = export_url()
            resp = download(
                http,
                url,
                kind="export.download",
                label="export storage",
                attempt=attempt.retry_state.attempt_number,
            )
            result = _save_export(
                resp, f"<export storage {urlsplit(url).hostname}>", max_bytes=max_bytes, timeout=timeout
            )
    assert result is not None
    return result


def _save_export(
    resp: requests.Response, where: str, *, max_bytes: int, timeout: tuple[float, float]
) -> Path:
    """Stream the ZIP to a temp file, refusing more than ``max_bytes``."""
    fd, name = tempfile.mkstemp(prefix="freshportal-export-", suffix=".zip")
    path = Path(name)
    size = 0
    try:
        with resp, os.fdopen(fd, "wb") as out:
            for chunk in resp.iter_content(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ExportError(f"export larger than max_export_bytes={max_bytes}", path=where)
                out.write(chunk)
    except requests.RequestException as exc:
        path.unlink(missing_ok=True)
        raise transport_error(exc, "GET", where, timeout, TransportError) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("export downloaded: %d bytes", size)
    return path
