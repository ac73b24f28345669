"""The one masking rule set for log lines: secrets, card numbers and e-mail addresses.

Applied by :class:`MaskingFilter` to the message (after its ``%`` arguments are merged in), to
every extra field and to the formatted traceback, so a secret cannot slip out through a path
the author of a log call did not think about (an exception text echoing a request, a payload
passed as ``extra``). What is masked (docs/observability.md, "Masking"):

* Checkout.com keys (``sk_...``, ``pk_...``, sandbox ``sk_sbox_...``): the kind prefix and 4
  characters stay, so an operator still sees which key was used;
* ``Bearer <token>``, ``Authorization: <anything>`` and ``user:password@`` in URLs;
* the values of configured secrets (:func:`secrets_from_env`): webhook signing keys, passwords,
  API keys, whatever their shape;
* card numbers: 13-19 digits, optionally grouped by single spaces or dashes, starting with a
  card scheme's digit (2-6) and passing the Luhn check (last 4 kept). The Luhn check is what
  lets order numbers, amounts and ids through;
* e-mail addresses, as ``logsafe.mask_emails`` finds them (international, quoted, with the ``@``
  percent-encoded or as an HTML entity): first character and domain kept (``j***@example.com``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from checkout_freshportal.logsafe import mask_emails

MASK = "***"

# A key's body is 12+ letters, digits or dashes (NAS: 27 base32 characters, ABC: a UUID) and
# has no underscore: a constraint name in a database error ("pk_sync_money_intents") is not one.
_CKO_KEY = re.compile(r"\b((?:sk|pk)_(?:sbox_|test_)?)([A-Za-z0-9]{4})[A-Za-z0-9-]{8,}(?!\w)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
# A header value has 6 characters or more: "authorization=on" and Checkout.com's action type
# ("'Authorization': 3") are not credentials.
_AUTH_HEADER = re.compile(
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:(?:basic|bearer|token)\s+)?[^\s\"',;}]{6,}"
)
# A value named as a secret: a query string (``client_secret=...&``, ``api_key=...``), a form,
# a JSON or repr'd document (``"password": "..."``). Inside Airflow, a connection's password and
# the OAuth client secret are not CFP_* values, so their name is what gives them away. The match
# starts at the keyword (a prefix such as ``client_`` is left as it is): linear in the line.
_NAMED_SECRET = re.compile(
    r"(?i)((?:secret|password|passwd|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
)
_NAMED_HINTS = ("secret", "passw", "token", "key")
#: A field or mapping key naming a secret: its whole value is masked, whatever its shape.
_SECRET_FIELD = re.compile(r"(?i)(?:secret|password|passwd|token|api[_-]?key|authorization)$")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)")
# Digit groups joined by at most one space or dash: the candidates for a card number.
_DIGIT_RUN = re.compile(r"(?<![\w])\d+(?:[ -]\d+)*(?![\w])")
_GROUP = re.compile(r"\d+")
# Card schemes' first digit (2/5 Mastercard, 3 Amex/JCB/Diners, 4 Visa, 6 Discover/UnionPay/
# Maestro): a millisecond timestamp (1...) that happens to pass Luhn is not a card.
_CARD_FIRST_DIGITS = "23456"
# At least 13 digits joined by at most single spaces or dashes somewhere: only then is a line
# worth the per-run Luhn search (a C-speed test that most lines fail).
_CARD_CANDIDATE = re.compile(r"\d(?:[ -]?\d){12}")

#: Settings whose values are secrets whatever their shape (docs/observability.md).
SECRET_SUFFIXES: tuple[str, ...] = ("KEY", "KEYS", "SECRET", "PASSWORD", "TOKEN", "AUTHORIZATION")
#: A configured value shorter than this is not masked: "1" or "on" would mask every line.
MIN_SECRET_LENGTH = 6


def luhn_ok(digits: str) -> bool:
    """The card-number checksum: a random digit run passes one time in ten."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card_run(match: re.Match[str]) -> str:
    """Within one run of digit groups, mask each group span that is a Luhn-valid 13-19 digit number.

    A run such as ``4242 4242 4242 4242 100`` (a card followed by an amount) is not a card as a
    whole; trying the spans of groups finds the card inside it and leaves the amount alone. From
    each group the longest valid span wins; a span stops growing past 19 digits, so the work is
    linear in the run's length (a run of thousands of small groups is an ordinary log line).
    """
    text = match.group()
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text)]
    out: list[str] = []
    pos = i = 0
    while i < len(groups):
        found = None
        digits = ""
        for j in range(i, len(groups)):
            s, e = groups[j]
            digits += text[s:e]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and digits[0] in _CARD_FIRST_DIGITS and luhn_ok(digits):
                found = (j, digits)
        if found is None:
            i += 1
            continue
        j, digits = found
        out.append(text[pos : groups[i][0]])
        out.append("*" * (len(digits) - 4) + digits[-4:])
        pos = groups[j][1]
        i = j + 1
    out.append(text[pos:])
    return "".join(out)


