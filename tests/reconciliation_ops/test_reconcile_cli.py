"""``cfp reconcile``: refused input is named before anything runs (the full run is the DAG's test)."""

from __future__ import annotations

import pytest

from checkout_freshportal.cli import main
from checkout_freshportal.reconcile.cli import default_author


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--as-of", "2026-03-01T00:00:00"], "timestamp without a UTC offset"),
        (["--settings", "{"], "--settings is not JSON"),
        (["--settings", "[1]"], "--settings must be a JSON object"),
        (["--settings", '{"payment_due_weeks": 1}'], "unknown reconciliation setting(s): payment_due_weeks"),
    ],
)
def test_refused_input(seeded_sqlite_url: str, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["reconcile", *argv, "--url", seeded_sqlite_url])
    assert message in str(done.value.code)


def test_author_defaults_to_cfp_user_then_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFP_USER", " finance-ann ")
    assert default_author() == "finance-ann"
    monkeypatch.setenv("CFP_USER", "")
    assert default_author()  # the OS account
