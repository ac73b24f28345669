"""The sidecar's Prometheus metrics, on ``prometheus_client`` with one registry per app.

A registry per :class:`SidecarMetrics` (not the library's global one): tests and the benchmark
build several apps in one process, and each must count only its own deliveries.

With ``--workers N`` every worker process keeps its own counters and a scrape reaches one
worker (documented in docs/sidecar.md). ``prometheus_client``'s multiprocess mode was not used:
it needs a shared directory wiped at every start and gives up live gauges, while the gauges
that matter to alerts (backlog, poison, oldest age) are read from the table at scrape time and
are therefore the same from every worker.

The ``…_created`` samples ``prometheus_client`` adds to counters and histograms (the time each
series was created) are left out of the exposition: in the 0.0.4 text format each becomes one
more series stored by Prometheus, doubling the count, and no alert or dashboard reads them. The
library's own
switch, ``disable_created_metrics()``, is process-wide; filtering at render time keeps the
choice to this registry, so an embedding process keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

#: The 0.0.4 text format: what every Prometheus version scrapes, and what the docs promise.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
REJECT_REASONS = ("method", "size", "auth", "signature_missing", "signature", "timeout")
PREFIX = "cfp_sidecar_"


class TableGauges(Collector):
    """Gauges read from the table at scrape time; ``None`` means "no sample".

    A plain ``Gauge`` always exposes a value, so after a failed query it would keep showing the
    last backlog as if it were current. Here a value the scrape could not read is left out,
    and ``cfp_sidecar_database_up`` says why.
    """

    _HELP = {
        "oldest_unprocessed_age_seconds": "Age of the oldest unprocessed (non-poison) event; 0 when none.",
        "unprocessed_events": "Events not yet marked processed (poison excluded).",
        "poison_events": "Poison events not yet acknowledged (cfp sidecar poison).",
    }

    def __init__(self) -> None:
        self.values: dict[str, float | None] = dict.fromkeys(self._HELP)

    def set(self, name: str, value: float | None) -> None:
        self.values[name] = value

    def clear(self) -> None:
        self.values = dict.fromkeys(self._HELP)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(PREFIX + n, h) for n, h in self._HELP.items()]

    def collect(self) -> Iterator[Metric]:
        for name, help_ in self._HELP.items():
            family = GaugeMetricFamily(PREFIX + name, help_)
            value = self.values[name]
            if value is not None:
                family.add_metric([], value)
            yield family


class WithoutCreated:
    """A registry's collection minus the ``<family>_created`` samples of counters and histograms."""

    _WITH_CREATED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.type in self._WITH_CREATED:
                created = f"{family.name}_created"
                kept = Metric(family.name, family.documentation, family.type, family.unit)
                kept.samples = [sample for sample in family.samples if sample.name != created]
                family = kept
            yield family


class SidecarMetrics:
    """Every metric of the sidecar, in one registry (names in docs/sidecar.md)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._deliveries(self.registry)
        self._trigger_loop(self.registry)
        self.database_up = Gauge(
            f"{PREFIX}database_up", "1 if the last table query succeeded.", registry=self.registry
        )
        self.table = TableGauges()
        self.registry.register(self.table)

    def _deliveries(self, r: CollectorRegistry) -> None:
        """What happened to deliveries and to the group commits that stored them."""
        p = PREFIX
        self.received = Counter(
            f"{p}webhooks_received_total",
            "Authenticated deliveries received (stored, duplicate or poison).",
            registry=r,
        )
        self.stored = Counter(f"{p}events_stored_total", "New events committed to the table.", registry=r)
        self.duplicates = Counter(
            f"{p}duplicates_total", "Deliveries whose event id was already stored (answered 2xx).", registry=r
        )
        self.poison = Counter(
            f"{p}poison_total",
            "Signed deliveries that are not a usable envelope, stored as poison.",
            registry=r,
        )
        self.rejected = Counter(
            f"{p}rejected_total", "Deliveries refused, by reason (nothing stored).", ["reason"], registry=r
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)  # every reason exposed from the start, at 0
        self.unavailable = Counter(
            f"{p}unavailable_total",
            "Deliveries answered 503 because the commit failed or timed out.",
            registry=r,
        )
        self.isolated = Counter(
            f"{p}batch_isolations_total",
            "Group commits that failed on their data and were retried row by row.",
            registry=r,
        )
        self.commit_seconds = Histogram(
            f"{p}commit_seconds",
            "Duration of one group-commit transaction.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            f"{p}commit_batch_size",
            "Rows handed to one group-commit transaction.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.ack_seconds = Histogram(
            f"{p}ack_seconds",
            "Body received -> row committed, per accepted delivery.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _trigger_loop(self, r: CollectorRegistry) -> None:
        """The loop that wakes Airflow (one leader per warehouse)."""
        p = PREFIX
        self.trigger_calls = Counter(
            f"{p}trigger_calls_total", "DAG runs requested from Airflow by the trigger loop.", registry=r
        )
        self.trigger_failures = Counter(
            f"{p}trigger_failures_total",
            "Trigger-loop calls to Airflow that failed (backed off).",
            registry=r,
        )
        self.trigger_skipped = Counter(
            f"{p}trigger_skipped_total",
            "Triggers not sent because a run of the DAG was already queued.",
            registry=r,
        )
        self.trigger_leader = Gauge(
            f"{p}trigger_leader", "1 if this process runs the trigger loop (one per warehouse).", registry=r
        )
        self.trigger_backoff = Gauge(
            f"{p}trigger_backoff_seconds",
            "Current backoff of the trigger loop (0 when Airflow answers).",
            registry=r,
        )

    def render(self) -> bytes:
        """The exposition in the 0.0.4 text format (``CONTENT_TYPE``)."""
        return generate_latest(WithoutCreated(self.registry))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample by its exposed name (``cfp_sidecar_trigger_calls_total``); None if absent."""
        return self.registry.get_sample_value(name, labels or {})
