"""``cfp ingest --settings`` and ``--settings-file``: the shared parser, and a one-line refusal."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import pytest

from checkout_freshportal import cli
from checkout_freshportal.sync.ingest.settings import IngestSettings


def ingest_args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["ingest", *argv])


def test_settings_json_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text("rewalk: 5d\nsettle: 1m\nsearch_window: 2h\n", encoding="utf-8")
    monkeypatch.setenv("CFP_INGEST_SETTLE_SECONDS", "10")
    monkeypatch.setenv("CFP_INGEST_SEARCH_WINDOW", "3h")
    args = ingest_args(
        "--settings", '{"rewalk_days": 1, "search_window": "PT4H"}', "--settings-file", str(path)
    )
    s = cli._ingest_settings(args)
    assert isinstance(s, IngestSettings)
    assert s.rewalk == timedelta(days=1)  # --settings beats the file
    assert s.search_window == timedelta(hours=4)  # --settings beats the environment
    assert s.settle == timedelta(seconds=10)  # the environment beats the file


def test_no_settings_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFP_INGEST_SETTINGS_FILE", raising=False)
    assert cli._ingest_settings(ingest_args()) == IngestSettings()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('{"rewalk_days": 1', "cfp ingest: --settings is not JSON"),
        ("[1, 2]", "cfp ingest: --settings must be a JSON object"),
        ('{"rewalk_dayz": 1}', "cfp ingest: ingest settings: unknown ingest setting(s): rewalk_dayz"),
        ('{"rewalk": 3}', "cfp ingest: ingest settings: rewalk must be a duration"),
    ],
)
def test_refusals_are_one_line(settings: str, message: str) -> None:
    with pytest.raises(SystemExit) as err:
        cli._ingest_settings(ingest_args("--settings", settings))
    assert str(err.value.code).startswith(message)
    assert "\n" not in str(err.value.code)
