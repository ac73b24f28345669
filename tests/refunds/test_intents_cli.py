"""``cfp intents list|summary`` on a warehouse the refund sync used: what on-call reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from refunds_fixtures import RefundWorld

from checkout_freshportal.cli import main
from checkout_freshportal.sync.intents import store


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    assert done.value.code == 0
    return capsys.readouterr().out


def test_list_and_summary_show_the_intents_escaped(
    refund_world: RefundWorld, migrated_warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    w = refund_world
    w.pay("FP-400001", 10000)
    w.settle()
    ok = w.request_refund("FP-400001", 2500)
    bad = w.request_refund("FP-400007", 100)  # no payment: rejected
    w.run()
    with w.engine.begin() as conn:  # a hostile error text, as an API could send one
        conn.execute(
            sa.update(store.T)
            .where(store.T.c.request_key == f"refund_request:{bad}")
            .values(last_error="boom\n2026-01-01 INFO forged \x1b[31m")
        )
        conn.execute(  # a note being written (captures claim theirs; docs/captures.md)
            sa.update(store.T)
            .where(store.T.c.request_key == f"refund_request:{ok}")
            .values(writeback_claimed_at=datetime(2026, 12, 7, 9, 30, 5, tzinfo=UTC))
        )
    url = migrated_warehouse_url
    out = _cli(capsys, "intents", "list", "--url", url)
    assert f"refund_request:{ok}" in out
    assert "note claimed 2026-12-07 09:30:05Z" in out
    assert "rejected" in out
    assert "reason payment_not_found" in out
    assert "\x1b" not in out
    assert "boom\\x0a2026-01-01 INFO forged" in out
    lines = _cli(capsys, "intents", "list", "--state", "rejected", "--json", "--url", url).splitlines()
    assert [json.loads(x)["request_key"] for x in lines] == [f"refund_request:{bad}"]
    summary = _cli(capsys, "intents", "summary", "--url", url)
    assert summary.splitlines()[0].startswith("refund")
    assert "rejected 1" in summary


def test_without_a_warehouse_it_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    with pytest.raises(SystemExit) as done:
        main(["intents", "summary"])
    assert "CFP_WAREHOUSE_URL" in str(done.value.code)
