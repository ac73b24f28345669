"""What ``cfp exceptions`` and ``cfp trace`` print is masked like the exports: an exception's
detail may quote a FreshPortal status, a refund's reason what a customer wrote, a person's note
an address. Stored text is kept as it came (the detail is the engine's); the output masks it."""

from __future__ import annotations

import json

import pytest
import seed as s
import sqlalchemy as sa

from checkout_freshportal.cli import main
from checkout_freshportal.warehouse.schema import recon, stg

LEAK = "customer jane.doe@exämple.de paid with 4111.1111.1111.1111, cvv 737"
SECRETS = ("jane.doe", "exämple", "4111.1111", "737")


def _plant(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(recon.recon_exceptions).values(detail=LEAK))
            conn.execute(sa.update(stg.stg_refund_requests).values(reason=LEAK))
    finally:
        engine.dispose()


def _cfp(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--url", url])
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def _assert_masked(out: str) -> None:
    assert "***@***" in out
    assert "1111" in out  # the last four digits stay
    for secret in SECRETS:
        assert secret not in out, secret


def test_listing_showing_and_tracing_mask_free_text(
    seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _plant(seeded_sqlite_url)
    _assert_masked(_cfp(seeded_sqlite_url, capsys, "exceptions", "show", s.EXCEPTION_KEY))
    listed = _cfp(seeded_sqlite_url, capsys, "exceptions", "list", "--json")
    _assert_masked(listed)
    assert json.loads(listed.splitlines()[0])["exception_key"] == s.EXCEPTION_KEY  # ids are not masked
    traced = _cfp(seeded_sqlite_url, capsys, "trace", "--json", s.ORDER_NUMBER)
    _assert_masked(traced)
    d = json.loads(traced)
    assert d["refund_requests"][0]["reason"].startswith("customer ***@*** paid with ************1111")
    _assert_masked(_cfp(seeded_sqlite_url, capsys, "trace", s.ORDER_NUMBER))


def test_explain_prints_the_author_as_stored(
    seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The author is stored masked (explain._clean); the confirmation printed the raw argument."""
    argv = ("exceptions", "explain", s.EXCEPTION_KEY, "--note", "booked by jane@example.com")
    out = _cfp(seeded_sqlite_url, capsys, *argv, "--author", "jane.doe@example.com")
    assert "open -> explained by ***@***, state version 2" in out
    shown = _cfp(seeded_sqlite_url, capsys, "exceptions", "show", s.EXCEPTION_KEY)
    assert "jane" not in out + shown
    assert "by ***@***: booked by ***@***" in shown
