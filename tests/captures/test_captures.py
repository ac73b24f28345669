"""Captures on fulfilment release against both real simulators (docs/captures.md)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cap_fixtures import AUTO, World, settings

from checkout_freshportal.errors import SettingsError
from checkout_freshportal.sync.captures.settings import CaptureSettings
from checkout_freshportal.sync.captures.writeback import external_ref
from checkout_freshportal.sync.intents import store


def _only(runs: list[dict]) -> dict:
    """Counts of one run_all, merged over its steps."""
    merged: dict[str, int] = {}
    for step in runs:
        for k, v in step["counts"].items():
            merged[k] = merged.get(k, 0) + v
    return merged


def test_partial_then_final_capture_once_per_release(world: World) -> None:
    pay = world.authorise("FP-400001", 10_000)
    first = world.release("FP-400001", 4_000, complete=False)
    world.sync()
    after_first = world.payment(pay)
    assert after_first["balances"]["total_captured"] == 4_000
    assert after_first["balances"]["available_to_capture"] == 6_000  # NonFinal: the rest stays

    final = world.release("FP-400001", 5_000, complete=True)
    world.sync()
    world.sync()  # a rerun changes nothing
    done = world.payment(pay)
    assert done["balances"]["total_captured"] == 9_000
    assert done["balances"]["available_to_capture"] == 0  # Final: the last 10.00 were released

    caps = world.captures(pay)
    assert sorted(c["amount"] for c in caps) == [4_000, 5_000]
    intents = world.intents()
    for rid in (first, final):
        i = intents[f"release:{rid}"]
        assert i["state"] == store.SUCCEEDED
        assert i["written_back_status"] == store.WB_SUCCEEDED
    assert intents[f"release:{final}"]["final"] is True
    assert {c["reference"] for c in caps} == {i["intent_id"] for i in intents.values()}
    notes = world.notes("FP-400001")
    assert sorted(n.external_ref for n in notes) == sorted(
        f"cfp-capture:{rid}:succeeded" for rid in (first, final)
    )


def test_both_releases_in_one_run_capture_the_partial_first(world: World) -> None:
    pay = world.authorise("FP-400002", 10_000)
    # The complete release arrives first in the feed; its Final capture must still come last.
    final = world.release("FP-400002", 3_000, complete=True)
    part = world.release("FP-400002", 6_000, complete=False)
    world.sync()
    world.sync()
    intents = world.intents()
    assert intents[f"release:{part}"]["state"] == store.SUCCEEDED
    assert intents[f"release:{final}"]["state"] == store.SUCCEEDED
    assert world.payment(pay)["balances"]["total_captured"] == 9_000
    assert len(world.captures(pay)) == 2


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("point", ["before_post", "after_post", "after_record", "before_writeback"])
def test_crash_at_each_point_captures_exactly_once(world: World, point: str) -> None:
    pay = world.authorise("FP-400003", 10_000)
    rid = world.release("FP-400003", 2_500, complete=False)
    crashed: list[str] = []

    def checkpoint(at: str, intent_id: str) -> None:
        if at == point and not crashed:
            crashed.append(intent_id)
            raise Crash(at)

    with pytest.raises(Crash):
        world.sync(checkpoint=checkpoint)
    world.sync()
    world.sync()
    caps = world.captures(pay)
    assert len(caps) == 1, caps
    assert caps[0]["amount"] == 2_500
    intent = world.intents()[f"release:{rid}"]
    assert intent["state"] == store.SUCCEEDED
    assert intent["written_back_status"] == store.WB_SUCCEEDED
    assert [n.external_ref for n in world.notes("FP-400003")] == [f"cfp-capture:{rid}:succeeded"]


def test_a_run_that_reads_after_anothers_claim_leaves_the_note_to_it(world: World) -> None:
    """The interleaving CI hit: run B's snapshot is read after run A claimed the note but before
    A recorded it, so B sees A's new attempt count. B must leave the note to A (it would look,
    find nothing yet, and post a second one beside A's)."""
    world.authorise("FP-400002", 10_000)
    rid = world.release("FP-400002", 10_000, complete=True)
    inside: list[tuple[list[str], dict[str, int]]] = []

    def second_run_meanwhile(at: str, intent_id: str) -> None:
        if at == "before_writeback" and not inside and _claimed(world, intent_id):
            runs = world.sync()
            inside.append(([n.external_ref for n in world.notes("FP-400002")], _only(runs)))

    world.sync(checkpoint=second_run_meanwhile)
    assert inside, "the note was never due"
    notes_meanwhile, counts_meanwhile = inside[0]
    assert notes_meanwhile == [], "the second run wrote a note the first had claimed"
    assert counts_meanwhile.get("raced") == 1
    assert [n.external_ref for n in world.notes("FP-400002")] == [f"cfp-capture:{rid}:succeeded"]
    intent = world.intents()[f"release:{rid}"]
    assert intent["written_back_status"] == store.WB_SUCCEEDED
    assert intent["writeback_claimed_at"] is None


