"""The trigger loop against a strict fake of Airflow's REST API: coalescing, one queued run,
bounded delay, backoff, token refresh, leadership."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fake_airflow import FakeAirflow, make_jwt
from sidecar_helpers import envelope

from cfp_dev.demo.stack import free_port
from checkout_freshportal.sidecar import store
from checkout_freshportal.sidecar.airflow_api import AirflowClient, AirflowUnavailable
from checkout_freshportal.sidecar.metrics import SidecarMetrics
from checkout_freshportal.sidecar.store import insert_batch, record_from_body
from checkout_freshportal.sidecar.trigger import TriggerLoop
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade


@pytest.fixture
def fake() -> Iterator[FakeAirflow]:
    with FakeAirflow() as f:
        yield f


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


def store_events(engine: sa.Engine, ids: list[str], received_at: datetime | None = None) -> None:
    with engine.begin() as conn:
        insert_batch(conn, [record_from_body(envelope(i), 0) for i in ids], received_at or datetime.now(UTC))


def make_loop(engine: sa.Engine, url: str, **kw: object) -> TriggerLoop:
    client = AirflowClient(url, "webhook", "s3cret", timeout=2)
    params: dict[str, object] = {
        "delay": 0.3,
        "poll_interval": 0.05,
        "backoff_max": 8,
        "retrigger_after": 3600,
    }
    params.update(kw)
    return TriggerLoop(engine, client, SidecarMetrics(), **params)  # type: ignore[arg-type]


def count_ticks(loop: TriggerLoop) -> list[int]:
    """Completed ticks of a started loop: a deterministic "it looked again" signal."""
    done = [0]
    tick = loop.tick

    def counted() -> None:
        try:
            tick()
        finally:
            done[0] += 1

    loop.tick = counted  # type: ignore[method-assign]
    return done


def let_pass(loop: TriggerLoop, seconds: float) -> None:
    """Let ``seconds`` pass for a loop driven by ``tick()``: its monotonic stamps move back.

    The loop reads ``time.monotonic()`` directly, so this is how a test skips its deadlines (the
    re-look after a skip, the stale check, the re-trigger spacing) without sleeping through them.
    """
    if loop._due is not None:
        loop._due -= seconds
    loop._last_trigger -= seconds
    loop._next_stale_check -= seconds
    loop._next_leader_try -= seconds


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def record_ticks(loop: TriggerLoop, fake: FakeAirflow) -> list[tuple[float, float | None, int]]:
    """Each completed tick as (when it started, the deadline it left, runs by then). The tick reads
    ``time.monotonic()`` first thing, so its start is the ``now`` it decided with: the delay is
    checked in the loop's own terms, whatever the machine's load does to the wall clock."""
    seen: list[tuple[float, float | None, int]] = []
    tick = loop.tick

    def recorded() -> None:
        start = time.monotonic()
        tick()
        seen.append((start, loop._due, len(fake.runs)))

    loop.tick = recorded  # type: ignore[method-assign]
    return seen


def test_burst_is_coalesced_into_one_run_within_the_delay(engine: sa.Engine, fake: FakeAirflow) -> None:
    loop = make_loop(engine, fake.url)
    seen = record_ticks(loop, fake)
    ticks = count_ticks(loop)
    loop.start()
    try:
        t0 = time.monotonic()
        for i in range(20):  # a burst over ~0.1 s, each commit waking the loop
            store_events(engine, [f"evt_burst_{i:02d}_{j}" for j in range(5)])
            loop.notify()
        wait_for(lambda: len(fake.runs) == 1)
        elapsed = time.monotonic() - t0
        # Nothing new: two full ticks after the run decided nothing, and the loop counts every
        # stored event as covered, so no later tick can find a reason for a second run.
        after = ticks[0]
        wait_for(lambda: ticks[0] >= after + 2)
        with engine.connect() as conn:
            assert store.pending_since(conn, loop._covered)[0] == 0
    finally:
        loop.stop()
    assert len(fake.runs) == 1
    assert elapsed >= 0.25, elapsed  # it waited for the delay (0.3 s)
    # Bounded, in the loop's own ticks (a wall-clock bound failed on a loaded CI host at 1.7 s):
    # the deadline is the first sighting plus the delay, and the first tick at or past it sends
    # the run; no tick past the deadline let the burst wait longer.
    due = next(d for _, d, _ in seen if d is not None)
    fired = next(i for i, (_, _, runs) in enumerate(seen) if runs == 1)
    assert seen[fired][0] >= due, (seen[fired][0], due)
    assert all(start < due for start, _, _ in seen[:fired]), (seen[:fired], due)
    [(run_id, run)] = fake.runs.items()
    assert run_id.startswith("sidecar__")
    assert run["dag_id"] == "checkout_events"
    assert run["conf"]["pending_events"] == 100
    assert run["conf"]["triggered_by"] == "cfp-sidecar"
    assert loop.metrics.value("cfp_sidecar_trigger_calls_total") == 1
    assert loop.metrics.value("cfp_sidecar_trigger_failures_total") == 0


def test_at_most_one_queued_run(engine: sa.Engine, fake: FakeAirflow) -> None:
    loop = make_loop(engine, fake.url, delay=0)
    store_events(engine, ["evt_1"])
    loop.tick()
    assert len(fake.runs) == 1  # queued
    store_events(engine, ["evt_2"])
    for _ in range(3):
        loop.tick()
        let_pass(loop, 0.06)  # past the 0.05 s re-look deadline a skip sets
    assert len(fake.runs) == 1, "a second run was queued while one was queued"
    assert loop.metrics.value("cfp_sidecar_trigger_skipped_total") == 3
    fake.set_state("running")  # the queued run started: it may have read the table before evt_2
    loop.tick()
    assert len(fake.runs) == 2
    # events that a run covers do not cause another one
    fake.set_state("success")
    loop.tick()
    assert len(fake.runs) == 2


def test_processed_events_cause_no_run(engine: sa.Engine, fake: FakeAirflow) -> None:
    store_events(engine, ["evt_done"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE raw_webhook_events SET processed_at = received_at"))
    store_events(engine, ["poison-only"])  # envelope ok, but make it poison:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE raw_webhook_events SET is_poison = true WHERE event_id = 'poison-only'"))
    loop = make_loop(engine, fake.url, delay=0)
    loop.tick()
    assert fake.runs == {}


def test_airflow_down_backs_off_and_events_wait(engine: sa.Engine, fake: FakeAirflow) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    loop = make_loop(engine, dead, delay=0, backoff_max=8)
    store_events(engine, ["evt_wait"])
    backoffs = []
    for _ in range(6):
        loop.tick()
        backoffs.append(loop._backoff)
    assert backoffs == [1, 2, 4, 8, 8, 8]
    assert loop.metrics.value("cfp_sidecar_trigger_failures_total") == 6
    assert loop.metrics.value("cfp_sidecar_trigger_backoff_seconds") == 8
    # Airflow answers again (same loop, now pointed at the fake): one run, backoff reset
    loop.client.base_url = fake.url
    loop.tick()
    assert len(fake.runs) == 1
    assert loop._backoff == 0
    # a 5xx is a failure too
    fake.down = True
    store_events(engine, ["evt_wait_2"])
    fake.set_state("running")
    loop.tick()
    assert loop._backoff == 1


def test_backoff_sleeps_in_the_thread(engine: sa.Engine) -> None:
    """While backing off the loop does not spin on wake-ups from new commits."""
    dead = f"http://127.0.0.1:{free_port()}"
    loop = make_loop(engine, dead, delay=0, backoff_max=60)
    store_events(engine, ["evt_x"])
    loop.start()
    try:
        for _ in range(30):  # wall-clock on purpose: wake-ups spread over the real 1 s backoff
            loop.notify()
            time.sleep(0.05)
    finally:
        loop.stop()
    assert 1 <= loop.metrics.value("cfp_sidecar_trigger_failures_total") <= 2


def test_token_refresh_on_401_and_before_expiry(engine: sa.Engine, fake: FakeAirflow) -> None:
    client = AirflowClient(fake.url, "webhook", "s3cret")
    assert client.count_runs("checkout_events", ("queued",)) == 0
    assert fake.logins == 1
    fake.revoke_tokens()  # e.g. the API server restarted with another secret
    assert client.count_runs("checkout_events", ("queued",)) == 0
    assert fake.logins == 2
    client._token_exp = time.time() + 30  # within the renewal margin
    client.count_runs("checkout_events", ("queued",))
    assert fake.logins == 3
    assert client.trigger("checkout_events", "r1", {}) is True
    assert client.trigger("checkout_events", "r1", {}) is False  # 409: already there
    bad = AirflowClient(fake.url, "webhook", "wrong")
    with pytest.raises(AirflowUnavailable, match="401"):
        bad.count_runs("checkout_events", ("queued",))
    assert "wrong" not in repr(bad)
    assert make_jwt(1.0).count(".") == 2


def test_in_flight_batch_is_not_counted_as_covered(engine: sa.Engine, fake: FakeAirflow) -> None:
    loop = make_loop(engine, fake.url, delay=0)
    store_events(engine, ["evt_a"])
    open_stamp = datetime.now(UTC) - timedelta(seconds=1)
    loop.in_flight = lambda: open_stamp
    loop.tick()
    assert len(fake.runs) == 1
    assert loop._covered == open_stamp - timedelta(microseconds=1)


def test_stale_backlog_is_retriggered(engine: sa.Engine, fake: FakeAirflow) -> None:
    loop = make_loop(engine, fake.url, delay=0, retrigger_after=1.0)
    store_events(engine, ["evt_old"], datetime.now(UTC) - timedelta(minutes=5))
    loop.tick()
    assert len(fake.runs) == 1
    fake.set_state("failed")  # the run failed: the event is still unprocessed
    loop.tick()
    assert len(fake.runs) == 1  # covered, and not yet stale by the loop's clock
    let_pass(loop, 1.1)
    loop.tick()
    assert len(fake.runs) == 2
    assert sorted(r["conf"]["reason"] for r in fake.runs.values()) == ["events", "stale"]


def test_only_one_leader_per_warehouse(migrated_url: str, fake: FakeAirflow) -> None:
    eng1, eng2 = make_engine(migrated_url), make_engine(migrated_url)
    try:
        a, b = make_loop(eng1, fake.url, delay=0), make_loop(eng2, fake.url, delay=0)
        store_events(eng1, ["evt_lead"])
        assert a.leadership.acquire() is True
        assert b.leadership.acquire() is False
        b.tick()  # not the leader: does nothing
        assert fake.runs == {}
        assert b.metrics.value("cfp_sidecar_trigger_leader") == 0
        a.tick()
        assert len(fake.runs) == 1
        a.leadership.release()
        assert b.leadership.acquire() is True
    finally:
        for loop in (a, b):
            loop.leadership.release()
        eng1.dispose()
        eng2.dispose()
