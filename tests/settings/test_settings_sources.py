"""Sources, precedence, unknown keys, secrets and the error itself."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from settings_helpers import SOURCES, load

from checkout_freshportal.errors import is_permanent
from checkout_freshportal.reconcile.quality.settings import QualitySettings
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.reports.settings import ReportSettings
from checkout_freshportal.settings_base import NOT_SETTINGS, SettingsError
from checkout_freshportal.sidecar.settings import SidecarSettings, SidecarSettingsError
from checkout_freshportal.sync.captures.settings import CaptureSettings
from checkout_freshportal.sync.chargebacks.settings import ChargebackSettings
from checkout_freshportal.sync.events.settings import EventsSettings
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings
from checkout_freshportal.sync.refunds.settings import RefundSettings
from checkout_freshportal.sync.status_push.settings import PushSettings

GROUPS = (
    IngestSettings,
    PaymentRequestSettings,
    EventsSettings,
    PushSettings,
    RefundSettings,
    CaptureSettings,
    ChargebackSettings,
    ReconcileSettings,
    QualitySettings,
    ReportSettings,
)


# -- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["mapping", "json", "yaml"])
@pytest.mark.parametrize(
    ("cls", "group"),
    [
        (IngestSettings, "ingest"),
        (PaymentRequestSettings, "payment-request"),
        (EventsSettings, "events"),
        (PushSettings, "push"),
        (RefundSettings, "refunds"),
        (CaptureSettings, "captures"),
        (ChargebackSettings, "chargebacks"),
        (ReconcileSettings, "reconciliation"),
        (QualitySettings, QualitySettings.settings_group),
        (ReportSettings, "report"),
    ],
)
def test_unknown_key_is_refused_with_the_known_keys(
    source: str, tmp_path: Path, cls: type[IngestSettings], group: str
) -> None:
    with pytest.raises(SettingsError) as err:
        load(cls, source, {"batch_sise": 5}, tmp_path)
    message = str(err.value)
    assert f"unknown {group} setting(s): batch_sise" in message
    for name in cls.model_fields:
        assert name in message


def test_unit_keys_are_listed_among_the_known_keys() -> None:
    with pytest.raises(SettingsError, match=r"rewalk\[_seconds\|_minutes\|_hours\|_days\]"):
        IngestSettings.from_mapping({"rewalk_weeks": 1})


def test_unit_suffix_only_for_durations() -> None:
    """``batch_size_seconds`` is not a thing: units only apply to duration fields."""
    with pytest.raises(SettingsError, match="unknown events setting"):
        EventsSettings.from_mapping({"batch_size_seconds": 1})


def test_the_same_setting_twice_is_refused() -> None:
    with pytest.raises(SettingsError, match="rewalk_days is given twice"):
        IngestSettings.from_mapping({"rewalk": "2d", "rewalk_days": 3})


def test_environment_reads_only_the_groups_own_names() -> None:
    """``CFP_INGEST_SCHEDULE`` belongs to the DAG, not to the settings: it is neither read nor refused."""
    env = {"CFP_INGEST_SCHEDULE": "@daily", "CFP_INGEST_REWALK_DAYS": "2", "CFP_EVENTS_BATCH_SIZE": "7"}
    assert IngestSettings.from_env(env) == IngestSettings(rewalk=timedelta(days=2))
    assert EventsSettings.from_env(env).batch_size == 7


@pytest.mark.parametrize("cls", [*GROUPS, SidecarSettings])
def test_unknown_variable_under_a_groups_prefix_is_refused(cls: type[IngestSettings]) -> None:
    """One behaviour for every group: a typo in a variable name stops the load, like a typo in a key."""
    env = {**SIDECAR_ENV, f"{cls.env_prefix}BATCH_SISE": "5"}
    with pytest.raises(SettingsError) as err:
        cls.from_env(env)
    message = str(err.value)
    assert (
        f"unknown {cls.settings_group} setting(s): {cls.env_prefix}BATCH_SISE (known variables: " in message
    )
    for name in cls.model_fields:
        assert cls.env_name(name) in message


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (IngestSettings, "CFP_INGEST_SCHEDULE"),
        (PaymentRequestSettings, "CFP_PAYMENT_REQUESTS_SCHEDULE"),
        (EventsSettings, "CFP_EVENTS_SCHEDULE"),
        (SidecarSettings, "CFP_SIDECAR_SUPERVISOR_PID"),
    ],
)
def test_documented_variables_that_are_not_settings_are_let_through(
    cls: type[IngestSettings], name: str
) -> None:
    """Schedules are read by the DAG files, the supervisor pid by the sidecar's workers."""
    assert name in NOT_SETTINGS[cls.env_prefix]
    loaded = cls.from_env({**SIDECAR_ENV, name: "@daily"})
    assert loaded == cls.from_env(SIDECAR_ENV)


