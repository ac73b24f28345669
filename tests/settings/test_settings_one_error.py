"""One settings error for every source: a caller (or the retry rule) catches configuration
mistakes one way, whether a settings group, a client's settings or a Connection's extra refused
them."""

from __future__ import annotations

import pickle

import pytest

from checkout_freshportal import errors, settings_base
from checkout_freshportal.checkout import CheckoutSettings
from checkout_freshportal.freshportal import FreshPortalSettings
from checkout_freshportal.http import errors as http_errors
from checkout_freshportal.sync.ingest.settings import IngestSettings


def test_every_module_names_the_same_class() -> None:
    assert settings_base.SettingsError is errors.SettingsError
    assert http_errors.SettingsError is errors.SettingsError
    assert errors.is_permanent(errors.SettingsError("x"))


def test_group_and_client_settings_raise_it() -> None:
    with pytest.raises(errors.SettingsError) as group:
        IngestSettings.from_mapping({"rewalk_days": "soon"})
    assert group.value.problems
    assert group.value.problems[0].key == "rewalk_days"
    with pytest.raises(errors.SettingsError):
        CheckoutSettings(base_url="ftp://example.invalid", secret_key="sk_sbox_x")
    with pytest.raises(errors.SettingsError):
        FreshPortalSettings(base_url="", api_key="k")


def test_it_survives_a_trip_between_processes() -> None:
    err = errors.SettingsError("bad", (errors.Problem("k", "v", "a number"),))
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.SettingsError
    assert back.problems == err.problems
    assert str(back) == "bad"
