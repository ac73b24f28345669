"""Review findings on chargebacks (issue 8), as tests that fail while the finding stands.

Real simulators: the Checkout.com sandbox plays a dispute, its webhooks are reduced to what a
real delivery carries, and the sweep (``ingest_disputes``) lands ``GET /disputes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cb_fixtures import MAPPING, World, apply_each, checkout_of, fresh_warehouse, outbox, sandbox_world

from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.ingest.disputes import ingest_disputes
from checkout_freshportal.sync.ingest.windows import Window
from checkout_freshportal.warehouse import schema

from events_fixtures import rows

AMOUNT = 5_100
ORDER_ID = "960001"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with sandbox_world(tmp_path_factory.mktemp("cbr"), [ORDER_ID], AMOUNT, seed=9) as w:
        yield w


def _real_shape(body: bytes) -> bytes:
    env = json.loads(body)
    if env["type"].startswith("dispute_"):
        for key in ("category", "reason_code", "evidence_required_by"):
            env["data"].pop(key, None)
    return json.dumps(env).encode()


def test_sweep_filled_details_reach_the_order(migrated_warehouse_url, world) -> None:
    """docs/chargebacks.md: when the one GET fails, "the sweep fills it later". The sweep does
    fill ``stg_disputes``, but with the status unchanged the swept fact changes no status row,
    so the order is never refreshed and its signal keeps ``category``/``reason_code`` None."""
    pid = world.captured_payment(ORDER_ID, AMOUNT)
    did = world.open_dispute(pid, category="fraudulent", reason_code="10.4")
    played = world.played(ORDER_ID, pid, (did,))
    engine = fresh_warehouse(migrated_warehouse_url, played, AMOUNT)
    try:
        # no reader: as when GET /disputes/{id} answered 429/5xx/timeout (or fetch_truth off)
        apply_each(engine, [_real_shape(b) for b in played.bodies], None)
        window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
        assert ingest_disputes(checkout_of(world), engine, window=window).fetched >= 1
        staged = next(r for r in rows(engine, schema.stg_disputes, "dispute_id") if r["dispute_id"] == did)
        assert (staged["category"], staged["reason_code"]) == ("fraudulent", "10.4")
        ev.apply_events(engine, None, MAPPING)
        ev.apply_events(engine, None, MAPPING)
        last = outbox(engine, ORDER_ID)[-1]["payload"]["chargeback"]
    finally:
        engine.dispose()
    assert (last["category"], last["reason_code"]) == ("fraudulent", "10.4")


def test_a_deadline_note_not_written_fails_the_task_loudly_and_is_retried() -> None:
    """A missed evidence deadline loses the dispute: a note FreshPortal did not take must fail
    the task (transient: Airflow retries it, the next run tries again), not stay a WARNING."""
    from checkout_freshportal.errors import is_permanent
    from checkout_freshportal.sync.chargebacks.service import DeadlineNotesFailed, NotesResult

    NotesResult(due=2, created=2).raise_for_failures()  # nothing failed: nothing raised
    result = NotesResult(due=1, failed=1, failures=["order 1, dispute dsp_1: ServerError"])
    with pytest.raises(DeadlineNotesFailed) as err:
        result.raise_for_failures()
    assert "dsp_1" in str(err.value)
    assert not is_permanent(err.value)
