"""Rate limits (reads and writes apart) and seeded fault injection."""

from __future__ import annotations

from collections import Counter

import requests

from .conftest import make_session


def test_reads_over_the_limit_get_429_and_writes_are_counted_apart(sandbox_factory) -> None:
    sb = sandbox_factory(days=1, read_rps=5, write_rps=5)
    api = make_session()
    codes = [api.get(f"{sb.base_url}/disputes").status_code for _ in range(12)]
    assert codes.count(200) == 5
    assert codes.count(429) == 7
    r = api.get(f"{sb.base_url}/disputes")
    assert r.status_code == 429
    assert "Retry-After" not in r.headers
    assert r.json()["request_id"] == r.headers["Cko-Request-Id"]
    assert r.json()["error_codes"]
    # the write budget is untouched by the reads
    assert (
        api.post(f"{sb.base_url}/payments/search", json={"query": "amount:>=0", "limit": 1}).status_code
        == 200
    )
    # admin endpoints are neither limited nor counted
    assert requests.get(f"{sb.base_url}/_sandbox/summary").status_code == 200
    calls = requests.get(f"{sb.base_url}/_sandbox/calls").json()
    assert calls["calls"]["disputes.list"]["GET"] == 13
    assert calls["reads"] == 13
    assert calls["writes"] == 1
    assert calls["by_status"]["429"] == 8
    requests.delete(f"{sb.base_url}/_sandbox/calls")
    assert requests.get(f"{sb.base_url}/_sandbox/calls").json()["total"] == 0


def _fault_codes(base: str, n: int) -> list[int]:
    api = make_session()
    return [api.get(f"{base}/disputes", params={"limit": 1}).status_code for _ in range(n)]


def test_fault_shares_are_roughly_honoured_and_seeded(sandbox_factory) -> None:
    a = sandbox_factory(days=0, fault_429_share=0.2, fault_500_share=0.1, fault_seed=11)
    codes = _fault_codes(a.base_url, 400)
    counts = Counter(codes)
    assert 50 <= counts[429] <= 110
    assert 20 <= counts[500] <= 65
    assert counts[200] == 400 - counts[429] - counts[500]
    b = sandbox_factory(days=0, fault_429_share=0.2, fault_500_share=0.1, fault_seed=11)
    assert _fault_codes(b.base_url, 400) == codes  # same seed, same sequence


def test_faults_change_at_runtime(sandbox_factory) -> None:
    sb = sandbox_factory(days=0)
    assert set(_fault_codes(sb.base_url, 20)) == {200}
    r = requests.post(f"{sb.base_url}/_sandbox/faults", json={"fault_500_share": 1.0})
    assert r.status_code == 200
    assert r.json()["fault_500_share"] == 1.0
    assert set(_fault_codes(sb.base_url, 5)) == {500}
    bad = requests.post(f"{sb.base_url}/_sandbox/faults", json={"fault_429_share": 2, "nope": 1})
    assert bad.status_code == 422
    requests.post(f"{sb.base_url}/_sandbox/faults", json={"fault_500_share": 0, "read_rps": 2})
    assert _fault_codes(sb.base_url, 4).count(429) == 2


def _refund_codes(base: str, n: int) -> list[int]:
    api = make_session()
    card = {"type": "card", "number": "4242424242424242", "expiry_month": 1, "expiry_year": 2030}
    body = {"source": card, "amount": 100_000, "currency": "EUR"}
    pid = api.post(f"{base}/payments", json=body).json()["id"]
    requests.post(f"{base}/_sandbox/advance", json={"hours": 1 / 60, "payments_per_hour": 0})
    requests.post(
        f"{base}/_sandbox/faults",
        json={"fault_500_share": 0.2, "fault_after_500_share": 0.2, "fault_after_timeout_share": 0.1},
    )
    return [api.post(f"{base}/payments/{pid}/refunds", json={"amount": 10}).status_code for _ in range(n)]


def test_processed_then_failed_faults_are_seeded_and_execute(sandbox_factory) -> None:
    kw = {
        "days": 0,
        "action_delay_seconds": 0.05,
        "fault_seed": 5,
        "slow_seconds": 0.01,
        "fault_writes_only": True,
    }
    a, b = sandbox_factory(**kw), sandbox_factory(**kw)
    codes = _refund_codes(a.base_url, 60)
    assert _refund_codes(b.base_url, 60) == codes
    counts = Counter(codes)
    assert min(counts[500], counts[504], counts[202]) > 0
    executed = requests.get(f"{a.base_url}/_sandbox/actions", params={"type": "refund"}).json()
    after = requests.get(f"{a.base_url}/_sandbox/calls").json()["processed_then_failed"]
    # every 202 and every processed-then-failed answer executed one refund; plain 500s did not
    assert executed["totals"]["Refund"]["count"] == counts[202] + sum(after.values())
    assert after["after_timeout"] == counts[504]
