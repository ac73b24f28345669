"""The report time zones as settings: IANA names checked when read, from params or environment."""

from __future__ import annotations

import pytest

from checkout_freshportal.errors import SettingsError
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.warehouse.report_convert import TimeZones


def test_default_is_utc_for_every_entity() -> None:
    assert IngestSettings().time_zones() == TimeZones("UTC", {})


@pytest.mark.parametrize(
    "value",
    [
        '{"ent_nl": "Europe/Amsterdam", "ent_us": "America/New_York"}',
        "ent_nl=Europe/Amsterdam, ent_us=America/New_York",
    ],
)
def test_per_entity_zones_from_the_environment(value: str) -> None:
    got = IngestSettings.from_env(
        {"CFP_INGEST_REPORT_TIME_ZONES": value, "CFP_INGEST_REPORT_TIME_ZONE": "Europe/London"}
    )
    assert got.time_zones() == TimeZones(
        "Europe/London", {"ent_nl": "Europe/Amsterdam", "ent_us": "America/New_York"}
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("report_time_zone", "Mars/Olympus"),
        ("report_time_zones", {"ent": "CEST"}),
        ("report_time_zones", "garbage"),
    ],
)
def test_an_unknown_zone_is_a_settings_error_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(SettingsError, match=key):
        IngestSettings.from_mapping({key: value})
