"""The sidecar's exposition through prometheus_client: names, labels, "no sample", isolation."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from checkout_freshportal.sidecar.metrics import CONTENT_TYPE, REJECT_REASONS, SidecarMetrics


def _samples(m: SidecarMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = m.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exposition_format() -> None:
    m = SidecarMetrics()
    m.rejected.labels("auth").inc()
    m.rejected.labels("auth").inc(2)
    m.table.set("unprocessed_events", 1.5)
    for v in (0.0005, 0.001, 0.5, 30.0):
        m.commit_seconds.observe(v)
    text = m.render().decode()
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    assert "# HELP cfp_sidecar_rejected_total Deliveries refused, by reason (nothing stored)." in lines
    assert "# TYPE cfp_sidecar_rejected_total counter" in lines
    assert "# TYPE cfp_sidecar_commit_seconds histogram" in lines
    assert "# TYPE cfp_sidecar_unprocessed_events gauge" in lines
    s = _samples(m)
    for reason in REJECT_REASONS:  # every reason from the start, so alerts see 0 rather than nothing
        assert (("cfp_sidecar_rejected_total", (("reason", reason),))) in s
    assert s[("cfp_sidecar_rejected_total", (("reason", "auth"),))] == 3
    assert s[("cfp_sidecar_rejected_total", (("reason", "method"),))] == 0
    assert s[("cfp_sidecar_unprocessed_events", ())] == 1.5
    # a table gauge not read (database down) has no sample rather than a stale one
    assert ("cfp_sidecar_poison_events", ()) not in s
    assert not any(line.startswith("cfp_sidecar_poison_events ") for line in lines)
    buckets = {dict(k[1])["le"]: v for k, v in s.items() if k[0] == "cfp_sidecar_commit_seconds_bucket"}
    assert buckets["0.001"] == 2  # cumulative, bounds inclusive
    assert buckets["1.0"] == 3
    assert buckets["+Inf"] == 4
    assert s[("cfp_sidecar_commit_seconds_count", ())] == 4
    assert s[("cfp_sidecar_commit_seconds_sum", ())] == pytest.approx(30.5015)
    m.table.clear()
    assert ("cfp_sidecar_unprocessed_events", ()) not in _samples(m)


def test_no_created_series() -> None:
    """``…_created`` samples are left out, for this registry only: the library's default stays."""
    m = SidecarMetrics()
    m.stored.inc()
    m.commit_seconds.observe(0.1)
    text = m.render().decode()
    assert "_created" not in text
    assert "cfp_sidecar_events_stored_total 1.0" in text.splitlines()
    assert "cfp_sidecar_commit_seconds_count 1.0" in text.splitlines()
    # Still recorded by the registry (so an embedding process's own exposition is unchanged).
    assert m.value("cfp_sidecar_events_stored_created") is not None
    other = CollectorRegistry()
    Counter("other_total", "a counter outside the sidecar", registry=other).inc()
    assert "other_created" in generate_latest(other).decode()


def test_each_app_counts_only_its_own() -> None:
    """A registry per app: two apps in one process (tests, the benchmark) do not share counters."""
    a, b = SidecarMetrics(), SidecarMetrics()
    a.stored.inc()
    a.trigger_leader.set(1)
    assert a.value("cfp_sidecar_events_stored_total") == 1
    assert b.value("cfp_sidecar_events_stored_total") == 0
    assert (a.value("cfp_sidecar_trigger_leader"), b.value("cfp_sidecar_trigger_leader")) == (1, 0)
    assert a.value("cfp_sidecar_no_such_metric") is None


def test_documented_names_are_exposed() -> None:
    """Every metric docs/sidecar.md lists is in the exposition under that name."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "sidecar.md").read_text()
    documented = {
        line.split("`")[1].split("{")[0]
        for line in doc.splitlines()
        if line.startswith("| `cfp_sidecar_") and "|" in line[1:]
    }
    m = SidecarMetrics()
    for g in ("oldest_unprocessed_age_seconds", "unprocessed_events", "poison_events"):
        m.table.set(g, 0)
    m.commit_seconds.observe(0.1)
    m.batch_size.observe(1)
    m.ack_seconds.observe(0.1)
    exposed = {name for name, _ in _samples(m)}
    assert len(documented) >= 18
    missing = {n for n in documented if n not in exposed and f"{n}_count" not in exposed}
    assert not missing