class Masker:
    """The rule set plus the configured secret values; immutable once built."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def text(self, text: str) -> str:
        """Each rule runs only when a cheap test says it could match: most lines hold no ``@`` (in
        none of its written forms: one scan), no ``://`` and fewer than 13 digits, and then cost
        a few ``in`` tests and that scan."""
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        if "k_" in text:
            text = _CKO_KEY.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        lower = text.lower()
        if ("=" in text or ":" in text) and any(h in lower for h in _NAMED_HINTS):
            text = _NAMED_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)
        if "bearer" in lower:
            text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
        if "authorization" in lower:
            text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
        text = mask_emails(text)  # logsafe.EMAIL, the library's one address pattern
        if _CARD_CANDIDATE.search(text):
            text = _DIGIT_RUN.sub(_mask_card_run, text)
        return text

    def value(self, value: Any) -> Any:
        """A field's value masked: text and the text inside containers; numbers pass untouched."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, Mapping):
            return {str(k): self.field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        return self.text(str(value))

    def field(self, name: str, value: Any) -> Any:
        """A named value (an ``extra`` field, a mapping's entry): all of it masked when the name
        says it is a secret (``password``, ``client_secret``, ``api_key``), else :meth:`value`."""
        if value not in (None, "") and _SECRET_FIELD.search(name):
            return MASK
        return self.value(value)


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Values of ``CFP_*`` variables named like secrets, and of Airflow connections' passwords.

    Lists (``CFP_SIDECAR_SIGNATURE_KEYS=k1,k2``) are split on commas; ``AIRFLOW_CONN_*`` values
    are URIs or JSON whose password part the URL rule or this list catches.
    """
    found: list[str] = []
    for name, raw in env.items():
        if not raw or not name.startswith("CFP_"):
            continue
        if name.rsplit("_", 1)[-1] in SECRET_SUFFIXES:
            found.append(raw.strip())
            found.extend(part.strip() for part in raw.split(",") if "," in raw)
    return found


#: Attributes every LogRecord has: anything else on a record came through ``extra``.
STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Masks a record in place before any handler formats it; never drops a record.

    The message and its arguments are merged here (``getMessage``) and the arguments cleared,
    so a formatter cannot reintroduce them unmasked; the traceback is formatted and masked into
    ``exc_text``, which :class:`logging.Formatter` prints instead of formatting it again.
    """

    def __init__(self, masker: Masker | None = None) -> None:
        super().__init__()
        self.masker = masker or Masker()

    def filter(self, record: logging.LogRecord) -> bool:
        """Never raises: logging runs a handler's filters outside its error handling, so an
        exception here would reach the code that logged (a task, a request handler)."""
        if getattr(record, "_cfp_masked", False):
            return True
        record.msg = self.masker.text(merged_message(record))
        record.args = None
        try:
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
        except Exception as exc:  # a traceback that cannot be formatted (a hostile __str__)
            record.exc_text = f"(traceback not shown: {type(exc).__name__})"
        if record.exc_text:
            record.exc_text = self.masker.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.masker.text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                try:
                    masked = self.masker.field(key, value)
                except Exception:  # dropped rather than shown unmasked
                    masked = f"<{type(value).__name__} not shown>"
                setattr(record, key, masked)
        record._cfp_masked = True
        return True


def merged_message(record: logging.LogRecord) -> str:
    """The merged message; a broken %-format (a bug in a log call) must not lose the record or
    raise into the caller, so it is shown with its arguments as they are."""
    try:
        return record.getMessage()
    except Exception:
        try:
            return f"{record.msg!s} {record.args!r}"
        except Exception:
            return f"<unprintable log message from {record.pathname}:{record.lineno}>"
