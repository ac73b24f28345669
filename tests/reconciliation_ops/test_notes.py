"""Exception notes in FreshPortal (the real simulator): once per exception and state change."""

from __future__ import annotations

from datetime import timedelta

import pytest
import seed as s
import sqlalchemy as sa

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


def test_a_failure_is_counted_the_rest_noted_then_loud(seeded, fp: FreshPortalClient) -> None:
    with seeded.begin() as conn:
        gone = s.exception_row(GONE_KEY, order_id="9999")
        conn.execute(sa.insert(recon_exceptions), {**gone, "updated_at": s.T0 - timedelta(hours=1)})
    result = notes.note_exceptions(fp, seeded, now=LATER)
    assert (result.owed, result.noted, result.failed) == (2, 1, 1)
    assert "order 9999" in result.failures[0]
    with pytest.raises(notes.ExceptionNotesFailed, match="1 exception note"):
        result.raise_for_failures()
    state = _notified(seeded)
    assert state[GONE_KEY] == (1, None)
    assert state[s.EXCEPTION_KEY] == (1, 1)
    with seeded.connect() as conn:
        err = conn.execute(
            sa.select(recon_exceptions.c.note_error).where(recon_exceptions.c.exception_key == GONE_KEY)
        )
        assert err.scalar_one() == "NotFoundError"


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
