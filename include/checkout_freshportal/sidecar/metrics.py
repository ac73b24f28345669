"""Counters, gauges and histograms in the Prometheus text exposition format (version 0.0.4).

Fifty lines instead of a dependency: the sidecar needs four metric kinds, one process-local
registry and ``render()``; ``prometheus-client`` would add its multiprocess machinery, which the
sidecar does not use (with ``--workers N`` each worker reports its own counters; the table-derived
gauges are the same from every worker).
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

LabelValues = tuple[str, ...]


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.help, self.labelnames = name, help_, tuple(labelnames)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(
        self, name: str, help_: str, labelnames: Sequence[str] = (), *, initial: Iterable[LabelValues] = ()
    ):
        super().__init__(name, help_, labelnames)
        self._values: dict[LabelValues, float] = {lv: 0.0 for lv in initial}
        if not labelnames:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, labels: LabelValues = ()) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, labels: LabelValues = ()) -> float:
        return self._values.get(labels, 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, lv)} {_fmt(v)}" for lv, v in items]


class Gauge(_Metric):
    """A value set by the code, or read from ``callback`` at scrape time (None = no sample)."""

    kind = "gauge"

    def __init__(self, name: str, help_: str, callback: Callable[[], float | None] | None = None) -> None:
        super().__init__(name, help_)
        self._value: float | None = 0.0 if callback is None else None
        self._callback = callback

    def set(self, value: float | None) -> None:
        self._value = value

    def lines(self) -> list[str]:
        value = self._callback() if self._callback is not None else self._value
        return [] if value is None else [f"{self.name} {_fmt(value)}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help_)
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)  # last: above the highest bound
        self._sum = 0.0

    def observe(self, value: float) -> None:
        i = bisect_left(self.buckets, value)
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def lines(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        out, running = [], 0
        for bound, n in zip(self.buckets, counts, strict=False):
            running += n
            out.append(f'{self.name}_bucket{{le="{_fmt(bound)}"}} {running}')
        running += counts[-1]
        out.append(f'{self.name}_bucket{{le="+Inf"}} {running}')
        out.append(f"{self.name}_sum {_fmt(total)}")
        out.append(f"{self.name}_count {running}")
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def register(self, metric: _Metric) -> _Metric:
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        out: list[str] = []
        for m in self._metrics:
            out += m.header()
            out += m.lines()
        return "\n".join(out) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
REJECT_REASONS = ("method", "size", "auth", "signature_missing", "signature")


class SidecarMetrics:
    """Every metric of the sidecar, in one registry (names in docs/sidecar.md)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        p = "cfp_sidecar_"
        self.received = r.register(
            Counter(f"{p}webhooks_received_total", "Authenticated deliveries received (stored or duplicate).")
        )
        self.stored = r.register(Counter(f"{p}events_stored_total", "New events committed to the table."))
        self.duplicates = r.register(
            Counter(f"{p}duplicates_total", "Deliveries whose event id was already stored (answered 2xx).")
        )
        self.poison = r.register(
            Counter(f"{p}poison_total", "Signed deliveries that are not a usable envelope, stored as poison.")
        )
        self.rejected = r.register(
            Counter(
                f"{p}rejected_total",
                "Deliveries refused, by reason (nothing stored).",
                ("reason",),
                initial=[(x,) for x in REJECT_REASONS],
            )
        )
        self.unavailable = r.register(
            Counter(
                f"{p}unavailable_total", "Deliveries answered 503 because the commit failed or timed out."
            )
        )
        self.commit_seconds = r.register(
            Histogram(f"{p}commit_seconds", "Duration of one group-commit transaction.", LATENCY_BUCKETS)
        )
        self.batch_size = r.register(
            Histogram(f"{p}commit_batch_size", "Rows handed to one group-commit transaction.", BATCH_BUCKETS)
        )
        self.ack_seconds = r.register(
            Histogram(
                f"{p}ack_seconds", "Body received -> row committed, per accepted delivery.", LATENCY_BUCKETS
            )
        )
        self.trigger_calls = r.register(
            Counter(f"{p}trigger_calls_total", "DAG runs requested from Airflow by the trigger loop.")
        )
        self.trigger_failures = r.register(
            Counter(f"{p}trigger_failures_total", "Trigger-loop calls to Airflow that failed (backed off).")
        )
        self.trigger_skipped = r.register(
            Counter(
                f"{p}trigger_skipped_total", "Triggers not sent because a run of the DAG was already queued."
            )
        )
        self.trigger_leader = r.register(
            Gauge(f"{p}trigger_leader", "1 if this process runs the trigger loop (one per warehouse).")
        )
        self.trigger_backoff = r.register(
            Gauge(
                f"{p}trigger_backoff_seconds", "Current backoff of the trigger loop (0 when Airflow answers)."
            )
        )
        self.database_up: Gauge = r.register(Gauge(f"{p}database_up", "1 if the last table query succeeded."))
        self.oldest_unprocessed_age: Gauge = r.register(
            Gauge(
                f"{p}oldest_unprocessed_age_seconds",
                "Age of the oldest unprocessed (non-poison) event; 0 when none.",
            )
        )
        self.unprocessed: Gauge = r.register(
            Gauge(f"{p}unprocessed_events", "Events not yet marked processed (poison excluded).")
        )
        self.poison_pending: Gauge = r.register(
            Gauge(f"{p}poison_events", "Poison events not yet acknowledged (cfp sidecar poison).")
        )
