"""Untrusted text (event ids, types, error messages) made safe for one log line.

Anyone holding a signature key, or any upstream answering the trigger loop, chooses the text
that ends up in these strings. Logged raw, a newline in an event id forges a whole log record,
an ANSI escape rewrites an operator's terminal and an 8,000-character id floods the log. Every
log call of the sidecar that includes such text passes it through :func:`safe` first.
"""

from __future__ import annotations

import re

#: Longest untrusted value kept in a log line (a Checkout.com event id is 30 characters).
LOG_TEXT_LIMIT = 80

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi overrides, and lone
# surrogates: everything that can end a line, move the cursor or reorder what is displayed.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, limit: int = LOG_TEXT_LIMIT) -> str:
    """``value`` as printable text on one line, at most ``limit`` characters plus a marker.

    Truncation comes first so the work is bounded by ``limit`` whatever the input's size, and
    escaping cannot be cut in the middle of an escape sequence.
    """
    text = value if isinstance(value, str) else str(value)
    extra = len(text) - limit
    shown = _UNSAFE.sub(_escape, text[:limit])
    return f"{shown}…(+{extra} chars)" if extra > 0 else shown
