"""SIGKILL the sidecar under load, again and again: every event answered 2xx is in the table, once."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sidecar_helpers import envelope, post, sidecar_env, signed, start_sidecar

from cfp_dev.demo.stack import free_port
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events as T

KILLS = 3
SENDERS = 12


class Load:
    """Sender threads: new signed events, and now and then a resend of an acknowledged one."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counter = 0
        self.sent: dict[str, bytes] = {}
        self.acked: dict[str, bytes] = {}  # event id -> body, for every 2xx
        self.duplicates_acked = 0
        self.failures = 0  # refused connections, resets, 503 while the sidecar is dead/restarting

    def _next(self, rng: random.Random) -> tuple[str, bytes]:
        with self.lock:
            if self.acked and rng.random() < 0.1:
                event_id = rng.choice(list(self.acked))
                return event_id, self.acked[event_id]
            self.counter += 1
            event_id = f"evt_crash_{self.counter:07d}"
        body = envelope(event_id, payment_id=f"pay_{self.counter:026d}")
        with self.lock:
            self.sent[event_id] = body
        return event_id, body

    def sender(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stop.is_set():
            event_id, body = self._next(rng)
            try:
                r = post(self.base_url, body, signed(body), session=session)
            except requests.RequestException:
                with self.lock:
                    self.failures += 1
                session.close()
                session = requests.Session()
                time.sleep(0.02)
                continue
            if 200 <= r.status_code < 300:
                with self.lock:
                    if event_id in self.acked:
                        self.duplicates_acked += 1
                    self.acked[event_id] = body
            else:
                assert r.status_code == 503, r.status_code
                with self.lock:
                    self.failures += 1
        session.close()


def _stored(url: str) -> dict[str, tuple[str, int]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(T.c.event_id, T.c.body_sha256, sa.func.length(T.c.body))).all()
    finally:
        eng.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_event(
    migrated_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    env = sidecar_env(migrated_url)
    start: Callable[[], object] = lambda: start_sidecar(env, tmp_path / "logs", port=port)  # noqa: E731
    proc = start()
    load = Load(f"http://127.0.0.1:{port}")
    rng = random.Random(7)
    acked_at_kill: list[int] = []
    with ThreadPoolExecutor(SENDERS) as pool:
        futures = [pool.submit(load.sender, i) for i in range(SENDERS)]
        try:
            # Wall-clock on purpose: the kills must land at arbitrary points of the senders'
            # requests (mid-read, mid-commit, mid-answer). Waiting on a signal from the sidecar
            # would line every kill up with that signal and test one moment only.
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 0.9))
                acked_at_kill.append(len(load.acked))
                proc.kill()  # SIGKILL while requests are in flight
                proc = start()
            time.sleep(0.8)  # load on the last restarted process, as between the kills
        finally:
            load.stop.set()
            for f in futures:
                f.result(timeout=60)
            proc.stop()

    stored = _stored(migrated_url)
    missing = sorted(set(load.acked) - set(stored))
    assert not missing, f"{len(missing)} acknowledged event(s) not stored, e.g. {missing[:5]}"
    for event_id, body in load.acked.items():
        assert stored[event_id] == (hashlib.sha256(body).hexdigest(), len(body)), event_id
    assert set(stored) <= set(load.sent), "a row that no client sent"
    # the run exercised what it claims to
    assert len(acked_at_kill) == KILLS
    assert acked_at_kill == sorted(acked_at_kill)
    assert acked_at_kill[0] > 0, "no event acknowledged before the first kill"
    assert len(load.acked) > acked_at_kill[-1], "no event acknowledged after the last restart"
    assert load.duplicates_acked > 0
    assert load.failures > 0, "the kills did not hit any request"
    print(  # shown with -s: the size of what was proven
        f"\n[{request.node.callspec.id}] sent {len(load.sent)}, acknowledged {len(load.acked)} "
        f"(+{load.duplicates_acked} duplicate acks), failed {load.failures}, stored {len(stored)}"
    )
