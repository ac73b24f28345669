"""Reading a response body with a size cap and a wall-clock deadline.

``requests`` without ``stream=True`` buffers a whole body, however large, and its ``(connect,
read)`` timeout bounds each socket read, not the call: a server dripping one byte a second holds
the caller for as long as it likes. The transport therefore streams every API answer and reads
it here, which stops at ``limit`` bytes and at ``deadline``.

The loop uses ``read1`` (one socket read per call, whatever arrived) rather than
``iter_content``: ``iter_content``'s reads block until a whole chunk has arrived, so a drip
would never reach the deadline check between chunks. A call can overshoot the deadline by at
most one read timeout. Bodies are asked for and read without content coding (``Accept-Encoding:
identity``): urllib3's decoder reads on until it can give out a byte, so a compressed answer
dripping header bytes would hold a call past any deadline.

urllib3's exceptions are translated into the ``requests`` ones :func:`~.transport.transport_error`
already describes, so a failure while reading a body reads like one while waiting for headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
import urllib3.exceptions

#: Bytes asked of the socket per read (the answer may be shorter).
READ_CHUNK = 64 * 1024


class DeadlinePassed(Exception):
    """The body was still arriving when the attempt's wall-clock deadline passed."""


def read_limited(
    resp: requests.Response,
    limit: int,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether that was all of it.

    ``deadline`` is a ``clock()`` value; reaching it before the body ends raises
    :class:`DeadlinePassed`. One byte beyond ``limit`` is read to tell "exactly at the limit"
    from "larger". A body already in memory (``resp.content`` was read) is cut the same way.
    Never closes ``resp``: the caller does, on every path.
    """
    loaded: object = resp._content  # False until read (the stubs do not say so)
    if isinstance(loaded, bytes):  # already read: nothing left to stream
        return loaded[:limit], len(loaded) <= limit
    raw = resp.raw
    if raw is None:
        return b"", True
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        # Asked for identity (transport._headers): decoding inside urllib3 would read on until
        # the decoder gives out a byte, past any deadline, so a compressed answer is refused.
        raise requests.exceptions.ContentDecodingError(
            f"answered with Content-Encoding {encoding[:20]!r} although identity was asked", response=resp
        )
    buffer = bytearray()
    while True:
        if clock() >= deadline:
            raise DeadlinePassed
        want = min(READ_CHUNK, limit + 1 - len(buffer))
        try:
            chunk = raw.read1(want, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc, response=resp) from None
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc, response=resp) from None
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc, response=resp) from None
        except urllib3.exceptions.HTTPError as exc:  # ProtocolError: reset, incomplete body
            raise requests.ConnectionError(exc, response=resp) from None
        if not chunk:
            return bytes(buffer), True
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), False


def keep_body(resp: requests.Response, content: bytes, *, complete: bool = True) -> None:
    """Store ``content`` as the body so ``resp.content`` / ``resp.json()`` work after a close.

    ``complete=False`` (reading stopped early: too large, too slow, broken) also closes the
    connection: marked consumed, ``Response.close`` would hand it back to the pool with the rest
    of the body still unread, and the next request on it (another thread's POST, say) would be
    written to the wire and then fail as "sent, no answer", leaving a write in doubt."""
    if not complete and resp.raw is not None:
        resp.raw.close()
    resp._content = content
    resp._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag, not in its stubs