def test_a_claim_left_by_a_killed_run_lapses_after_the_lease(world: World) -> None:
    world.authorise("FP-400005", 10_000)
    rid = world.release("FP-400005", 10_000, complete=True)
    with pytest.raises(Crash):
        world.sync(checkpoint=_kill_at_writeback)  # captured, then a failure that gives the claim back
    assert world.intents()[f"release:{rid}"]["writeback_claimed_at"] is None
    t = store.T
    with world.engine.begin() as conn:  # what a SIGKILL leaves: the claim, never given back
        conn.execute(
            sa.update(t)
            .where(t.c.request_key == f"release:{rid}")
            .values(writeback_claimed_at=world.now(), writeback_attempts=t.c.writeback_attempts + 1)
        )
    assert _only(world.sync()).get("raced") == 1
    assert world.notes("FP-400005") == []
    lease = settings().writeback_claim_lease
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.request_key == f"release:{rid}")
            .values(writeback_claimed_at=world.now() - lease)
        )
    world.sync()
    assert [n.external_ref for n in world.notes("FP-400005")] == [f"cfp-capture:{rid}:succeeded"]
    assert world.intents()[f"release:{rid}"]["writeback_claimed_at"] is None


def test_a_stalled_writer_never_clears_the_claim_a_later_run_took(world: World) -> None:
    """A writer stalled past the lease finishes after another run took the claim: its
    bookkeeping leaves that run's claim in place (else a third run could claim beside it)."""
    world.authorise("FP-400006", 10_000)
    rid = world.release("FP-400006", 10_000, complete=True)
    with pytest.raises(Crash):
        world.sync(checkpoint=_kill_at_writeback)
    intent_id = world.intents()[f"release:{rid}"]["intent_id"]
    first = world.now() - settings().writeback_claim_lease
    later = world.now()
    t = store.T
    with world.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.intent_id == intent_id).values(writeback_claimed_at=later))
        store.count_writeback_attempt(conn, intent_id, "stalled writer's 503", now=later, claimed_at=first)
        store.record_written_back(conn, intent_id, store.WB_SUCCEEDED, now=later, claimed_at=first)
    assert world.intents()[f"release:{rid}"]["writeback_claimed_at"] == later
    with world.engine.begin() as conn:
        store.count_writeback_attempt(conn, intent_id, "its own 503", now=later, claimed_at=later)
    assert world.intents()[f"release:{rid}"]["writeback_claimed_at"] is None


class TaskTimeout(BaseException):
    """What Airflow raises in a task that ran past its execution_timeout (not an Exception)."""


