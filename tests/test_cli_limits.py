"""Every ``--limit`` of ``cfp`` refuses what SQL would misread, before any database is opened."""

from __future__ import annotations

import pytest

from checkout_freshportal.cli import main
from checkout_freshportal.cli_args import MAX_LIMIT, row_limit

LISTINGS = (
    ("exceptions", "list"),
    ("intents", "list"),
    ("quarantine", "list"),
    ("sidecar", "poison"),
)


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
@pytest.mark.parametrize("limit", ["0", "-5", "99999999999999999999", "2.5", "ten", str(MAX_LIMIT + 1)])
def test_a_limit_sql_would_misread_is_refused_with_usage(
    command: tuple[str, ...], limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--limit", limit, "--url", "sqlite:////nonexistent/never-opened.db"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --limit: must be a whole number from 1 to {MAX_LIMIT:,}, got '{limit}'" in err
    assert "Traceback" not in err


def test_the_bounds_themselves_pass() -> None:
    assert row_limit("1") == 1
    assert row_limit(str(MAX_LIMIT)) == MAX_LIMIT
