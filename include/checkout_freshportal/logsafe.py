"""Untrusted text (ids, types, error messages, API payload values) made safe to show an operator.

Anyone who controls what an API or a webhook sends chooses the text that ends up in these
strings. Logged raw, a newline in an id forges a whole log record, an ANSI escape rewrites an
operator's terminal and an 8,000-character id floods the log; an error message that echoes a
payload may carry a card number or a customer's e-mail address. :func:`safe` bounds and escapes,
:func:`mask_text` masks; :func:`safe_masked` does both, for text that is kept (a quarantine
reason) as well as logged.

The bottom layer of the library (it imports nothing), so every layer can use it: the sidecar
logs through it, ingestion writes quarantine reasons with it.
"""

from __future__ import annotations

import re

#: Longest untrusted value kept in a log line (a Checkout.com event id is 30 characters).
LOG_TEXT_LIMIT = 80

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi overrides, and lone
# surrogates: everything that can end a line, move the cursor or reorder what is displayed.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d(?:[ -]?\d){11,18}")  # 12-19 digits, card-number shaped
_NON_DIGIT = re.compile(r"\D")


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


def _mask_digits(match: re.Match[str]) -> str:
    digits = _NON_DIGIT.sub("", match.group())
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_text(text: str) -> str:
    """E-mail addresses and card-number-like digit runs masked (last 4 digits kept)."""
    return _DIGITS.sub(_mask_digits, _EMAIL.sub("***@***", text))


def safe_masked(value: object, limit: int = LOG_TEXT_LIMIT) -> str:
    """:func:`mask_text`, then :func:`safe`'s bounding and escaping.

    Only a prefix twice as long as what is shown is masked, so a huge message costs no more than
    a short one; a number cut at that prefix's end lies beyond what is shown.
    """
    text = value if isinstance(value, str) else str(value)
    cut = 2 * limit + 64
    head = mask_text(text[:cut])
    extra = len(head) - limit + max(0, len(text) - cut)
    shown = _UNSAFE.sub(_escape, head[:limit])
    return f"{shown}…(+{extra} chars)" if extra > 0 else shown


def json_safe(value: object, limit: int = LOG_TEXT_LIMIT) -> object:
    """A value for one line of a command's JSON output: numbers and flags as they are, times in
    ISO 8601, anything else escaped text (a stored id or reason may hold terminal controls)."""
    if value is None or isinstance(value, int | float | bool):
        return value
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return safe(value, limit)
