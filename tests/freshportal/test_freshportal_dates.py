"""Strict FreshPortal dates: ISO 8601 and DD-MM-YYYY by shape, never a guessed MM-DD."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_freshportal.freshportal import DataError, load_mapping, parse_date, parse_datetime
from checkout_freshportal.freshportal.dates import format_dmy
from checkout_freshportal.freshportal.models import order_from_api

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06", date(2024, 5, 6)),
        ("06-05-2024", date(2024, 5, 6)),  # day first, by contract
        ("31-12-2024", date(2024, 12, 31)),
        ("29-02-2024", date(2024, 2, 29)),
        (" 01-01-2025 ", date(2025, 1, 1)),
        ("", None),
        (None, None),
    ],
)
def test_parse_date_accepts_iso_and_dmy(text, expected) -> None:
    assert parse_date(text, field="order_date", record="order 1") == expected


@pytest.mark.parametrize(
    "text",
    [
        "12-31-2024",  # MM-DD-YYYY: month 31 does not exist; never re-read as month-day
        "29-02-2023",  # not a leap year
        "2024/05/06",
        "06/05/2024",
        "6-5-2024",  # no zero padding
        "06-05-24",  # two-digit year
        "2024-5-6",
        "20240506",
        "2024-05-06T10:00:00Z",  # a timestamp where a date is expected
        "yesterday",
    ],
)
def test_parse_date_refuses_ambiguous_or_invalid(text) -> None:
    with pytest.raises(DataError) as info:
        parse_date(text, field="order_date", record="order 481234 (FP-100234)")
    err = info.value
    assert err.field == "order_date"
    assert err.record == "order 481234 (FP-100234)"
    assert "order_date" in str(err)
    assert "FP-100234" in str(err)
    assert repr(text) in str(err)


def test_parse_date_refuses_non_strings() -> None:
    with pytest.raises(DataError):
        parse_date(20240506, field="order_date")


def test_parse_datetime_iso_with_offset_is_utc() -> None:
    got = parse_datetime("2024-05-06T10:15:00+02:00", field="confirmed_at", local_tz=AMS)
    assert got == datetime(2024, 5, 6, 8, 15, tzinfo=UTC)
    assert parse_datetime("2024-05-06T08:15:00.123Z", field="x") == datetime(
        2024, 5, 6, 8, 15, 0, 123000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06T10:15:00+02", datetime(2024, 5, 6, 8, 15, tzinfo=UTC)),  # ISO 8601 hour offset
        ("2024-05-06T10:15:00-03", datetime(2024, 5, 6, 13, 15, tzinfo=UTC)),
        ("2024-05-06T08:15:00z", datetime(2024, 5, 6, 8, 15, tzinfo=UTC)),  # RFC 3339 5.6
        ("2024-05-06t08:15:00Z", datetime(2024, 5, 6, 8, 15, tzinfo=UTC)),
        ("2024-05-06t10:15:00.5+0200", datetime(2024, 5, 6, 8, 15, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_lower_case_and_hour_only_offsets(text, expected) -> None:
    assert parse_datetime(text, field="updated_at") == expected


@pytest.mark.parametrize(
    "text",
    ["2024-05-06T10:15:00+2", "2024-05-06T10:15:00+02:", "2024-05-06T10:15:00+020", "2024-05-06x10:15:00Z"],
)
def test_parse_datetime_keeps_refusing_other_offsets(text) -> None:
    with pytest.raises(DataError):
        parse_datetime(text, field="updated_at")


def test_parse_datetime_dmy_is_tenant_wall_clock() -> None:
    summer = parse_datetime("06-05-2024 14:03:12", field="requested_at", local_tz=AMS)
    winter = parse_datetime("06-01-2024 14:03", field="requested_at", local_tz=AMS)
    assert summer == datetime(2024, 5, 6, 12, 3, 12, tzinfo=UTC)  # CEST, +02:00
    assert winter == datetime(2024, 1, 6, 13, 3, tzinfo=UTC)  # CET, +01:00


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-06T10:15:00",  # ISO without an offset: which zone? refused
        "2024-05-06 10:15",
        "05-06-2024 25:00:00",
        "31-04-2024 10:00:00",
        "31-03-2024 02:30:00",  # does not exist in Amsterdam (spring-forward gap)
        "06/05/2024 10:00",
    ],
)
def test_parse_datetime_refuses_invalid(text) -> None:
    with pytest.raises(DataError) as info:
        parse_datetime(text, field="requested_at", record="refund request 7001", local_tz=AMS)
    assert "requested_at" in str(info.value)
    assert "refund request 7001" in str(info.value)


def test_fall_back_hour_reads_as_the_earlier_instant() -> None:
    got = parse_datetime("27-10-2024 02:30:00", field="created_at", local_tz=AMS)
    assert got == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # still CEST (+02:00)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_dmy_and_iso_round_trip(day: date) -> None:
    assert parse_date(format_dmy(day), field="d") == day
    assert parse_date(day.isoformat(), field="d") == day


def _order(**overrides):
    raw = {
        "id": 481234,
        "order_number": "FP-100234",
        "status": "confirmed",
        "currency_code": "EUR",
        "total_incl_vat": "12.50",
        "debtor": {"id": 1, "name": "Bloemen B.V.", "email": "jan.devries@example.nl", "country_code": "nl"},
        "order_date": "06-05-2024",
        "confirmed_at": "2024-05-06T10:15:00+02:00",
    }
    raw.update(overrides)
    return raw


def test_order_with_a_bad_date_names_field_and_record_but_no_email() -> None:
    mapping = load_mapping()
    order = order_from_api(_order(), mapping)
    assert order.order_date == date(2024, 5, 6)
    assert order.customer.country == "NL"
    with pytest.raises(DataError) as info:
        order_from_api(_order(order_date="05/06/2024"), mapping)
    text = str(info.value)
    assert "order_date" in text
    assert "order 481234 (FP-100234)" in text
    assert "jan.devries" not in text


def test_order_repr_masks_the_email() -> None:
    order = order_from_api(_order(), load_mapping())
    assert "jan.devries@example.nl" not in repr(order)
    assert "j***@example.nl" in repr(order)
    assert order.customer.email == "jan.devries@example.nl"  # the data itself is intact
