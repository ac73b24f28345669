"""``explain`` / ``reopen`` and ``cfp exceptions``: the person's word, versioned and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import seed as s
import sqlalchemy as sa

from checkout_freshportal.cli import main
from checkout_freshportal.reconcile import explain as ex
from checkout_freshportal.warehouse.schema.recon import recon_exceptions

EXC_ID = s.exception_id(s.EXCEPTION_KEY)


def _row(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        found = ex.find(conn, EXC_ID)
    assert found is not None
    return found


def test_explain_by_key_then_reopen_by_id_with_audit_trail(seeded) -> None:
    at = s.T0 + timedelta(days=1)
    change = ex.explain(
        seeded, s.EXCEPTION_KEY, note="paid by bank transfer, 4111 1111 1111 1111", author="ann", at=at
    )
    assert (change.exception_id, change.from_status, change.to_status, change.state_version) == (
        EXC_ID, "open", "explained", 2,
    )  # fmt: skip
    row = _row(seeded)
    assert (row["status"], row["explained_by"], row["explained_at"], row["state_version"]) == (
        "explained",
        "ann",
        at,
        2,
    )
    assert row["explanation"] == "paid by bank transfer, ************1111"  # masked before it is kept
    back = ex.reopen(seeded, EXC_ID, note="transfer never arrived", author="bob", at=at + timedelta(hours=1))
    assert (back.to_status, back.state_version) == ("open", 3)
    row = _row(seeded)
    assert (row["status"], row["explanation"], row["explained_by"], row["explained_at"]) == (
        "open",
        None,
        None,
        None,
    )
    with seeded.connect() as conn:
        trail = [
            (e["action"], e["from_status"], e["to_status"], e["actor"], e["note"])
            for e in ex.events(conn, EXC_ID)
        ]
    assert trail == [
        ("explained", "open", "explained", "ann", "paid by bank transfer, ************1111"),
        ("unexplained", "explained", "open", "bob", "transfer never arrived"),
    ]


def test_refusals_say_why(seeded) -> None:
    with pytest.raises(ex.ExplainError, match="only an explained exception can be reopened"):
        ex.reopen(seeded, EXC_ID, note="x", author="ann")
    with pytest.raises(ex.ExplainError, match="the note is empty"):
        ex.explain(seeded, EXC_ID, note="  ", author="ann")
    with pytest.raises(ex.ExceptionNotFound, match="no exception with id or key exc_nope"):
        ex.explain(seeded, "exc_nope", note="x", author="ann")
    with seeded.begin() as conn:
        conn.execute(sa.update(recon_exceptions).values(status="resolved", resolved_at=s.T0))
    with pytest.raises(ex.ExplainError, match=r"is resolved .* nothing to explain"):
        ex.explain(seeded, EXC_ID, note="x", author="ann")
    assert _row(seeded)["state_version"] == 1  # nothing changed


@pytest.mark.parametrize(
    ("note", "author", "refused"),
    [
        ("\u200b", "ann", "the note is empty"),  # zero-width space only: explained by nobody's word
        ("ok", "\u202e\u2066 \ufeff", "the author is empty"),  # bidi controls, a space, a BOM
        ("clear the screen \x1b[2J", "ann", r"control character \(U\+001B\)"),
        ("ok", "ann\x07", r"the author contains a control character \(U\+0007\)"),
    ],
)
def test_invisible_or_control_text_is_refused(seeded, note: str, author: str, refused: str) -> None:
    with pytest.raises(ex.ExplainError, match=refused):
        ex.explain(seeded, EXC_ID, note=note, author=author)
    assert _row(seeded)["state_version"] == 1


def test_format_characters_are_dropped_and_line_breaks_kept(seeded) -> None:
    ex.explain(seeded, EXC_ID, note="paid\u200b twice,\r\nrefund\u202e sent", author="\u2066ann\u2069")
    row = _row(seeded)
    # a line break pasted from Windows (CR LF) is a line break, not a refused control character
    assert (row["explanation"], row["explained_by"]) == ("paid twice,\nrefund sent", "ann")


def test_a_concurrent_change_is_not_overwritten(seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The update is guarded by the state_version read: a run that changed it meanwhile wins."""
    real_find = ex.find

    def find_then_a_run_changes_it(conn, ref):
        found = real_find(conn, ref)
        conn.execute(sa.update(recon_exceptions).values(state_version=recon_exceptions.c.state_version + 1))
        return found

    monkeypatch.setattr(ex, "find", find_then_a_run_changes_it)
    with pytest.raises(ex.ExceptionChangedMeanwhile, match="try again"):
        ex.explain(seeded, EXC_ID, note="x", author="ann")


def test_cli_list_show_explain_reopen(
    seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    def cfp(*argv: str) -> int:
        with pytest.raises(SystemExit) as done:
            main([*argv, "--url", seeded_sqlite_url])
        return int(done.value.code or 0)

    assert cfp("exceptions", "list", "--status", "open", "--kind", "missing_payment") == 0
    out = capsys.readouterr().out
    assert EXC_ID in out
    assert "expected 100.00 EUR" in out
    assert cfp("exceptions", "list", "--order", "FP-000000") == 0
    assert capsys.readouterr().out == "no exceptions match\n"
    assert cfp("exceptions", "list", "--kind", "missing_payments") == 2  # a typo is refused, not "none"
    assert "invalid choice: 'missing_payments'" in capsys.readouterr().err
    monkeypatch.setenv("CFP_USER", "carol")
    # an escape sequence is refused, not stored (it would reach a terminal through whatever
    # prints the audit trail without escaping it)
    assert cfp("exceptions", "explain", EXC_ID, "--note", "booked\x1b[2J by hand") == 1
    err = capsys.readouterr().err
    assert "the note contains a control character (U+001B)" in err
    assert "\x1b" not in err
    assert cfp("exceptions", "explain", EXC_ID, "--note", "booked by hand") == 0
    assert "open -> explained by carol, state version 2" in capsys.readouterr().out
    assert cfp("exceptions", "show", s.EXCEPTION_KEY) == 0
    assert "explained by carol: booked by hand" in capsys.readouterr().out
    assert cfp("exceptions", "reopen", EXC_ID, "--note", "no", "--author", "dave") == 0
    capsys.readouterr()
    assert cfp("exceptions", "reopen", EXC_ID, "--note", "again") == 1
    assert "only an explained exception can be reopened" in capsys.readouterr().err
    assert cfp("exceptions", "show", "exc_unknown") == 1
