"""Downloads from pre-signed storage URLs, which must never receive our credentials.

Both APIs hand out report or export files as a redirect or a URL on a storage host. That host
must never see the bearer token or API key (it is a third party, and S3-style storage refuses a
request carrying a second auth mechanism), so the file is fetched through the transport's
storage session, which is never given auth, and any ``Authorization`` header a ``~/.netrc``
entry would add is dropped. Only ``http``/``https`` URLs are followed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from .transport import HttpTransport, transport_error


def download(
    transport: HttpTransport, url: str, *, kind: str, label: str, attempt: int = 1
) -> requests.Response:
    """Open ``url`` as a streamed 2xx response without credentials; the caller closes it.

    ``kind`` keys the call in the stats; errors and logs say ``<{label} {host}>``, never the
    URL (its query is the signature). A non-2xx answer
    raises the client's error for that status (a 403 is usually an expired signature: callers
    ask the API for a fresh URL and try again).
    """
    parts = urlsplit(url)
    where = f"<{label} {parts.hostname}>"
    errors = transport.errors
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.unsafe_redirect(f"download URL with unsupported scheme {parts.scheme!r}", path=where)
    settings = transport.settings
    session = transport.storage_session
    prepared = session.prepare_request(
        requests.Request("GET", url, headers={"User-Agent": settings.user_agent})
    )
    prepared.headers.pop("Authorization", None)
    env = session.merge_environment_settings(url, {}, True, None, None)  # proxies, CA bundle; stream
    transport.stats.record_call("GET", kind)
    try:
        resp = session.send(prepared, timeout=settings.timeout, allow_redirects=True, **env)
    except requests.RequestException as exc:
        raise transport_error(exc, "GET", where, settings.timeout, errors.transport) from None
    transport.stats.record_status(resp.status_code)
    transport.log.debug("GET %s -> %s (attempt=%d)", where, resp.status_code, attempt)
    if 200 <= resp.status_code < 300:
        return resp
    error = errors.from_response(resp, method="GET", path=where)
    resp.close()
    raise error
