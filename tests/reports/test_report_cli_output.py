"""What ``cfp report`` prints on success: paths a terminal shows, never interprets."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_world as w

from checkout_freshportal.cli import main
from checkout_freshportal.warehouse import make_engine


def test_an_escape_sequence_in_the_out_path_is_printed_escaped(
    migrated_sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(migrated_sqlite_url)
    try:
        w.plant(engine)
    finally:
        engine.dispose()
    out = tmp_path / "q3\x1b]0;owned\x07\x1b[2J"
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", str(out), "--url", migrated_sqlite_url, "--as-of", "2026-03-31T12:00:00"])
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "\x1b" not in printed
    assert "\x07" not in printed
    lines = printed.splitlines()
    assert lines[0].startswith(f"report: {tmp_path}/q3\\x1b]0;owned\\x07\\x1b[2J/")
    assert lines[1] == f"latest: {tmp_path}/q3\\x1b]0;owned\\x07\\x1b[2J/latest/report.html"
    assert (out / "latest" / "report.html").is_file()  # the folder itself is the one asked for
