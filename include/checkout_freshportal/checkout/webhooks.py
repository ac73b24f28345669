"""Checkout.com webhook deliveries: signature verification and envelope parsing, pure functions.

docs/checkout-com.md#webhook-signatures: ``Cko-Signature`` is the hex HMAC-SHA256 of the **raw**
request body keyed with the workflow action's signature key. Anything that re-serialises the body
first (a framework's ``request.json()`` then ``json.dumps``) changes number formatting or escaping
and breaks the match, so everything here works on the bytes as received.

docs/checkout-com.md#webhook-payloads: two envelope shapes are delivered (``created_on`` or
``timestamp``), ``version`` varies per event and extra keys appear; :func:`parse_envelope` accepts
both and keeps every key.

Used by the sidecar (``checkout_freshportal.sidecar``), and by anything that has to send or
re-verify a delivery (the sandbox, the demo, tests): no I/O, no settings, no logging.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checkout_freshportal.timeutil import TimestampError, parse_ts

SIGNATURE_HEADER = "Cko-Signature"
_HEX_DIGITS = frozenset("0123456789abcdef")

#: Longest event id, type or subject id accepted. Checkout.com ids are ``evt_`` plus 26
#: characters; the bound keeps a hostile id far below PostgreSQL's index row limit (~2.7 kB).
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 100
# Letters, digits, "_", "-" and ".": Checkout.com's ids are a prefix and base32. No control
# character (a NUL is refused by PostgreSQL text, a newline forges log records), no lone
# surrogate, nothing a terminal interprets; no "@" (an e-mail address as the primary key, beside
# a body where it is masked) and no ":" (the ``poison:<sha256>`` keys are the sidecar's own).
_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_TYPE = re.compile(r"[a-z0-9_.]+")


def sign(raw: bytes, key: bytes | str) -> str:
    """The ``Cko-Signature`` value Checkout.com sends for ``raw`` (lower-case hex)."""
    k = key.encode() if isinstance(key, str) else key
    return hmac.new(k, raw, hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, keys: Sequence[bytes]) -> int | None:
    """Index of the key in ``keys`` whose HMAC-SHA256 of ``raw`` equals ``header``, else None.

    Several keys exist during a rotation (old and new both active); any may match. Every key is
    compared, with :func:`hmac.compare_digest`, even after a match, so neither the answer nor its
    timing tells which key (or how much of a digest) was right. Upper-case hex is accepted (hex
    is case-insensitive; Checkout.com documents lower case). A missing, empty or malformed header
    is simply no match.
    """
    if not keys or not signature_well_formed(header):
        return None
    assert header is not None
    expected = header.strip().lower().encode("ascii")
    found: int | None = None
    for i, key in enumerate(keys):
        digest = hmac.new(key, raw, hashlib.sha256).hexdigest().encode("ascii")
        if hmac.compare_digest(digest, expected) and found is None:
            found = i
    return found


def signature_well_formed(header: str | None) -> bool:
    """The header could be a ``Cko-Signature`` at all (64 hex digits): what the receiver checks
    before it reads a body, so a caller that can never be verified holds no memory for one."""
    if not header:
        return False
    candidate = header.strip().lower()
    return len(candidate) == 64 and _HEX_DIGITS.issuperset(candidate)


def authorization_matches(header: bytes | str | None, accepted: Sequence[str]) -> bool:
    """Constant-time check of the optional static ``Authorization`` header
    (docs/checkout-com.md#webhook-signatures).

    ``accepted`` may hold more than one value while the header is being rotated. The header is
    compared as the bytes that arrived with the configured value's UTF-8 bytes (a header given
    as ``str`` is taken as UTF-8 too): decoding it as Latin-1 first made a non-ASCII value never
    match. Both sides are hashed before the comparison, so its time does not tell the accepted
    value's length either.
    """
    if header is None or not accepted:
        return False
    raw = header.encode("utf-8") if isinstance(header, str) else header
    given = hashlib.sha256(raw.strip()).digest()
    ok = False
    for value in accepted:
        ok |= hmac.compare_digest(given, hashlib.sha256(value.encode("utf-8")).digest())
    return ok


class MalformedEnvelope(ValueError):
    """The body is not a usable event envelope. The message names the defect, never the content."""


@dataclass(frozen=True)
class WebhookEnvelope:
    """One delivered event. ``raw`` is the whole decoded JSON object, unknown keys included."""

    id: str
    type: str
    occurred_at: datetime | None  # ``created_on`` (workflows) or ``timestamp`` (events API shape)
    version: str | None
    data: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def subject_id(self) -> str | None:
        """``data.id``: the payment (``pay_``) or dispute (``dsp_``) the event is about."""
        value = self.data.get("id")
        return value if isinstance(value, str) and value else None


def body_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def poison_event_id(raw: bytes) -> str:
    """Key of a body without a readable event id: a resend of the same bytes is a duplicate."""
    return "poison:" + body_sha256(raw)


def decode_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 (a BOM is a defect), no NaN or Infinity (not JSON, though Python reads them).

    Every way a body can defeat the parser is a :class:`MalformedEnvelope`, so a signed body can
    never escape as a server error: nesting deeper than the interpreter's recursion limit
    (``RecursionError``; 2,000 levels fit in 4 kB) and an integer longer than Python's digit
    limit (a plain ``ValueError``) included.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEnvelope(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedEnvelope(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise MalformedEnvelope("JSON nested too deeply") from None
    except MalformedEnvelope:
        raise
    except ValueError:
        raise MalformedEnvelope("JSON value out of range (integer too long)") from None


def valid_event_id(value: object) -> bool:
    """An id that is safe as a primary key, in an index and in a log line (see ``_ID``)."""
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and _ID.fullmatch(value) is not None


def valid_event_type(value: object) -> bool:
    """Checkout.com event types are lower-case words joined by ``_`` (``payment_captured``)."""
    return isinstance(value, str) and len(value) <= MAX_TYPE_LENGTH and _TYPE.fullmatch(value) is not None


def _refuse_constant(name: str) -> Any:
    raise MalformedEnvelope(f"invalid JSON constant {name}")


def parse_envelope(raw: bytes) -> WebhookEnvelope:
    """Parse a delivery; raises :class:`MalformedEnvelope` when it cannot be applied.

    Required: a JSON object with a string ``id`` (printable ASCII, at most ``MAX_ID_LENGTH``
    characters) and ``type`` (``[a-z0-9_.]``, at most ``MAX_TYPE_LENGTH``); ``data`` an object
    when present, whose ``id``, if any, is a valid id too. These are checked here, before any
    of them reaches SQL: PostgreSQL refuses a NUL or a lone surrogate in text and an index entry
    over ~2.7 kB, and such a refusal would otherwise fail a whole group commit.

    Tolerated: ``created_on`` or ``timestamp`` (an unparsable one gives ``occurred_at`` None
    rather than losing the event: ordering never relies on it), any ``version``, any extra key.
    """
    doc = decode_json(raw)
    if not isinstance(doc, dict):
        raise MalformedEnvelope(f"envelope is a JSON {type(doc).__name__}, not an object")
    event_id, event_type = doc.get("id"), doc.get("type")
    if not isinstance(event_id, str) or not event_id.strip():
        raise MalformedEnvelope("envelope has no string 'id'")
    if not valid_event_id(event_id):
        raise MalformedEnvelope(_invalid("id", event_id, MAX_ID_LENGTH))
    if not isinstance(event_type, str) or not event_type.strip():
        raise MalformedEnvelope("envelope has no string 'type'")
    if not valid_event_type(event_type):
        raise MalformedEnvelope(_invalid("type", event_type, MAX_TYPE_LENGTH))
    data = doc.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MalformedEnvelope(f"'data' is a JSON {type(data).__name__}, not an object")
    subject = data.get("id")
    if isinstance(subject, str) and subject and not valid_event_id(subject):
        raise MalformedEnvelope(_invalid("data.id", subject, MAX_ID_LENGTH))
    version = doc.get("version")
    return WebhookEnvelope(
        id=event_id,
        type=event_type,
        occurred_at=_occurred_at(doc),
        # scalars only: str() of a deeply nested value can itself hit the recursion limit
        version=str(version) if isinstance(version, (str, int, float)) else None,
        data=data,
        raw=doc,
    )


def _invalid(field_name: str, value: str, limit: int) -> str:
    """Why a field was refused, without quoting it (it may hold anything, a newline included)."""
    if len(value) > limit:
        return f"envelope '{field_name}' is longer than {limit} characters"
    return f"envelope '{field_name}' has characters outside the allowed set"


def _occurred_at(doc: Mapping[str, Any]) -> datetime | None:
    """The envelope's timestamp, or None when it cannot be one.

    ``OverflowError`` too: ``0001-01-01T00:00:00+01:00`` is a valid ISO 8601 text whose UTC
    instant falls before year 1 (and ``9999-12-31T23:59:59-01:00`` after 9999).
    """
    for key in ("created_on", "timestamp"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            try:
                return parse_ts(value)
            except (TimestampError, ValueError, OverflowError):
                return None
    return None


def readable_event_id(raw: bytes) -> str | None:
    """The ``id`` of a body that fails :func:`parse_envelope` for another reason, if it has one.

    A poison event with a readable id is stored under that id, so its resends are duplicates
    and an operator can look it up in the Checkout.com dashboard. An id that fails
    :func:`valid_event_id` is not readable: the poison row is then keyed by the body's hash.
    """
    try:
        doc = decode_json(raw)
    except MalformedEnvelope:
        return None
    if isinstance(doc, dict):
        event_id = doc.get("id")
        if valid_event_id(event_id):
            return str(event_id)
    return None
