"""Masking of personal data before it reaches a log line, an exception or a report.

Customer e-mail addresses are the PII the FreshPortal port handles most; error bodies of an API
we do not control may echo them back, so every server message is passed through
:func:`scrub` before it is kept in an exception.
"""

from __future__ import annotations

import json
import re

from checkout_freshportal.logsafe import EMAIL_AT, mask_emails

__all__ = ["mask_email", "mask_emails", "mask_emails_in_bytes", "scrub"]

#: Where an address may be in a body: an ``@`` as :data:`logsafe.EMAIL` reads one (UTF-8 bytes),
#: or one JSON-escaped (``\u0040``, ``\uff20``).
_AT_HINT = rb"(?:" + EMAIL_AT.encode() + rb"|\\u(?:0040|[Ff][Ff]20|[Ff][Ee]6[Bb]))"
_HINT = re.compile(_AT_HINT)
#: A JSON string literal, quotes and escapes included (in valid JSON, every ``"`` outside one
#: opens one, so a left-to-right scan finds exactly the document's strings). One that is never
#: closed runs to the end: each byte is read once, whatever a hostile body holds.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.S)
#: What needs no masking, read without a Python step per string: whole strings and whole runs
#: between strings without a hint. Most bytes cannot start a hint and are taken in bulk; a run
#: between strings is taken only whole (up to the next string), so where this stops is the start
#: of the string or of the run to mask.
_CLEAN = rb'[^"\\@%&\xef]++|(?!' + _AT_HINT + rb")"
_SKIP = re.compile(
    rb"(?:(?:" + _CLEAN + rb'[^"])++(?="|\Z)'
    rb'|"(?:' + _CLEAN + rb'(?:\\.|[^"\\]))*+")*+',
    re.S,
)
#: The longest quoted local part ``logsafe.EMAIL`` reads (64 characters and the quotes), in bytes.
_QUOTED_LOCAL_BYTES = 66 * 4
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


def mask_emails_in_bytes(raw: bytes) -> bytes:
    """:func:`mask_emails` on bytes as received (a webhook body); valid JSON stays valid JSON
    and parses to the same document but for the addresses.

    The mask works on each JSON string, not on the bytes around it: an encoder may escape a
    character of an address (.NET's ``\\u002B`` for ``+``, ``\\u00f6``), and a byte-level
    mask would cut that escape in half (``jan\\u***@``), which no JSON parser reads. A string
    with an address and an escape (or a non-ASCII byte) is decoded, masked and encoded again; a
    string without an address keeps its bytes, as does everything between strings (in a body
    that is not JSON, an address there is masked too). The sidecar masks every body it stores,
    up to its size limit, on its event loop: strings without an ``@`` are skipped by one
    regular-expression scan, not one Python step each (a 1 MiB body of short strings took a
    quarter of a second that way).
    """
    if not _HINT.search(raw):
        return raw
    out: list[bytes] = []
    pos, end = 0, len(raw)
    while pos < end:
        skipped = _SKIP.match(raw, pos)  # it matches the empty string: never None
        clean = skipped.end() if skipped else pos
        if clean == end:
            out.append(raw[pos:])
            break
        if raw[clean] == 0x22:  # '"': a string with a hint, or one never closed
            m = _JSON_STRING.match(raw, clean)
            assert m is not None  # a '"' always starts one
            out += (raw[pos:clean], _mask_json_string(m.group()))
            pos = m.end()
        else:  # the run between two strings holds a hint: masked as text, with the end of the
            # string before it, which a quoted local part ("jan devries"@...) looks like
            nxt = raw.find(b'"', clean)
            stop = end if nxt < 0 else nxt
            back = max(pos, clean - _QUOTED_LOCAL_BYTES)
            out += (raw[pos:back], _mask_raw(raw[back:stop]))
            pos = stop
    return b"".join(out)


def _mask_raw(raw: bytes) -> bytes:
    """Bytes that are not (known to be) a JSON string, masked as text. Bytes that are not UTF-8
    come back as they were (``surrogateescape``), and no address holds one."""
    return mask_emails(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _mask_json_string(literal: bytes) -> bytes:
    if not _HINT.search(literal):
        return literal
    if b"\\" not in literal and literal.isascii():
        return _mask_raw(literal)
    try:
        text = json.loads(literal)
    except ValueError:  # not a JSON string (the body is not JSON): mask the bytes as they are
        return _mask_raw(literal)
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
