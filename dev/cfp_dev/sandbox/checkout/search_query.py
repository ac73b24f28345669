"""The ``POST /payments/search`` query language (docs/checkout-com.md#payment-search).

Supported: ``field:value`` equality, ``field:>=n`` / ``>`` / ``<=`` / ``<`` on numbers and
times, ``field:[a,b]`` one-of, values bare or quoted (``'...'`` / ``"..."``, ``\\`` escapes),
``AND``, ``OR``, ``NOT`` and parentheses (AND binds tighter than OR). String comparisons are
case-insensitive (the search fixture shows lowercase statuses). Field spellings are [U] in the
reference; the sandbox accepts the documented list plus ``metadata.<key>`` and ``requested_on``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from checkout_freshportal.timeutil import TimestampError, parse_ts

from .model import Payment

Predicate = Callable[[Payment], bool]


class QueryError(ValueError):
    pass


def _card_attr(name: str) -> Callable[[Payment], Any]:
    return lambda p: getattr(p.card, name)


_STRING_FIELDS: dict[str, Callable[[Payment], Any]] = {
    "id": lambda p: p.id,
    "reference": lambda p: p.reference,
    "currency": lambda p: p.currency,
    "status": lambda p: p.status,
    "payment_type": lambda p: p.payment_type,
    "customer_email": lambda p: (p.customer or {}).get("email"),
    "customer_name": lambda p: (p.customer or {}).get("name"),
    "last4": _card_attr("last4"),
    "card_bin": _card_attr("bin"),
    "scheme": _card_attr("scheme"),
    "issuer_country": _card_attr("issuer_country"),
    "payment_method": lambda p: p.card.payment_method,
    "arn": lambda p: None,
}
_NUMBER_FIELDS: dict[str, Callable[[Payment], int]] = {"amount": lambda p: p.amount}
_TIME_FIELDS: dict[str, Callable[[Payment], datetime | None]] = {
    "requested_on": lambda p: p.requested_on,
    "processed_on": lambda p: p.processed_on,
}


# ------------------------------------------------------------------ tokens
def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()[],:":
            out.append(("sym", ch))
            i += 1
        elif ch in "<>":
            if i + 1 < n and text[i + 1] == "=":
                out.append(("op", ch + "="))
                i += 2
            else:
                out.append(("op", ch))
                i += 1
        elif ch in "'\"":
            quote, i, buf = ch, i + 1, []
            while i < n and text[i] != quote:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise QueryError("unterminated quoted value")
            i += 1
            out.append(("str", "".join(buf)))
        else:
            buf = []
            while i < n and not text[i].isspace() and text[i] not in "()[],:<>'\"":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            word = "".join(buf)
            out.append(("kw", word.upper()) if word.upper() in ("AND", "OR", "NOT") else ("word", word))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("unexpected end of query")
        self.i += 1
        return tok

    def expect(self, kind: str, value: str) -> None:
        tok = self.take()
        if tok != (kind, value):
            raise QueryError(f"expected {value!r}, got {tok[1]!r}")

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek() == ("kw", "OR"):
            self.take()
            right = self.term()
            left = (lambda a, b: lambda p: a(p) or b(p))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while True:
            tok = self.peek()
            if tok == ("kw", "AND"):
                self.take()
            elif tok is None or tok == ("sym", ")") or tok == ("kw", "OR"):
                return left
            # juxtaposition without AND is an implicit AND
            right = self.factor()
            left = (lambda a, b: lambda p: a(p) and b(p))(left, right)

    def factor(self) -> Predicate:
        tok = self.peek()
        if tok == ("kw", "NOT"):
            self.take()
            inner = self.factor()
            return lambda p: not inner(p)
        if tok == ("sym", "("):
            self.take()
            inner = self.expr()
            self.expect("sym", ")")
            return inner
        return self.comparison()

    def value(self) -> str:
        kind, val = self.take()
        if kind not in ("word", "str"):
            raise QueryError(f"expected a value, got {val!r}")
        return val

    def comparison(self) -> Predicate:
        kind, field = self.take()
        if kind != "word":
            raise QueryError(f"expected a field name, got {field!r}")
        self.expect("sym", ":")
        field = field.lower()
        tok = self.peek()
        if tok == ("sym", "["):
            self.take()
            values = [self.value()]
            while self.peek() == ("sym", ","):
                self.take()
                values.append(self.value())
            self.expect("sym", "]")
            preds = [_compare(field, "=", v) for v in values]
            return lambda p: any(pr(p) for pr in preds)
        op = "="
        if tok is not None and tok[0] == "op":
            op = self.take()[1]
        return _compare(field, op, self.value())


def _compare(field: str, op: str, raw: str) -> Predicate:
    if field in _NUMBER_FIELDS:
        get_n = _NUMBER_FIELDS[field]
        try:
            number = int(raw)
        except ValueError:
            raise QueryError(f"{field} needs an integer (minor units), got {raw!r}") from None
        return _ordered(get_n, op, number)
    if field in _TIME_FIELDS:
        get_t = _TIME_FIELDS[field]
        try:
            when = parse_ts(raw)
        except TimestampError as exc:
            raise QueryError(str(exc)) from None
        return _ordered(get_t, op, when)
    if field in _STRING_FIELDS or field.startswith("metadata."):
        if op != "=":
            raise QueryError(f"{field} supports ':' and ':[a,b]' only")
        if field.startswith("metadata."):
            key = field.split(".", 1)[1]
            get_s: Callable[[Payment], Any] = lambda p: p.metadata.get(key)  # noqa: E731
        else:
            get_s = _STRING_FIELDS[field]
        want = raw.casefold()

        def match(p: Payment) -> bool:
            v = get_s(p)
            return v is not None and str(v).casefold() == want

        return match
    raise QueryError(f"unknown search field {field!r}")


def _ordered(get: Callable[[Payment], Any], op: str, ref: Any) -> Predicate:
    def check(p: Payment) -> bool:
        v = get(p)
        if v is None:
            return False
        if op == "=":
            return bool(v == ref)
        if op == ">=":
            return bool(v >= ref)
        if op == ">":
            return bool(v > ref)
        if op == "<=":
            return bool(v <= ref)
        return bool(v < ref)

    return check


def compile_query(text: str) -> Predicate:
    """A predicate over payments; raises :class:`QueryError` with the reason."""
    if not text or not text.strip():
        raise QueryError("empty query")
    parser = _Parser(_tokenize(text))
    pred = parser.expr()
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return pred