def test_every_not_settings_variable_is_documented() -> None:
    """The allow-list holds real variables only: each is named in docs/ (and so used somewhere)."""
    docs = "".join(
        p.read_text(encoding="utf-8") for p in Path(__file__).parents[2].joinpath("docs").glob("*.md")
    )
    for names in NOT_SETTINGS.values():
        for name in names:
            assert name in docs, name


def test_blank_environment_variable_counts_as_unset() -> None:
    assert EventsSettings.from_env({"CFP_EVENTS_BATCH_SIZE": "  "}) == EventsSettings()


def test_none_in_a_mapping_means_the_default() -> None:
    assert IngestSettings.from_mapping({"rewalk_days": None, "settle": None}) == IngestSettings()
    for cls in GROUPS:
        assert cls.from_mapping(None) == cls()
        assert cls.from_mapping({}) == cls()


# -- native JSON / YAML types ------------------------------------------------------------------


@pytest.mark.parametrize("source", ["mapping", "json", "yaml"])
def test_native_types(source: str, tmp_path: Path) -> None:
    values = {"batch_size": 200, "time_budget_seconds": 12.5, "fetch_truth": False, "max_deferrals": 0}
    s = load(EventsSettings, source, values, tmp_path)
    assert (s.batch_size, s.time_budget_seconds, s.fetch_truth, s.max_deferrals) == (200, 12.5, False, 0)
    ingest = load(IngestSettings, source, {"rewalk_days": 2, "report_types": ["Payouts"]}, tmp_path)
    assert (ingest.rewalk, ingest.report_types) == (timedelta(days=2), ("Payouts",))


@pytest.mark.parametrize("source", ["mapping", "json", "yaml"])
@pytest.mark.parametrize(
    ("values", "allowed"),
    [
        ({"batch_size": True}, "must be an int"),  # a bool is not a number
        ({"batch_size": 2.5}, "must be an int"),
        ({"fetch_truth": 2}, "must be true or false"),
        ({"time_budget_seconds": False}, "must be a float"),
    ],
)
def test_native_types_refused(source: str, tmp_path: Path, values: dict[str, object], allowed: str) -> None:
    with pytest.raises(SettingsError, match=allowed):
        load(EventsSettings, source, values, tmp_path)


def test_list_must_hold_text() -> None:
    with pytest.raises(SettingsError, match="report_types must be a list of names"):
        IngestSettings.from_mapping({"report_types": 5})
    with pytest.raises(SettingsError, match="report_types must be a list of names"):
        IngestSettings.from_mapping({"report_types": ["Payouts", 3]})


def test_text_must_be_text() -> None:
    with pytest.raises(SettingsError, match="description must be a valid string, got 5"):
        PaymentRequestSettings.from_mapping({"description": 5})
    assert PaymentRequestSettings.from_mapping({"locale": "nl-NL"}).locale == "nl-NL"


def test_yaml_durations_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yml"
    path.write_text("rewalk: 36h\nsettle: PT90S\nreport_types:\n  - Payouts\n", encoding="utf-8")
    s = IngestSettings.from_file(path)
    assert (s.rewalk, s.settle, s.report_types) == (timedelta(hours=36), timedelta(seconds=90), ("Payouts",))


# -- files -------------------------------------------------------------------------------------


def test_one_file_for_every_group_by_section(tmp_path: Path) -> None:
    path = tmp_path / "cfp.yaml"
    path.write_text("ingest:\n  rewalk_days: 1\nevents:\n  fetch_truth: off\n", encoding="utf-8")
    assert IngestSettings.from_file(path, section="ingest").rewalk == timedelta(days=1)
    assert EventsSettings.from_file(path, section="events").fetch_truth is False
    assert PushSettings.from_file(path, section="status_push") == PushSettings()


def test_file_errors_name_the_file_and_never_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"airflow_password": "hunter2"', encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        SidecarSettings.from_file(path)
    assert str(path) in str(err.value)
    assert "hunter2" not in str(err.value)
    yml = tmp_path / "broken.yaml"
    yml.write_text("airflow_password: [hunter2\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read the file") as err:
        SidecarSettings.from_file(yml)
    assert "hunter2" not in str(err.value)
    with pytest.raises(SettingsError, match="cannot read the file"):
        IngestSettings.from_file(tmp_path / "missing.json")
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SettingsError, match="must hold a mapping"):
        IngestSettings.from_file(listing)


def test_file_values_are_labelled_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"batch_size": 0}), encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"events settings \({path}\): batch_size must be positive"):
        EventsSettings.from_file(path)


# -- precedence --------------------------------------------------------------------------------


def test_precedence_defaults_file_env_mapping(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"batch_size": 10, "max_deferrals": 1, "fetch_truth": "no"}), encoding="utf-8")
    env = {"CFP_EVENTS_BATCH_SIZE": "20", "CFP_EVENTS_MAX_DEFERRALS": "2"}
    s = EventsSettings.load({"batch_size": 30}, env=env, file=path)
    assert s.batch_size == 30  # mapping beats env and file
    assert s.max_deferrals == 2  # env beats file
    assert s.fetch_truth is False  # file beats the default
    assert s.time_budget_seconds == 240.0  # default


