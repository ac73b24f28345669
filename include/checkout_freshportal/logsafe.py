"""Untrusted text (ids, types, error messages, API payload values) made safe to show an operator.

Anyone who controls what an API or a webhook sends chooses the text that ends up in these
strings. Logged raw, a newline in an id forges a whole log record, an ANSI escape rewrites an
operator's terminal and an 8,000-character id floods the log; an error message that echoes a
payload may carry a card number or a customer's e-mail address. :func:`safe` bounds and escapes,
:func:`mask_text` masks; :func:`safe_masked` does both, for text that is kept (a quarantine
reason) as well as logged. :func:`mask_emails` masks addresses only, for ids and references whose
digits must stay; :data:`EMAIL` is the library's one definition of an address.

The bottom layer of the library (it imports nothing), so every layer can use it: the sidecar
logs through it, ingestion writes quarantine reasons with it.
"""

from __future__ import annotations

import re

#: Longest untrusted value kept in a log line (a Checkout.com event id is 30 characters).
LOG_TEXT_LIMIT = 80

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi overrides, isolates and
# marks, zero-width characters, the BOM and lone surrogates: everything that can end a line, move
# the cursor, reorder what is displayed or hide that text is there.
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
# An e-mail address as people and encoders write it: the one definition of it in the library
# (privacy.py masks webhook bodies and API text with it, observability/masking.py log lines). What
# it finds, each form having got through a narrower pattern once (tests/security/test_email_forms.py):
#
# * a local part of the characters RFC 5322 allows, letters and digits of any script (``\w``),
#   less the ones that delimit a query string or a form (``= & / ?``: ``email=ann@x`` keeps
#   ``email=``) and ``*`` (an address masked already, ``j***@example.com``, stays as it is); or a
#   quoted one (``"jan devries"@example.nl``);
# * invisible characters anywhere in it (``john\u200b@example.com`` reads as the address);
# * an ``@`` percent-encoded (``%40``, twice: ``%2540``; a return URL in metadata), as an HTML
#   entity (``&#64;``, ``&commat;``) or in its full-width forms;
# * a domain of dotted labels (non-ASCII, underscores) ending in 2+ letters, ``localhost``, or an
#   address literal (``jan@[192.168.1.1]``). ``a@b`` and ``user@`` are not addresses.
#
# A percent escape in the local part is one character of an address (``%2B`` is ``+``, ``%C3%B6``
# is ``ö``) unless it encodes a delimiter (``%3D``, ``%26``, ``%2F``...): there the local part
# starts afresh, so ``return%3Femail%3Djan%40x.nl`` loses the address, not the URL around it.
#
# A match starts only where a local part can start (the look-behinds): tried from every character
# of a long run, the search was quadratic (40,000 characters: seconds). The local part is an
# atomic group: once read it never gives characters back (no separator starts with one of its
# characters, so nothing is lost), else ``pre`` and ``lead`` traded a run of punctuation between
# them and "x@" followed by 40,000 dashes took two seconds (a review's probe).
# Groups: ``lead`` (the first character of the address, after ``pre``: quotes or dots before it),
# ``sep`` (the ``@`` as written) and ``domain``; masking a little too much is the safe side.
_INVISIBLE = r"\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_LOCAL_PUNCT = r".!#$'+^`{|}~\-"
_LOCAL_CHAR = rf"[\w{_LOCAL_PUNCT}{_INVISIBLE}]"
# A percent escape that stays inside a local part: + - . ' _, a byte of a UTF-8 character, or a
# "%" that escapes nothing.
_LOCAL_ESCAPE = r"%(?:2[BbDdEe7]|5[Ff]|[89A-Fa-f][0-9A-Fa-f]|(?![0-9A-Fa-f]{2}))"
_LOCAL_START = (
    rf"(?:(?<![\w{_LOCAL_PUNCT}{_INVISIBLE}%])"
    r"|(?<=%[0-9A-Fa-f]{2})(?<!%2[BbDdEe7]|%5[Ff]|%[89A-Fa-f][0-9A-Fa-f]))"
)
#: The ways an address's ``@`` is written (a regular-expression alternation, no groups).
EMAIL_AT = "|".join((r"@", r"%(?:25)?40", r"&#0*64;", r"&#[xX]0*40;", r"&commat;", "\uff20", "\ufe6b"))
EMAIL = re.compile(
    r'(?:"(?P<qlead>[^"\\\r\n])[^"\\\r\n]{0,63}"'
    rf"|{_LOCAL_START}(?>(?P<pre>[{_LOCAL_PUNCT}]*)(?P<lead>{_LOCAL_CHAR}|{_LOCAL_ESCAPE})"
    rf"(?:{_LOCAL_CHAR}++|{_LOCAL_ESCAPE})*+))"
    rf"(?P<sep>{EMAIL_AT})"
    rf"(?P<domain>(?:[\w{_INVISIBLE}\-]++\.)+[^\W\d_]{{2,}}"
    r"|(?i:localhost)(?![\w-])|\[(?:IPv6:)?[0-9A-Fa-f:.]{2,45}\])"
)
_AT_HINT = re.compile(EMAIL_AT)
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
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    r"\ufeff\ud800-\udfff]"
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
    text = _CARD_GROUPED.sub(_mask_digits, EMAIL.sub("***@***", text))
    return _SECURITY_CODE.sub(r"\1\2***", _DIGITS.sub(_mask_digits, text))


def _first_and_domain(match: re.Match[str]) -> str:
    lead = match["lead"] or match["qlead"]
    return f"{match['pre'] or ''}{lead}***{match['sep']}{match['domain']}"


def mask_emails(text: str) -> str:
    """E-mail addresses only, as ``privacy.mask_email`` masks one (``j***@example.nl``: the first
    character and the domain kept, the ``@`` as it was written, so an encoded URL stays one);
    nothing else changed, so ids and references with digit runs keep them."""
    if not _AT_HINT.search(text):
        return text
    return EMAIL.sub(_first_and_domain, text)


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
