"""Client-side rate limiter (real clock, real threads) and the call counters."""

from __future__ import annotations

import threading
import time

from checkout_freshportal.checkout import CallStats
from checkout_freshportal.checkout.ratelimit import BlockingRateLimiter


def _max_in_any_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = 0
    j = 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_limiter_blocks_and_never_exceeds_rate_across_threads() -> None:
    limiter = BlockingRateLimiter(20, name="read")
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(8):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len(stamps) == 32
    assert elapsed >= 0.95  # 32 > 20: the 21st slot opens one second after the first
    assert _max_in_any_second(stamps) <= 20


def test_disabled_limiter_never_waits() -> None:
    limiter = BlockingRateLimiter(0)
    assert all(limiter.acquire() == 0.0 for _ in range(1000))
    assert not limiter.enabled


def test_try_acquire() -> None:
    limiter = BlockingRateLimiter(2)
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_stats_count_reset_snapshot() -> None:
    s = CallStats()
    s.record_call("post", "payments.search")
    s.record_call("GET", "payments.search")
    s.record_call("GET", "payments.search")
    s.record_call("GET", "payments.actions")
    s.record_call("POST", "token")
    s.record_call("GET", "reports.storage")
    s.record_status(429)
    s.record_status(200)
    s.record_retry()
    s.record_throttle_wait(0.5)
    assert s.calls[("POST", "payments.search")] == 1
    assert s.count("payments.search") == 3
    assert s.count(method="GET") == 4
    assert s.read_calls == 3  # storage download is not an API read
    assert s.write_calls == 1  # token exchange is not an API write
    assert s.total_calls == 6
    assert (s.retries, s.rate_limited) == (1, 1)
    snap = s.snapshot()
    assert snap["calls"]["GET payments.search"] == 2
    assert snap["statuses"] == {"200": 1, "429": 1}
    assert snap["throttle_wait_seconds"] == 0.5
    s.reset()
    assert s.total_calls == 0
    assert s.retries == 0
    assert s.rate_limited == 0
    assert s.statuses == {}
