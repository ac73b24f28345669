"""Exception notes in FreshPortal (the real simulator): once per exception and state change."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import seed as s
import sqlalchemy as sa

from cfp_dev.sandbox.freshportal import FreshPortalSandboxServer
from checkout_freshportal.cli import main
from checkout_freshportal.freshportal.client import FreshPortalClient
from checkout_freshportal.reconcile import explain, notes
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.warehouse.schema.recon import recon_exceptions

LATER = s.T0 + timedelta(days=2)
ORPHAN_KEY = "orphan_payment:payment:pay_orphan"
GONE_KEY = "missing_payment:order:9999"  # an order FreshPortal does not have


def _ours(fp: FreshPortalClient) -> list[str]:
    return sorted(
        n.external_ref for n in fp.list_notes(s.ORDER_ID) if n.external_ref.startswith("cfp-exception:")
    )


def _notified(engine: sa.Engine) -> dict[str, tuple[int, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(recon_exceptions.c.exception_key, recon_exceptions.c.state_version,
                                      recon_exceptions.c.notified_version))  # fmt: skip
        return {r[0]: (r[1], r[2]) for r in rows}


def test_one_note_per_state_never_per_run(seeded, fp: FreshPortalClient) -> None:
    with seeded.begin() as conn:
        conn.execute(sa.insert(recon_exceptions), s.exception_row(ORPHAN_KEY, order_id=None))
    exc_id = s.exception_id(s.EXCEPTION_KEY)
    first = notes.note_exceptions(fp, seeded, now=LATER)
    assert (first.owed, first.noted, first.failed) == (1, 1, 0)  # the orphan has no order to carry it
    assert _ours(fp) == [f"cfp-exception:{exc_id}:v1"]
    (note,) = [n for n in fp.list_notes(s.ORDER_ID) if n.external_ref.startswith("cfp-exception:")]
    assert "missing_payment (open: needs a look)" in note.text
    assert "Expected 100.00 EUR, actual 0.00 EUR." in note.text
    again = notes.note_exceptions(fp, seeded, now=LATER)
    assert (again.owed, again.noted) == (0, 0)
    explain.explain(seeded, exc_id, note="j.doe@example.com paid by transfer", author="ann", at=LATER)
    third = notes.note_exceptions(fp, seeded, now=LATER)
    assert third.noted == 1
    assert _ours(fp) == [f"cfp-exception:{exc_id}:v1", f"cfp-exception:{exc_id}:v2"]
    texts = " ".join(n.text for n in fp.list_notes(s.ORDER_ID))
    assert "explained by finance" in texts
    assert "example.com" not in texts  # the free-text explanation never goes out
    assert _notified(seeded)[s.EXCEPTION_KEY] == (2, 2)
    # Written but not recorded (a crash in between): the next run finds the note, adds none.
    with seeded.begin() as conn:
        conn.execute(sa.update(recon_exceptions).values(notified_version=1))
    assert notes.note_exceptions(fp, seeded, now=LATER).noted == 1
    assert len(_ours(fp)) == 2


def _note_state(engine: sa.Engine, key: str) -> tuple[int | None, object, str | None]:
    e = recon_exceptions
    with engine.connect() as conn:
        q = sa.select(e.c.notified_version, e.c.notified_at, e.c.note_error).where(e.c.exception_key == key)
        return tuple(conn.execute(q).one())  # type: ignore[return-value]


def test_an_undeliverable_note_is_recorded_once_and_never_fails_the_task(
    seeded, fp: FreshPortalClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """FreshPortal no longer has order 9999 (404): permanent, so not retried and not loud."""
    with seeded.begin() as conn:
        gone = s.exception_row(GONE_KEY, order_id="9999")
        conn.execute(sa.insert(recon_exceptions), {**gone, "updated_at": s.T0 - timedelta(hours=1)})
    with caplog.at_level("WARNING", logger=notes.__name__):
        result = notes.note_exceptions(fp, seeded, now=LATER)
    assert (result.owed, result.noted, result.undeliverable, result.failed) == (2, 1, 1, 0)
    result.raise_for_failures()  # nothing transient: the task succeeds
    assert any("undeliverable" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    # That state is handled (notified_version) but was never noted (notified_at NULL).
    assert _note_state(seeded, GONE_KEY) == (1, None, "undeliverable: NotFoundError (HTTP 404)")
    assert _notified(seeded)[s.EXCEPTION_KEY] == (1, 1)
    again = notes.note_exceptions(fp, seeded, now=LATER)  # the next run does not try it again
    assert (again.owed, again.undeliverable, again.failed) == (0, 0, 0)
    with pytest.raises(SystemExit) as done:  # finance sees why in cfp exceptions show
        main(["exceptions", "show", GONE_KEY, "--url", seeded.url.render_as_string(hide_password=False)])
    assert done.value.code in (0, None)
    assert "note_error         undeliverable: NotFoundError (HTTP 404)" in capsys.readouterr().out


def test_a_transient_failure_is_counted_the_rest_noted_then_loud(
    seeded, fp: FreshPortalClient, fp_server: FreshPortalSandboxServer
) -> None:
    """FreshPortal answers 500 to every note post (after the client's retry): retried next run."""
    other = "over_refund:order:5001"
    with seeded.begin() as conn:
        later = {**s.exception_row(other), "updated_at": s.T0 + timedelta(hours=1)}  # noted second
        conn.execute(sa.insert(recon_exceptions), later)
    assert notes.note_exceptions(fp, seeded, ReconcileSettings(max_notes_per_run=1), now=LATER).noted == 1
    fault = {"fault": "500", "method": "POST", "path": "/notes", "count": 10}
    requests.post(f"{fp_server.base_url}/_sandbox/faults/next", json=fault, timeout=10).raise_for_status()
    result = notes.note_exceptions(fp, seeded, now=LATER)
    assert (result.owed, result.noted, result.undeliverable, result.failed) == (1, 0, 0, 1)
    assert "order 5001" in result.failures[0]
    with pytest.raises(notes.ExceptionNotesFailed, match="1 exception note"):
        result.raise_for_failures()
    assert _note_state(seeded, other) == (None, None, "ServerError (HTTP 500)")
    requests.delete(f"{fp_server.base_url}/_sandbox/faults/next", timeout=10).raise_for_status()
    retried = notes.note_exceptions(fp, seeded, now=LATER)  # FreshPortal is back: written
    assert (retried.noted, retried.failed) == (1, 0)
    assert _note_state(seeded, other)[0::2] == (1, None)


def test_bounded_per_run_and_switchable(seeded, fp: FreshPortalClient) -> None:
    with seeded.begin() as conn:
        conn.execute(sa.insert(recon_exceptions), s.exception_row("over_refund:order:5001"))
    off = notes.note_exceptions(fp, seeded, ReconcileSettings(notes=False), now=LATER)
    assert off.disabled
    assert off.noted == 0
    one = notes.note_exceptions(fp, seeded, ReconcileSettings(max_notes_per_run=1), now=LATER)
    assert (one.owed, one.noted, one.deferred) == (2, 1, 1)
    rest = notes.note_exceptions(fp, seeded, ReconcileSettings(max_notes_per_run=1), now=LATER)
    assert (rest.owed, rest.noted, rest.deferred) == (1, 1, 0)
