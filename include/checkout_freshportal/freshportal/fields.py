"""Strict reading of one FreshPortal JSON field: mapped names, exact types, errors naming the record.

Ids may come as integers or strings and are kept as strings; a float is refused wherever an
integer or a decimal is expected (it has already lost precision); every error names the field
and the record (id and order number), never a customer e-mail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..money import MoneyError, UnknownCurrencyError, bigint, exponent
from .dates import parse_date, parse_datetime
from .errors import DataError
from .mapping import FreshPortalMapping


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    return text or None


def _id(value: Any, field_name: str, record: str | None, *, required: bool = True) -> str | None:
    """Ids may come as JSON integers or strings (assumed integers); we keep them as strings."""
    if isinstance(value, (bool, float)):
        raise DataError(
            f"field {field_name!r} of {record}: id {value!r} is not an integer or string",
            field=field_name,
            record=record,
        )
    text = _text(value)
    if text is None and required:
        raise DataError(
            f"field {field_name!r} of {record or 'a record'} is missing", field=field_name, record=record
        )
    return text


def _int(value: Any, field_name: str, record: str | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bool, float)):
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an integer", field=field_name, record=record
        )
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        dec = None
    if dec is None or not dec.is_finite() or dec != dec.to_integral_value():
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an integer", field=field_name, record=record
        )
    try:
        return bigint(dec)
    except MoneyError as exc:
        raise DataError(f"field {field_name!r} of {record}: {exc}", field=field_name, record=record) from None


def _decimal(value: Any, field_name: str, record: str | None) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise DataError(
            f"field {field_name!r} of {record}: refusing a float", field=field_name, record=record
        )
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not a decimal", field=field_name, record=record
        ) from None
    if not dec.is_finite():
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not finite", field=field_name, record=record
        )
    return dec


def _currency(value: Any, field_name: str, record: str | None) -> str:
    code = (_text(value) or "").upper()
    try:
        exponent(code)
    except UnknownCurrencyError:
        raise DataError(
            f"field {field_name!r} of {record}: {value!r} is not an ISO 4217 currency",
            field=field_name,
            record=record,
        ) from None
    return code


def _object(value: Any, field_name: str, record: str | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataError(
            f"field {field_name!r} of {record}: expected an object", field=field_name, record=record
        )
    return value


def _list(value: Any, field_name: str, record: str | None) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataError(f"field {field_name!r} of {record}: expected a list", field=field_name, record=record)
    return value


class FieldReader:
    """Reads one entity of one record: mapped names, strict types, errors naming the record."""

    def __init__(
        self, m: FreshPortalMapping, entity: str, raw: Mapping[str, Any], record: str | None
    ) -> None:
        self.m, self.entity, self.raw, self.record = m, entity, raw, record

    def fname(self, name: str) -> str:
        return self.m.path(self.entity, name)

    def value(self, name: str) -> Any:
        return self.m.get(self.entity, self.raw, name)

    def _missing(self, name: str) -> DataError:
        return DataError(
            f"field {self.fname(name)!r} of {self.record} is missing",
            field=self.fname(name),
            record=self.record,
        )

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = _text(self.value(name))
        if value is None and required:
            raise self._missing(name)
        return value

    def id(self, name: str, *, required: bool = True) -> str | None:
        return _id(self.value(name), self.fname(name), self.record, required=required)

    def integer(self, name: str) -> int | None:
        return _int(self.value(name), self.fname(name), self.record)

    def decimal(self, name: str) -> Decimal | None:
        return _decimal(self.value(name), self.fname(name), self.record)

    def currency(self, name: str) -> str:
        return _currency(self.value(name), self.fname(name), self.record)

    def amount(self, name: str, currency: str, *, required: bool = False) -> int | None:
        minor = self.m.amount_to_minor(self.value(name), currency, field=self.fname(name), record=self.record)
        if minor is None and required:
            raise self._missing(name)
        return minor

    def date(self, name: str) -> date | None:
        return parse_date(self.value(name), field=self.fname(name), record=self.record)

    def datetime(self, name: str) -> datetime | None:
        return parse_datetime(
            self.value(name), field=self.fname(name), record=self.record, local_tz=self.m.local_timezone
        )

    def object(self, name: str) -> Mapping[str, Any] | None:
        return _object(self.value(name), self.fname(name), self.record)

    def list(self, name: str) -> Sequence[Any]:
        return _list(self.value(name), self.fname(name), self.record)

    def each(self, name: str, entity: str, label: str) -> Iterator[FieldReader]:
        """A reader for each object of the list ``name``, its errors naming it by its 1-based
        position (``order 42 line 3``)."""
        for index, item in enumerate(self.list(name), 1):
            record = f"{self.record} {label} {index}"
            yield FieldReader(self.m, entity, _object(item, self.fname(name), record) or {}, record)
