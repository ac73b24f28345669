"""Every ``--limit`` of ``cfp`` refuses what SQL would misread, before any database is opened;
``cfp demo`` refuses a scenario size it cannot generate, before any process starts; ``cfp ingest``
refuses a backfill window it cannot search, before the warehouse is opened."""

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


@pytest.mark.parametrize(
    ("flag", "value", "bounds"),
    [
        ("--days", "-3", "1 to 365"),
        ("--days", "0", "1 to 365"),
        ("--payments-per-day", "0", "1 to 10,000"),
        ("--open-orders", "-1", "0 to 10,000"),
        ("--days", "9999999999999", "1 to 365"),
    ],
)
def test_cfp_demo_refuses_a_size_it_cannot_generate_before_starting(
    flag: str, value: str, bounds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["demo", flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: must be a whole number from {bounds}, got '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("window", "said"),
    [
        (["--from", "2026-12-07T00:00:00Z", "--to", "2026-12-01T00:00:00Z"], "empty window"),
        (["--from", "2026-12-07T00:00:00Z"], "backfill needs both 'from' and 'to'"),
        (["--from", "garbage", "--to", "2026-12-01T00:00:00Z"], "not an ISO 8601 timestamp: 'garbage'"),
    ],
)
def test_cfp_ingest_refuses_a_bad_backfill_window_before_opening_anything(
    window: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["ingest", *window, "--url", "sqlite:////nonexistent/never-opened.db"])
    assert str(done.value.code).startswith("cfp ingest: --from/--to: ")
    assert said in str(done.value.code)


@pytest.mark.parametrize(
    ("argv", "flag", "bounds"),
    [
        (["sidecar", "serve", "--port", "70000"], "--port", "1 to 65,535"),
        (["sidecar", "serve", "--port", "-1"], "--port", "1 to 65,535"),
        (["sidecar", "serve", "--workers", "0"], "--workers", "1 to 64"),
        (["sandbox", "checkout", "--port", "70000"], "--port", "0 to 65,535"),
        (["sandbox", "freshportal", "--port", "-1"], "--port", "0 to 65,535"),
    ],
)
def test_a_server_refuses_a_port_or_worker_count_it_cannot_use_before_starting(
    argv: list[str], flag: str, bounds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert f"argument {flag}: must be a whole number from {bounds}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", "FP\udcff"],
        ["exceptions", "explain", "x\udcff", "--note", "n"],
        ["exceptions", "explain", "exc_1", "--note", "n\udcff"],
        ["exceptions", "list", "--order", "x\udcff"],
        ["report", "--out", "/tmp/cfp-never-written/o\udcff"],
    ],
    ids=["trace", "explain-ref", "explain-note", "list-order", "report-out"],
)
def test_an_argument_that_is_not_utf8_is_refused_before_anything_runs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates (``$'FP\\xff'`` in a shell); they
    failed deep in a command with a traceback (``cfp report --out`` after writing the report)."""
    with pytest.raises(SystemExit) as done:
        main([*argv, "--url", "sqlite:////nonexistent/never-opened.db"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err
    assert "\\udcff" in err  # shown escaped
    assert "Traceback" not in err
