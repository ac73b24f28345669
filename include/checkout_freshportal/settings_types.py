"""The kinds of value a setting can have, each with the one parser every source goes through.

A value from DAG params may be a JSON number or boolean, one from the environment is always
text, one from YAML may be either: each parser accepts every spelling that is unambiguous and
refuses the rest with a ``PydanticCustomError`` whose message says what is allowed, which
:mod:`checkout_freshportal.settings_base` turns into a :class:`SettingsError` naming the key.
Used as ``Annotated`` field types of :class:`~checkout_freshportal.settings_base.TypedSettings`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from checkout_freshportal.timeutil import parse_ts

__all__ = [
    "DURATION_FORMS",
    "AwareDatetime",
    "Duration",
    "Flag",
    "NonNegativeInt",
    "PositiveInt",
    "Seconds",
    "SecretKeys",
    "TextList",
    "bounded_int",
    "parse_duration",
    "parse_flag",
    "parse_number",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SHORT_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SHORT = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_NUM = r"(\d+(?:\.\d+)?)"
# Weeks, days and a time part; years and months are refused (their length is not fixed).
_ISO = re.compile(rf"P(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")
DURATION_FORMS = "a duration such as 30s, 15m, 2h, 3d or ISO 8601 PT2H / P3D"


def _refuse(allowed: str) -> PydanticCustomError:
    return PydanticCustomError("settings", allowed)


def parse_flag(value: Any) -> bool:
    """A bool from ``true/false, yes/no, on/off, 1/0`` (any case); anything else is refused.

    Refusing instead of guessing is the point: ``bool("false")`` is ``True``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _refuse("must be true or false (true/false, yes/no, on/off, 1/0)")


def parse_number(value: Any) -> float | None:
    """A finite int/float, or numeric text; ``None`` for anything else (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_duration(value: Any) -> timedelta:
    """A non-negative ``timedelta`` from a timedelta, ``30s/15m/2h/3d`` or ISO 8601 ``PT2H``/``P3D``.

    A bare number is refused: its unit would be a guess. Keys that carry the unit in their name
    (``rewalk_days: 3``) are turned into a timedelta before this is called.
    """
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, str) and (parsed := _duration_text(value.strip())) is not None:
        out = parsed
    else:
        raise _refuse(f"must be {DURATION_FORMS} (a plain number needs the unit in the key: <key>_hours)")
    if out < timedelta(0):
        raise _refuse("must not be negative")
    return out


def _duration_text(text: str) -> timedelta | None:
    short = _SHORT.fullmatch(text.lower())
    if short:
        return timedelta(seconds=float(short.group(1)) * _SHORT_UNITS[short.group(2)])
    iso = _ISO.fullmatch(text.upper())
    if not iso or text.upper() in {"P", "PT"} or text.upper().endswith("T") or not any(iso.groups()):
        return None
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in iso.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _seconds(value: Any) -> float:
    """Seconds as a float: a number (the field's name or docs say seconds) or any duration form."""
    number = parse_number(value)
    if number is None:
        if isinstance(value, timedelta) or (isinstance(value, str) and _duration_text(value.strip())):
            number = parse_duration(value).total_seconds()
        else:
            raise _refuse(f"must be a float number of seconds or {DURATION_FORMS}")
    if number < 0:
        raise _refuse("must not be negative")
    return number


def bounded_int(low: int, high: int | None = None) -> Callable[[Any], int]:
    """A parser of whole numbers in ``low..high``: ``2.0`` and ``" 2 "`` pass, ``2.5`` and ``True`` do not."""
    if high is not None:
        bounds = f"within {low}..{high}"
    else:
        bounds = {0: "not negative", 1: "positive (>= 1)"}.get(low, f">= {low}")

    def parse(value: Any) -> int:
        number = parse_number(value)
        if number is None or not number.is_integer():
            raise _refuse(f"must be an int (a whole number, {bounds})")
        out = int(number)
        if out < low or (high is not None and out > high):
            raise _refuse("must not be negative" if (low, high) == (0, None) else f"must be {bounds}")
        return out

    return parse


def _text_list(value: Any) -> tuple[str, ...]:
    """A list of names from a JSON list or comma-separated text; blanks are dropped."""
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise _refuse("must be a list of names (JSON list or comma-separated text)")
    if not all(isinstance(item, str) for item in items):
        raise _refuse("must be a list of names (text only)")
    return tuple(item.strip() for item in items if item.strip())


def _secret_keys(value: Any) -> tuple[bytes, ...]:
    """Secrets as bytes, from comma-separated text or a list (a trailing comma is not a key)."""
    if isinstance(value, list | tuple) and all(isinstance(v, bytes) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    return tuple(item.encode() for item in _text_list(value))


def _aware_datetime(value: Any) -> datetime:
    """A timezone-aware datetime; ISO text without an offset is taken as UTC (as DAG params are)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _refuse("must be timezone-aware")
        return value
    if isinstance(value, str):
        try:
            parsed = parse_ts(value, assume_utc=True)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise _refuse("must be an ISO 8601 timestamp such as 2026-01-01T00:00:00Z")


#: A boolean that is refused unless it is clearly one (see :func:`parse_flag`).
Flag = Annotated[bool, BeforeValidator(parse_flag)]
#: A non-negative timedelta (see :func:`parse_duration`); ``<field>_<unit>`` keys take numbers.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
#: A non-negative float number of seconds, or any duration form.
Seconds = Annotated[float, BeforeValidator(_seconds)]
PositiveInt = Annotated[int, BeforeValidator(bounded_int(1))]
NonNegativeInt = Annotated[int, BeforeValidator(bounded_int(0))]
TextList = Annotated[tuple[str, ...], BeforeValidator(_text_list)]
SecretKeys = Annotated[tuple[bytes, ...], BeforeValidator(_secret_keys)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
