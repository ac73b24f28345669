"""Masking of personal data before it reaches a log line, an exception or a report.

Customer e-mail addresses are the PII the FreshPortal port handles most; error bodies of an API
we do not control may echo them back, so every server message is passed through
:func:`scrub` before it is kept in an exception.
"""

from __future__ import annotations

import json
import re

# The local part's class includes Unicode letters (\w): with ASCII only, "jöns@x.nl" kept "jö".
# A match starts only where a local part starts (the lookbehind): a later start inside the same
# run cannot succeed where the first failed, and trying each one made a long run quadratic.
_EMAIL_RE = re.compile(r"(?<![\w.%+\-])([\w.%+\-])[\w.%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_EMAIL_BYTES_RE = re.compile(
    rb"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"
)
#: A JSON string literal, quotes and escapes included (in valid JSON, every ``"`` outside one
#: opens one, so a left-to-right scan finds exactly the document's strings). One that is never
#: closed runs to the end: each byte is read once, whatever a hostile body holds.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.S)
_ESCAPED_AT = re.compile(rb"\\u0040", re.I)
#: Long opaque strings that could be tokens or keys (``Bearer abc...``, 32+ hex/base64 chars).
_SECRET_RE = re.compile(r"(?i)(bearer\s+)\S+|\b[A-Za-z0-9_\-]{32,}\b")
MAX_MESSAGE_CHARS = 200


def mask_email(email: str | None) -> str | None:
    """``"jan.devries@example.nl"`` -> ``"j***@example.nl"``; anything without ``@`` -> ``"***"``."""
    if email is None:
        return None
    text = email.strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_emails(text: str) -> str:
    """Every address in free text masked as :func:`mask_email` does; nothing else changed."""
    return _EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def mask_emails_in_bytes(raw: bytes) -> bytes:
    """:func:`mask_emails` on bytes as received (a webhook body); valid JSON stays valid JSON
    and parses to the same document but for the addresses.

    The mask works on each JSON string, not on the bytes around it: an encoder may escape a
    character of an address (.NET's ``\\u002B`` for ``+``, ``\\u00f6``), and a byte-level
    mask would cut that escape in half (``jan\\u***@``), which no JSON parser reads. A string
    with an address and an escape (or a non-ASCII byte) is decoded, masked and encoded again; a
    string without an address keeps its bytes, as does everything between strings (in a body
    that is not JSON, an address there is masked too).
    """
    if b"@" not in raw and not _ESCAPED_AT.search(raw):
        return raw
    out: list[bytes] = []
    pos = 0
    for m in _JSON_STRING.finditer(raw):
        out.append(_EMAIL_BYTES_RE.sub(rb"\1***@\2", raw[pos : m.start()]))
        out.append(_mask_json_string(m.group()))
        pos = m.end()
    out.append(_EMAIL_BYTES_RE.sub(rb"\1***@\2", raw[pos:]))
    return b"".join(out)


def _mask_json_string(literal: bytes) -> bytes:
    if b"@" not in literal and not _ESCAPED_AT.search(literal):
        return literal
    if b"\\" not in literal and literal.isascii():
        return _EMAIL_BYTES_RE.sub(rb"\1***@\2", literal)
    try:
        text = json.loads(literal)
    except ValueError:  # not a JSON string (the body is not JSON): mask the bytes as they are
        return _EMAIL_BYTES_RE.sub(rb"\1***@\2", literal)
    masked = mask_emails(text)
    if masked == text:
        return literal
    try:
        return json.dumps(masked, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped in the original: keep it escaped
        return json.dumps(masked).encode("ascii")


def scrub(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Mask e-mail addresses and token-like strings in free text and cut it to ``limit``."""
    if not text:
        return ""
    out = mask_emails(str(text))
    out = _SECRET_RE.sub(lambda m: (m.group(1) or "") + "<redacted>", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 3] + "..."