def test_settings_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text("rewalk: 2d\nsettle: 5m\n", encoding="utf-8")
    env = {"CFP_INGEST_SETTINGS_FILE": str(path), "CFP_INGEST_SETTLE_SECONDS": "30"}
    s = IngestSettings.load(None, env=env)
    assert (s.rewalk, s.settle) == (timedelta(days=2), timedelta(seconds=30))


def test_a_unit_key_in_one_source_replaces_the_plain_key_of_another(tmp_path: Path) -> None:
    env = {"CFP_INGEST_REWALK": "5d"}
    assert IngestSettings.load({"rewalk_hours": 6}, env=env).rewalk == timedelta(hours=6)


def test_problems_of_every_source_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"batch_sise": 10}), encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        EventsSettings.load({"fetch_truth": "maybe"}, env={}, file=path)
    assert "batch_sise" in str(err.value)
    assert "fetch_truth" in str(err.value)


# -- direct construction, immutability and the error itself ------------------------------------


def test_direct_construction_refuses_with_the_same_error() -> None:
    with pytest.raises(SettingsError, match="batch_size must be positive"):
        EventsSettings(batch_size=0)
    with pytest.raises(SettingsError, match="unknown push setting"):
        PushSettings(max_order=5)  # type: ignore[call-arg]


def test_settings_are_frozen() -> None:
    s = EventsSettings()
    with pytest.raises(ValueError, match="frozen"):
        s.batch_size = 5  # type: ignore[misc]


def test_error_is_permanent_a_value_error_and_pickles() -> None:
    with pytest.raises(SettingsError) as err:
        EventsSettings.from_mapping({"batch_size": "0"})
    exc = err.value
    assert isinstance(exc, ValueError)
    assert exc.permanent is True
    assert is_permanent(exc)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is SettingsError
    assert str(back) == str(exc)
    assert back.problems == exc.problems
    assert SidecarSettingsError is SettingsError


def test_long_values_are_shortened_and_escaped() -> None:
    with pytest.raises(SettingsError) as err:
        EventsSettings.from_mapping({"fetch_truth": "x" * 500 + "\n\x1b[31m"})
    message = str(err.value)
    assert len(message) < 400
    assert "\n" not in message
    assert "\x1b" not in message


# -- secrets -----------------------------------------------------------------------------------

SIDECAR_ENV = {
    "CFP_WAREHOUSE_URL": "sqlite:////tmp/x.sqlite",
    "CFP_SIDECAR_SIGNATURE_KEYS": "sig-secret-1",
    "CFP_SIDECAR_TRIGGER_ENABLED": "false",
}


@pytest.mark.parametrize("source", SOURCES)
def test_secrets_are_never_echoed(source: str, tmp_path: Path) -> None:
    values = {
        "warehouse_url": "sqlite:////tmp/x.sqlite",
        "signature_keys": "sig-secret-1",
        "authorization": "auth-secret-2",
        "airflow_password": "pw-secret-3",
        "trigger_enabled": "false",
        "writers": "zero",
    }
    with pytest.raises(SettingsError) as err:
        load(SidecarSettings, source, values, tmp_path)
    message = str(err.value)
    assert "writers" in message.lower()
    assert "'zero'" in message
    for secret in ("sig-secret-1", "auth-secret-2", "pw-secret-3"):
        assert secret not in message


@pytest.mark.parametrize("source", ["mapping", "json", "yaml"])
def test_a_refused_secret_shows_hidden(source: str, tmp_path: Path) -> None:
    values = {"warehouse_url": "sqlite://", "signature_keys": [5, "sig-secret-1"], "trigger_enabled": False}
    with pytest.raises(SettingsError) as err:
        load(SidecarSettings, source, values, tmp_path)
    message = str(err.value)
    assert "signature_keys must be a list of names (text only), got <hidden>" in message
    assert "sig-secret-1" not in message


def test_sidecar_env_names_and_durations() -> None:
    env = {
        **SIDECAR_ENV,
        "CFP_AIRFLOW_TIMEOUT": "30s",
        "CFP_SIDECAR_RETRIGGER_AFTER": "PT10M",
        "CFP_SIDECAR_MAX_BODY_BYTES": "2048",
    }
    s = SidecarSettings.from_env(env)
    assert (s.airflow_timeout, s.retrigger_after, s.max_body_bytes) == (30.0, 600.0, 2048)
    with pytest.raises(SettingsError, match="CFP_SIDECAR_MAX_BODY_BYTES must be positive"):
        SidecarSettings.from_env({**env, "CFP_SIDECAR_MAX_BODY_BYTES": "0"})


def test_sidecar_overrides_win_over_env() -> None:
    s = SidecarSettings.from_env(SIDECAR_ENV, writers=5, dag_id="other")
    assert (s.writers, s.dag_id) == (5, "other")
