"""Workflows (webhook registrations) and the delivery of events to them.

Delivery follows docs/checkout-com.md#webhooks: one POST per event and webhook action, body signed with
``Cko-Signature`` = lowercase hex HMAC-SHA256 of the exact body bytes under the action's
signature key, the action's configured headers sent verbatim, and on a non-2xx answer or a
network error a resend after 5 min, 10 min, 15 min, 30 min, 1 h, 4 h, 12 h and 12 h of
*simulated* time (so a fast clock compresses ~30 h into seconds). Delivery is at least once
and unordered; the fault options add duplicates, hold-backs (reordering), dropped first
attempts and a fixed delay. Everything runs on background threads: API requests never wait
for a receiver.

Only events that happen after a workflow exists are delivered; generated history is not.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from .clock import SimClock, cko_ts
from .config import SandboxConfig
from .ids import IdFactory
from .render import dumps

log = logging.getLogger(__name__)

RESEND_SCHEDULE = (
    timedelta(minutes=5),
    timedelta(minutes=10),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
    timedelta(hours=12),
)
_EVENT_VERSIONS = {"payment_approved": "1.0.33", "payment_captured": "1.0.29", "payment_refunded": "1.0.1"}


@dataclass
class WebhookAction:
    id: str
    url: str
    headers: dict[str, str]
    signature_key: str
    signature_method: str = "HMACSHA256"


@dataclass
class Workflow:
    id: str
    name: str
    active: bool
    actions: list[WebhookAction]
    conditions: list[dict[str, Any]]
    events: frozenset[str] | None  # None = every event

    def accepts(self, event_type: str) -> bool:
        return self.active and (self.events is None or event_type in self.events)


@dataclass(order=True)
class _Delivery:
    due: datetime
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    workflow_id: str = field(compare=False)
    action: WebhookAction = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=0)  # 0 = first attempt, 1..8 = resends
    drop_first: bool = field(compare=False, default=False)
    duplicate: bool = field(compare=False, default=False)


class WebhookDispatcher:
    """Implements the world's event sink; owns workflows, the delivery queue and its threads."""

    def __init__(self, config: SandboxConfig, clock: SimClock, ids: IdFactory, id_lock: Any) -> None:
        self.config = config
        self.clock = clock
        self.ids = ids
        self._id_lock = id_lock  # the world lock: ids come from the world's deterministic factory
        self.base_url = "http://127.0.0.1"
        self.workflows: dict[str, Workflow] = {}
        self._rng = random.Random(f"webhooks:{config.effective_fault_seed}")
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._session_local = threading.local()
        self.log: deque[dict[str, Any]] = deque(maxlen=50_000)
        self.events_published = 0
        self.in_flight = 0
        #: While held, nothing is sent; ``release`` then sends what waited in a chosen order.
        self.held = False
        #: Recent events by id, for ``redeliver``: (event type, body, [(workflow id, action)]).
        self._sent: OrderedDict[str, tuple[str, bytes, list[tuple[str, WebhookAction]]]] = OrderedDict()

    # ------------------------------------------------------------------ workflows
    def register(self, body: dict[str, Any]) -> Workflow:
        """Validated by the route; ids drawn from the world's factory (caller holds the world lock)."""
        events: set[str] | None = None
        conditions = []
        for cond in body.get("conditions") or []:
            cond = dict(cond)
            cond["id"] = self.ids.new("wfc")
            if cond.get("type") == "event":
                listed = cond.get("events") or {}
                events = set(events or ())
                for names in listed.values():
                    events.update(names)
            conditions.append(cond)
        actions = [
            WebhookAction(
                id=self.ids.new("wfa"),
                url=a["url"],
                headers={str(k): str(v) for k, v in (a.get("headers") or {}).items()},
                signature_key=(a.get("signature") or {}).get("key", ""),
                signature_method=(a.get("signature") or {}).get("method", "HMACSHA256"),
            )
            for a in body["actions"]
        ]
        wf = Workflow(
            self.ids.new("wf"),
            str(body.get("name") or "webhooks"),
            bool(body.get("active", True)),
            actions,
            conditions,
            frozenset(events) if events is not None else None,
        )
        with self._cv:
            self.workflows[wf.id] = wf
        return wf

    def remove(self, workflow_id: str) -> bool:
        with self._cv:
            return self.workflows.pop(workflow_id, None) is not None

    # ------------------------------------------------------------------ EventSink
    def wants(self, event_type: str) -> bool:
        return any(wf.accepts(event_type) for wf in list(self.workflows.values()))

    def publish(
        self, event_type: str, subject_id: str, created_on: datetime, build: Callable[[str], dict[str, Any]]
    ) -> None:
        base = self.base_url
        data = build(base)
        event_id = self.ids.new("evt")
        cfg = self.config
        links = {
            "self": {"href": f"{base}/workflows/events/{event_id}"},
            "subject": {"href": f"{base}/workflows/events/subject/{subject_id}"},
        }
        if subject_id.startswith("pay_"):
            links["payment"] = {"href": f"{base}/payments/{subject_id}"}
            links["payment_actions"] = {"href": f"{base}/payments/{subject_id}/actions"}
        version = _EVENT_VERSIONS.get(event_type, "1.0.11")
        with self._cv:
            alternate = self._rng.random() < cfg.webhook_timestamp_envelope_share
        if alternate:  # the GET /workflows/events/{id} style envelope (docs/checkout-com.md#webhook-payloads)
            envelope: dict[str, Any] = {
                "id": event_id,
                "source": "gateway" if subject_id.startswith("pay_") else "disputes",
                "type": event_type,
                "timestamp": cko_ts(created_on),
                "version": "2.1.0",
                "data": data,
                "action_invocations": self._invocations(event_type),
                "_links": links,
            }
        else:
            envelope = {
                "id": event_id,
                "type": event_type,
                "version": version,
                "created_on": cko_ts(created_on),
                "data": data,
                "_links": links,
            }
        body = dumps(envelope)
        now = self.clock.now()
        with self._cv:
            self.events_published += 1
            targets: list[tuple[str, WebhookAction]] = []
            for wf in list(self.workflows.values()):
                if not wf.accepts(event_type):
                    continue
                for action in wf.actions:
                    targets.append((wf.id, action))
                    self._enqueue_new(event_id, event_type, wf.id, action, body, now)
            self._sent[event_id] = (event_type, body, targets)
            while len(self._sent) > 20_000:
                self._sent.popitem(last=False)
            self._cv.notify_all()

    # ------------------------------------------------------------------ test controls
    def redeliver(self, event_id: str) -> int:
        """Send an event again now (same bytes, a duplicate); the number of deliveries queued."""
        with self._cv:
            sent = self._sent.get(event_id)
            if sent is None:
                return 0
            event_type, body, targets = sent
            now = self.clock.now()
            for wf_id, action in targets:
                self._push(
                    _Delivery(now, next(self._seq), event_id, event_type, wf_id, action, body, 0, False, True)
                )
            self._cv.notify_all()
            return len(targets)

    def hold(self) -> None:
        """Stop sending (queued and new deliveries wait) until :meth:`release`."""
        with self._cv:
            self.held = True

    def release(self, order: str) -> list[str]:
        """Send everything held, due now, in ``order``: ``fifo``, ``reverse`` or ``shuffle``
        (seeded); the event ids in the order they will be handed to the workers."""
        with self._cv:
            waiting = sorted(self._heap)
            self._heap.clear()
            if order == "reverse":
                waiting.reverse()
            elif order == "shuffle":
                self._rng.shuffle(waiting)
            now = self.clock.now()
            for d in waiting:
                d.due, d.seq = now, next(self._seq)
                self._push(d)
            self.held = False
            self._cv.notify_all()
            return [d.event_id for d in waiting]

    def _invocations(self, event_type: str) -> list[dict[str, Any]]:
        """``action_invocations`` of the events-API envelope: one per webhook action that fires.

        Built once per event and shared by every delivery, as the real envelope lists them all.
        """
        with self._cv:
            workflows = [wf for wf in self.workflows.values() if wf.accepts(event_type)]
        return [
            {"workflow_id": wf.id, "workflow_action_id": action.id, "status": "pending"}
            for wf in workflows
            for action in wf.actions
        ]

    def _enqueue_new(
        self, event_id: str, event_type: str, wf_id: str, action: WebhookAction, body: bytes, now: datetime
    ) -> None:
        cfg, rng = self.config, self._rng
        due = now + timedelta(seconds=cfg.webhook_delay_seconds)
        if rng.random() < cfg.webhook_reorder_share:
            due += timedelta(seconds=5 + rng.random() * 55)  # held back: later events overtake it
        drop = rng.random() < cfg.webhook_drop_share
        self._push(_Delivery(due, next(self._seq), event_id, event_type, wf_id, action, body, 0, drop))
        if rng.random() < cfg.webhook_duplicate_share:
            dup_due = due + timedelta(seconds=rng.random() * 5)
            self._push(
                _Delivery(dup_due, next(self._seq), event_id, event_type, wf_id, action, body, 0, False, True)
            )

    def _push(self, d: _Delivery) -> None:
        heapq.heappush(self._heap, d)

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.config.webhook_workers), thread_name_prefix="cko-webhook"
        )
        self._thread = threading.Thread(target=self._run, name="cko-webhook-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def wake(self) -> None:
        """The clock jumped (advance) or settings changed: re-evaluate what is due."""
        with self._cv:
            self._cv.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                if not self._heap or self.held:
                    self._cv.wait(timeout=0.5 if not self.held else 0.05)
                    continue
                wait = self.clock.real_seconds_until(self._heap[0].due)
                if wait > 0:
                    self._cv.wait(timeout=min(wait, 0.25))
                    continue
                d = heapq.heappop(self._heap)
                self.in_flight += 1
            pool = self._pool
            if pool is None:
                return
            try:
                pool.submit(self._attempt, d)
            except RuntimeError:  # pool shut down
                return

    def _session(self) -> requests.Session:
        s = getattr(self._session_local, "session", None)
        if s is None:
            s = self._session_local.session = requests.Session()
            s.trust_env = False  # loopback receivers; never route through a proxy
        return s

    def _attempt(self, d: _Delivery) -> None:
        try:
            self._deliver(d)
        finally:
            with self._cv:
                self.in_flight -= 1

    def _deliver(self, d: _Delivery) -> None:
        sim_now = self.clock.now()
        entry: dict[str, Any] = {
            "event_id": d.event_id,
            "event_type": d.event_type,
            "workflow_id": d.workflow_id,
            "url": d.action.url,
            "attempt": d.attempt + 1,
            "duplicate": d.duplicate,
            "at": cko_ts(sim_now),
            "real_time": time.time(),
        }
        ok = False
        if d.drop_first and d.attempt == 0:
            entry.update(dropped=True, status_code=None, delivered=False)
        else:
            signature = hmac.new(d.action.signature_key.encode(), d.body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Cko-Signature": signature,
                "User-Agent": "Checkout.com-Webhooks-Sandbox/1.0",
                **d.action.headers,
            }
            try:
                resp = self._session().post(
                    d.action.url,
                    data=d.body,
                    headers=headers,
                    timeout=self.config.webhook_timeout_seconds,
                    allow_redirects=False,
                )
                ok = 200 <= resp.status_code < 300
                entry.update(status_code=resp.status_code, delivered=ok)
                resp.close()
            except requests.RequestException as exc:
                entry.update(status_code=None, delivered=False, error=type(exc).__name__)
        self.log.append(entry)
        if ok or d.attempt >= len(RESEND_SCHEDULE):
            if not ok:
                log.info(
                    "webhook %s to workflow %s cancelled after %d attempts",
                    d.event_id,
                    d.workflow_id,
                    d.attempt + 1,
                )
            return
        next_due = sim_now + RESEND_SCHEDULE[d.attempt]
        with self._cv:
            self._push(
                _Delivery(
                    next_due,
                    next(self._seq),
                    d.event_id,
                    d.event_type,
                    d.workflow_id,
                    d.action,
                    d.body,
                    d.attempt + 1,
                    d.drop_first,
                    d.duplicate,
                )
            )
            self._cv.notify_all()

    # ------------------------------------------------------------------ introspection
    def pending(self) -> int:
        with self._cv:
            return len(self._heap) + self.in_flight

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cv:
            return list(self.log)
