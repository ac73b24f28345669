"""Masking of personal data before it reaches a log line, an exception or a report.

Customer e-mail addresses are the PII the FreshPortal port handles most; error bodies of an API
we do not control may echo them back, so every server message is passed through
:func:`scrub` before it is kept in an exception.
"""

from __future__ import annotations

import re

_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_EMAIL_BYTES_RE = re.compile(_EMAIL_RE.pattern.encode("ascii"))
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
    """:func:`mask_emails` on bytes as received (a webhook body): only ASCII addresses change,
    every other byte stays as it was, so valid JSON stays valid JSON."""
    if b"@" not in raw:
        return raw
    return _EMAIL_BYTES_RE.sub(rb"\1***@\2", raw)


def scrub(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Mask e-mail addresses and token-like strings in free text and cut it to ``limit``."""
    if not text:
        return ""
    out = mask_emails(str(text))
    out = _SECRET_RE.sub(lambda m: (m.group(1) or "") + "<redacted>", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 3] + "..."
