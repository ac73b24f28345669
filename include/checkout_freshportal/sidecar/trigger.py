"""The trigger loop: turns newly stored events into at most one queued ``checkout_events`` run.

Choice: a DAG-run trigger (``POST /api/v2/dags/checkout_events/dagRuns``), not an asset event.
The run can be checked ("is one already queued?") and named, it needs only the ``user`` role
(asset events need ``op``), it works whatever else schedules the DAG (its 10-minute sweep), and it
does not depend on the asset being registered or the DAG being unpaused at the moment of the
event (an asset event for a paused DAG is dropped, apache/airflow#49857). Docs: docs/sidecar.md.

Rules, per wake-up (an in-process commit, or every ``poll_interval``):

* *pending* = unprocessed, non-poison events stamped after the newest one an earlier trigger of
  this loop already covered (all of them after a start);
* the first time pending events are seen, a deadline is set ``trigger_delay`` later; everything
  arriving until then rides on the same run (coalescing with a bounded delay, not a debounce
  that a steady stream could postpone for ever);
* at the deadline: if a run of the DAG is already queued, it will read the table when it
  starts, so nothing is sent (checked again next tick); otherwise one run is triggered;
* if Airflow (or the database) fails, the loop backs off exponentially (1 s doubling to
  ``backoff_max``, with jitter) and the events wait in the table;
* safety net: when the oldest unprocessed event is older than ``retrigger_after`` and no run is
  queued or running (a run failed, or events were stored by another writer), one run is sent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from . import store
from .airflow_api import AirflowClient, AirflowUnavailable
from .leader import Leadership, leadership_for
from .logsafe import safe
from .metrics import SidecarMetrics
from .settings import SidecarSettings

log = logging.getLogger(__name__)

LEADER_RETRY = 2.0  # seconds between attempts to take the lead while another process has it


class TriggerLoop:
    def __init__(
        self,
        engine: Engine,
        client: AirflowClient,
        metrics: SidecarMetrics,
        *,
        dag_id: str = "checkout_events",
        delay: float = 1.0,
        poll_interval: float = 0.5,
        backoff_max: float = 60.0,
        retrigger_after: float = 300.0,
        leadership: Leadership | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.metrics = metrics
        self.dag_id = dag_id
        self.delay = delay
        self.poll_interval = max(0.05, poll_interval)
        self.backoff_max = max(1.0, backoff_max)
        self.retrigger_after = retrigger_after
        self.leadership = leadership or leadership_for(engine)
        #: the writer's oldest uncommitted stamp (rows that may still appear below ``newest``)
        self.in_flight: Callable[[], datetime | None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # state (loop thread only)
        self._covered: datetime | None = None  # newest received_at a sent trigger covers
        self._due: float | None = None  # monotonic deadline for the pending events
        self._backoff = 0.0
        self._last_trigger = time.monotonic()
        self._next_stale_check = 0.0
        self._next_leader_try = 0.0

    @classmethod
    def from_settings(cls, s: SidecarSettings, engine: Engine, metrics: SidecarMetrics) -> TriggerLoop:
        if not (s.airflow_url and s.airflow_user and s.airflow_password):
            raise ValueError("the trigger loop needs CFP_AIRFLOW_URL, CFP_AIRFLOW_USER, CFP_AIRFLOW_PASSWORD")
        client = AirflowClient(s.airflow_url, s.airflow_user, s.airflow_password, timeout=s.airflow_timeout)
        return cls(
            engine,
            client,
            metrics,
            dag_id=s.dag_id,
            delay=s.trigger_delay,
            poll_interval=s.poll_interval,
            backoff_max=s.backoff_max,
            retrigger_after=s.retrigger_after,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def notify(self, _new_events: int = 0) -> None:
        """Called by the writer after a commit with new events (any thread)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sidecar-trigger", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.leadership.release()
        self.client.close()

    # -- loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._backoff:
                self._stop.wait(self._backoff * random.uniform(0.8, 1.2))
            else:
                timeout = self.poll_interval
                if self._due is not None:
                    timeout = min(timeout, max(0.0, self._due - time.monotonic()))
                self._wake.wait(timeout)
                self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception:  # never let the loop die; the sweep is the last resort
                log.exception("trigger loop iteration failed")
                self._fail(airflow=False)

    def tick(self) -> None:
        """One decision (public for tests)."""
        now = time.monotonic()
        if now < self._next_leader_try:
            return
        try:
            leader = self.leadership.acquire()
        except Exception as exc:
            log.warning("trigger loop: database unavailable (%s)", type(exc).__name__)
            self._fail(airflow=False)
            return
        self.metrics.trigger_leader.set(1 if leader else 0)
        if not leader:  # another process leads; try again now and then (it may die)
            self._covered, self._due = None, None
            self._next_leader_try = now + LEADER_RETRY
            return
        try:
            with self.leadership.connection() as conn:
                pending, newest = store.pending_since(conn, self._covered)
                stale_oldest = None
                if now >= self._next_stale_check:
                    self._next_stale_check = now + max(1.0, self.retrigger_after / 4)
                    stale_oldest = store.backlog(conn).oldest_received_at
        except Exception as exc:
            self.leadership.lost()
            log.warning("trigger loop: database unavailable (%s)", type(exc).__name__)
            self._fail(airflow=False)
            return
        if pending:
            if self._due is None:
                self._due = now + self.delay
            if now >= self._due:
                self._attempt(pending, newest)
            return
        self._due = None
        if stale_oldest is not None:
            self._maybe_retrigger(stale_oldest, now)

    def _attempt(self, pending: int, newest: datetime | None) -> None:
        try:
            if self.client.count_runs(self.dag_id, ("queued",)) > 0:
                self.metrics.trigger_skipped.inc()
                self._ok()
                self._due = time.monotonic() + self.poll_interval  # look again next tick
                return
            self._trigger("events", pending, newest)
        except AirflowUnavailable as exc:
            log.warning("trigger loop: Airflow unavailable (%s); %d event(s) wait", safe(exc, 300), pending)
            self._fail()
            return
        self._covered = newest
        oldest_open = self.in_flight() if self.in_flight is not None else None
        if newest is not None and oldest_open is not None and oldest_open <= newest:
            # a batch stamped before `newest` is still committing: do not count it as covered
            self._covered = oldest_open - timedelta(microseconds=1)
        self._due = None

    def _maybe_retrigger(self, oldest: datetime, now: float) -> None:
        age = (datetime.now(UTC) - oldest).total_seconds()
        if age < self.retrigger_after or now - self._last_trigger < self.retrigger_after:
            return
        try:
            if self.client.count_runs(self.dag_id, ("queued", "running")) > 0:
                self._ok()
                return
            log.info("trigger loop: unprocessed events %.0fs old and no active run; re-triggering", age)
            self._trigger("stale", None, None)
        except AirflowUnavailable as exc:
            log.warning("trigger loop: Airflow unavailable (%s)", safe(exc, 300))
            self._fail()

    def _trigger(self, reason: str, pending: int | None, newest: datetime | None) -> None:
        stamp = datetime.now(UTC)
        run_id = f"sidecar__{stamp:%Y-%m-%dT%H:%M:%S.%f}Z"
        conf: dict[str, Any] = {"triggered_by": "cfp-sidecar", "reason": reason}
        if pending is not None:
            conf["pending_events"] = pending
        if newest is not None:
            conf["newest_received_at"] = newest.isoformat()
        self.metrics.trigger_calls.inc()
        created = self.client.trigger(self.dag_id, run_id, conf)
        self._last_trigger = time.monotonic()
        self._ok()
        log.info("triggered %s run %s (%s, pending=%s)", self.dag_id, run_id, reason, pending)
        if not created:
            log.info("run id %s already existed", run_id)

    def _ok(self) -> None:
        self._backoff = 0.0
        self.metrics.trigger_backoff.set(0)

    def _fail(self, airflow: bool = True) -> None:
        if airflow:
            self.metrics.trigger_failures.inc()
        self._backoff = min(self.backoff_max, max(1.0, self._backoff * 2))
        self.metrics.trigger_backoff.set(self._backoff)