def test_a_run_stopped_while_its_note_may_be_in_flight_keeps_the_claim(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped mid-POST (the note stored, the answer never read): the claim is not given back,
    so no run posts beside a POST that may still land; after the lease the next run finds the
    note and records it. One note."""
    world.authorise("FP-400003", 10_000)
    rid = world.release("FP-400003", 10_000, complete=True)
    post = world.fp.create_note

    def stored_then_stopped(*args: object, **kwargs: object) -> None:
        post(*args, **kwargs)  # type: ignore[arg-type]
        raise TaskTimeout("execution_timeout while reading FreshPortal's answer")

    monkeypatch.setattr(world.fp, "create_note", stored_then_stopped)
    with pytest.raises(TaskTimeout):
        world.sync()
    monkeypatch.setattr(world.fp, "create_note", post)
    held = world.intents()[f"release:{rid}"]
    assert held["writeback_claimed_at"] is not None
    assert held["written_back_status"] is None
    assert _only(world.sync()).get("raced") == 1
    t = store.T
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.request_key == f"release:{rid}")
            .values(writeback_claimed_at=world.now() - settings().writeback_claim_lease)
        )
    world.sync()
    assert [n.external_ref for n in world.notes("FP-400003")] == [f"cfp-capture:{rid}:succeeded"]
    assert world.intents()[f"release:{rid}"]["written_back_status"] == store.WB_SUCCEEDED


@pytest.mark.parametrize("lease", ["0s", "59s"])
def test_a_claim_lease_under_a_minute_is_refused(lease: str) -> None:
    with pytest.raises(SettingsError, match="writeback_claim_lease"):
        CaptureSettings.from_mapping({"writeback_claim_lease": lease})


def _claimed(world: World, intent_id: str) -> bool:
    return any(
        i["intent_id"] == intent_id and i["writeback_claimed_at"] is not None
        for i in world.intents().values()
    )


def _kill_at_writeback(at: str, intent_id: str) -> None:
    if at == "before_writeback":
        raise Crash(at)


def test_expired_authorisation_is_reported_on_the_order(world: World) -> None:
    pay = world.authorise("FP-400004", 10_000)
    world.cko_admin("POST", f"/payments/{pay}/expire")
    rid = world.release("FP-400004", 10_000, complete=True)
    world.sync()
    world.sync()
    assert world.captures(pay) == []
    intent = world.intents()[f"release:{rid}"]
    assert (intent["state"], intent["reason_code"]) == (store.REJECTED, "authorization_expired")
    notes = world.notes("FP-400004")
    assert len(notes) == 1
    assert notes[0].external_ref == f"cfp-capture:{rid}:failed"
    assert "authorization_expired" in notes[0].text
    assert pay in notes[0].text


def test_declined_capture_is_reported_with_its_code(world: World) -> None:
    pay = world.authorise("FP-400005", 10_000)
    world.cko_admin("POST", "/declines", {"type": "capture", "payment_id": pay, "response_code": "20005"})
    rid = world.release("FP-400005", 10_000, complete=True)
    world.sync()
    world.sync()
    intent = world.intents()[f"release:{rid}"]
    assert intent["state"] == store.DECLINED
    assert intent["response_code"] == "20005"
    notes = world.notes("FP-400005")
    assert [n.external_ref for n in notes] == [f"cfp-capture:{rid}:failed"]
    assert "declined" in notes[0].text
    assert "20005" in notes[0].text


def test_auto_capture_channel_needs_nothing_and_says_nothing(world: World) -> None:
    pay = world.authorise("FP-400006", 10_000, channel=AUTO)
    rid = world.release("FP-400006", 10_000, complete=True)
    runs = world.sync()
    intent = world.intents()[f"release:{rid}"]
    assert (intent["state"], intent["reason_code"]) == (store.REJECTED, "auto_capture_channel")
    assert intent["written_back_status"] == store.WB_FAILED
    assert [c for c in world.captures(pay) if c["reference"] == intent["intent_id"]] == []
    assert world.notes("FP-400006") == []
    assert _only(runs).get("recorded_failed") == 1


def test_release_beyond_the_capturable_amount_is_rejected_without_a_call(world: World) -> None:
    pay = world.authorise("FP-400001", 5_000)
    rid = world.release("FP-400001", 8_000, complete=True)
    world.sync()
    intent = world.intents()[f"release:{rid}"]
    assert intent["reason_code"] == "amount_exceeds_capturable"
    assert world.captures(pay) == []
    note = world.notes("FP-400001")[0]
    assert note.external_ref == external_ref(store.MoneyIntent(**intent), "failed")
    assert "80.00 EUR" in note.text
    assert "50.00 EUR" in note.text


def test_two_runs_at_the_same_moment_capture_each_release_once(world: World) -> None:
    import threading

    pays = {n: world.authorise(n, 10_000) for n in ("FP-400001", "FP-400002", "FP-400003", "FP-400004")}
    for n in pays:
        world.release(n, 3_000, complete=False)
        world.release(n, 7_000, complete=True)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            barrier.wait()
            world.sync()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    world.sync()
    world.sync()
    for n, pay in pays.items():
        assert sorted(c["amount"] for c in world.captures(pay)) == [3_000, 7_000], n
        assert len(world.notes(n)) == 2, n
    assert {i["state"] for i in world.intents().values()} == {store.SUCCEEDED}
