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
# An e-mail address as people write it, international ones included (``\\w`` is any letter or
# digit in any script): the characters RFC 5322 allows before the ``@``, then dotted labels.
# Masking a little too much (``name=jane@example.com`` whole) is the safe side. A match starts
# only where a run of those characters starts (the look-behind): tried from every character of a
# long run, the search was quadratic (40,000 characters: seconds).
_LOCAL = r"\w.!#$%&'+/=?^`{|}~-"  # no "*": an address masked already ("j***@example.com") stays
_EMAIL = re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{{2,}}")
# 12-19 digits, card-number shaped: contiguous or joined by single spaces or dashes.
_DIGITS = re.compile(r"\d(?:[ -]?\d){11,18}")
# A card number written in its printed groups with other separators (dots, slashes, underscores,
# tabs, or up to three characters such as " - "): 4-4-4-4 with up to 3 more digits, or American
# Express's 4-6-5. Only that grouping: a looser pattern took date ranges ("2026-03-01 -
# 2026-03-31") and lists of amounts for card numbers, and notes are stored masked.
_CARD_GROUPED = re.compile(
    r"(?<!\d)\d{4}(?:[ \t./_-]{1,3}\d{4}){3}(?:[ \t./_-]{1,3}\d{1,3})?(?!\d)"
    r"|(?<!\d)\d{4}[ \t./_-]{1,3}\d{6}[ \t./_-]{1,3}\d{5}(?!\d)"
)
# A card security code named as such ("cvv 123", "CVC: 1234", "CVV is 123"): the digits go, the
# words stay.
_SECURITY_CODE = re.compile(r"(?i)\b(cvv2?|cvc2?|csc|security code)(\s*(?:is\s+|[:=#]\s*)?)\d{3,4}\b")
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


# What a cell of a file a person opens may not hold: as ``_UNSAFE`` but tab and line feed, which a
# spreadsheet cell shows as they are (a detail on two lines).
_UNSAFE_IN_CELL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def escape_controls(text: str) -> str:
    """``text`` with the characters :func:`safe` escapes, tab and line feed apart, written as
    ``\\xNN``/``\\uNNNN``, not bounded: for a file a person opens (an export), where a terminal
    escape or a bidi override from a payload must not reorder or hide what a cell shows."""
    return _UNSAFE_IN_CELL.sub(_escape, text)


def _mask_digits(match: re.Match[str]) -> str:
    digits = _NON_DIGIT.sub("", match.group())
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_text(text: str) -> str:
    """E-mail addresses, card-number-like digit runs (last 4 digits kept) and named card
    security codes masked."""
    text = _CARD_GROUPED.sub(_mask_digits, _EMAIL.sub("***@***", text))
    return _SECURITY_CODE.sub(r"\1\2***", _DIGITS.sub(_mask_digits, text))


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


def json_safe(value: object, limit: int = LOG_TEXT_LIMIT, *, masked: bool = False) -> object:
    """A value for one line of a command's JSON output: numbers and flags as they are, times in
    ISO 8601, anything else escaped text (a stored id or reason may hold terminal controls);
    ``masked``: free text (a detail, a note, a reason) masked as well, since it may quote a
    payload's e-mail address or card number."""
    if value is None or isinstance(value, int | float | bool):
        return value
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return safe_masked(value, limit) if masked else safe(value, limit)


def is_utf8(text: str) -> bool:
    """False for text holding lone surrogates: bytes that were not UTF-8, as Python decodes a
    command line or a file name (``surrogateescape``). They cannot be stored or compared as
    text, so the caller refuses them with a message instead of failing deep inside."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
