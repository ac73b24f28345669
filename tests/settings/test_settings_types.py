"""Each kind of value parses the same from a mapping, the environment, a JSON and a YAML file.

Values are given as text here because the environment only has text; the same text must mean
the same thing in every source (that was the bug: ``"false"`` was ``True`` in one parser).
Native JSON/YAML types (numbers, booleans, lists) are covered in test_settings_sources.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from settings_helpers import SOURCES, load

from checkout_freshportal.settings_base import SettingsError
from checkout_freshportal.sync.events.settings import EventsSettings
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings
from checkout_freshportal.sync.status_push.settings import PushSettings


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"rewalk": "2h"}, "rewalk", timedelta(hours=2)),
        ({"rewalk": "30s"}, "rewalk", timedelta(seconds=30)),
        ({"rewalk": "15m"}, "rewalk", timedelta(minutes=15)),
        ({"rewalk": "3d"}, "rewalk", timedelta(days=3)),
        ({"rewalk": "1.5h"}, "rewalk", timedelta(minutes=90)),
        ({"rewalk": "PT2H"}, "rewalk", timedelta(hours=2)),
        ({"rewalk": "P3D"}, "rewalk", timedelta(days=3)),
        ({"rewalk": "p1dt12h30m"}, "rewalk", timedelta(days=1, hours=12, minutes=30)),
        ({"rewalk": "P1W"}, "rewalk", timedelta(weeks=1)),
        ({"settle": "0s"}, "settle", timedelta(0)),
        ({"rewalk_days": "1"}, "rewalk", timedelta(days=1)),
        ({"rewalk_days": "1.5"}, "rewalk", timedelta(hours=36)),
        ({"disputes_overlap_hours": "2"}, "disputes_overlap", timedelta(hours=2)),
        ({"settle_minutes": "5"}, "settle", timedelta(minutes=5)),
        ({"settle_seconds": "90"}, "settle", timedelta(seconds=90)),
    ],
)
def test_duration(
    source: str, tmp_path: Any, values: dict[str, str], field: str, expected: timedelta
) -> None:
    s = load(IngestSettings, source, values, tmp_path)
    assert getattr(s, field) == expected
    assert s.initial_lookback == IngestSettings().initial_lookback  # the rest keeps its default


@pytest.mark.parametrize(
    ("key", "raw", "allowed"),
    [
        ("rewalk", "3", "a plain number needs the unit in the key: rewalk_hours"),  # unit unknown
        ("rewalk", "P1Y", "30s, 15m, 2h, 3d"),  # a year has no fixed length
        ("rewalk", "P1M", "PT2H"),
        ("rewalk", "2 hours", "30s, 15m, 2h, 3d"),
        ("rewalk", "-1h", "30s, 15m, 2h, 3d"),
        ("rewalk", "PT", "30s, 15m, 2h, 3d"),
        ("rewalk_days", "three", "must be a non-negative number"),
        ("rewalk_days", "-1", "must be a non-negative number"),
        ("search_window", "0s", "must be longer than zero"),
    ],
)
def test_bad_duration_names_key_value_and_forms(
    source: str, tmp_path: Any, key: str, raw: str, allowed: str
) -> None:
    with pytest.raises(SettingsError) as err:
        load(IngestSettings, source, {key: raw}, tmp_path)
    message = str(err.value)
    assert message.startswith("ingest settings")
    assert key in message.lower()  # the env source names CFP_INGEST_<KEY>
    assert repr(raw) in message
    assert allowed in message.replace("CFP_INGEST_REWALK_HOURS", "rewalk_hours")


def test_timedelta_passes_as_is() -> None:
    assert IngestSettings.from_mapping({"rewalk": timedelta(hours=5)}).rewalk == timedelta(hours=5)
    with pytest.raises(SettingsError, match="must not be negative"):
        IngestSettings.from_mapping({"rewalk": timedelta(hours=-5)})


# -- seconds as a float (fields whose name or docs say seconds) --------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("120", 120.0), ("0.5", 0.5), ("2m", 120.0), ("PT1M30S", 90.0), ("0", 0.0)],
)
def test_seconds(source: str, tmp_path: Any, raw: str, expected: float) -> None:
    s = load(EventsSettings, source, {"time_budget_seconds": raw}, tmp_path)
    assert s.time_budget_seconds == expected
    assert isinstance(s.time_budget_seconds, float)


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [("soon", "must be a float"), ("-1", "must not be negative"), ("nan", "must be a float")],
)
def test_bad_seconds(source: str, tmp_path: Any, raw: str, allowed: str) -> None:
    with pytest.raises(SettingsError, match=allowed) as err:
        load(PushSettings, source, {"backoff_base_seconds": raw}, tmp_path)
    assert "backoff_base_seconds" in str(err.value).lower()
    assert repr(raw) in str(err.value)


# -- flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
        (" Off ", False),
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("ON", True),
    ],
)
def test_flag(source: str, tmp_path: Any, raw: str, expected: bool) -> None:
    assert load(EventsSettings, source, {"fetch_truth": raw}, tmp_path).fetch_truth is expected
    assert load(PaymentRequestSettings, source, {"capture": raw}, tmp_path).capture is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y", "-1", "enabled"])
def test_bad_flag_is_refused_not_guessed(source: str, tmp_path: Any, raw: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(EventsSettings, source, {"fetch_truth": raw}, tmp_path)
    message = str(err.value)
    assert "fetch_truth" in message.lower()
    assert repr(raw) in message
    assert "must be true or false (true/false, yes/no, on/off, 1/0)" in message


def test_events_false_is_false_regression() -> None:
    """The old parser did ``bool("false")``: a DAG run asking for no API calls made them anyway."""
    assert EventsSettings.from_mapping({"fetch_truth": "false"}).fetch_truth is False
    assert EventsSettings.from_mapping({"fetch_truth": False}).fetch_truth is False
    assert EventsSettings.from_mapping({"fetch_truth": 0}).fetch_truth is False
    assert EventsSettings.from_env({"CFP_EVENTS_FETCH_TRUTH": "false"}).fetch_truth is False


# -- whole numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("200", 200), (" 7 ", 7), ("1", 1), ("2.0", 2)])
def test_positive_int(source: str, tmp_path: Any, raw: str, expected: int) -> None:
    s = load(EventsSettings, source, {"batch_size": raw}, tmp_path)
    assert s.batch_size == expected
    assert type(s.batch_size) is int


@pytest.mark.parametrize(
    ("key", "raw", "allowed"),
    [
        ("batch_size", "0", "must be positive (>= 1)"),
        ("batch_size", "-3", "must be positive (>= 1)"),
        ("batch_size", "2.5", "must be an int (a whole number, positive (>= 1))"),
        ("batch_size", "many", "must be an int"),
        ("max_deferrals", "-1", "must not be negative"),
    ],
)
def test_bad_int(source: str, tmp_path: Any, key: str, raw: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(EventsSettings, source, {key: raw}, tmp_path)
    assert allowed in str(err.value)
    assert repr(raw) in str(err.value)


def test_bounded_int_names_its_range(source: str, tmp_path: Any) -> None:
    assert load(PaymentRequestSettings, source, {"orders_page_size": "500"}, tmp_path).orders_page_size == 500
    with pytest.raises(SettingsError) as err:
        load(PaymentRequestSettings, source, {"orders_page_size": "501"}, tmp_path)
    assert "orders_page_size must be within 1..500, got '501'" in str(err.value).lower()


def test_max_deferrals_zero_is_allowed(source: str, tmp_path: Any) -> None:
    assert load(EventsSettings, source, {"max_deferrals": "0"}, tmp_path).max_deferrals == 0


# -- lists -------------------------------------------------------------------------------------


def test_text_list_from_comma_separated_text(source: str, tmp_path: Any) -> None:
    s = load(IngestSettings, source, {"report_types": "Payouts, FinancialActions,"}, tmp_path)
    assert s.report_types == ("Payouts", "FinancialActions")


# -- choices -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["wait", "resend"])
def test_choice(source: str, tmp_path: Any, raw: str) -> None:
    assert load(PaymentRequestSettings, source, {"in_doubt": raw}, tmp_path).in_doubt == raw


@pytest.mark.parametrize("raw", ["maybe", "WAIT", "Resend "])
def test_bad_choice_lists_the_choices(source: str, tmp_path: Any, raw: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(PaymentRequestSettings, source, {"in_doubt": raw}, tmp_path)
    message = str(err.value)
    assert message.startswith("payment-request settings")
    assert "in_doubt" in message.lower()
    assert "must be one of 'wait' or 'resend'" in message
    assert repr(raw) in message


# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", datetime(2026, 1, 1, tzinfo=UTC)),  # no offset: UTC, as documented
    ],
)
def test_timestamp(source: str, tmp_path: Any, raw: str, expected: datetime) -> None:
    assert (
        load(PaymentRequestSettings, source, {"confirmed_after": raw}, tmp_path).confirmed_after == expected
    )


def test_bad_timestamp(source: str, tmp_path: Any) -> None:
    with pytest.raises(SettingsError, match="must be an ISO 8601 timestamp") as err:
        load(PaymentRequestSettings, source, {"confirmed_after": "yesterday"}, tmp_path)
    assert "'yesterday'" in str(err.value)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(SettingsError, match="confirmed_after must be timezone-aware"):
        PaymentRequestSettings.from_mapping({"confirmed_after": datetime(2026, 1, 1)})


# -- several problems at once ------------------------------------------------------------------


def test_every_refused_value_is_reported_at_once(source: str, tmp_path: Any) -> None:
    with pytest.raises(SettingsError) as err:
        load(EventsSettings, source, {"batch_size": "0", "fetch_truth": "maybe"}, tmp_path)
    assert len(err.value.problems) == 2
    assert "batch_size" in str(err.value).lower()
    assert "fetch_truth" in str(err.value).lower()
