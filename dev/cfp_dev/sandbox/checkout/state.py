"""Everything one running sandbox holds, and the background ticker that moves the world.

The ticker plays due steps (captures 2 s after their 202, expiries, settlement at day
boundaries, planned history) even when no request arrives, so webhooks fire on time; each
request also plays due steps first, so an answer never shows a state older than "now".
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .auth import Authenticator
from .clock import SimClock
from .config import SandboxConfig
from .faults import CallCounter, FaultInjector, RateLimiter
from .idempotency import IdempotencyStore
from .reports import StorageSigner
from .webhooks import WebhookDispatcher
from .world import World


@dataclass
class SearchSnapshot:
    """A ``POST /payments/search`` result kept for its ``_links.next`` pages."""

    ids: list[str]
    limit: int
    actions: str


@dataclass
class SandboxState:
    config: SandboxConfig
    world: World
    clock: SimClock
    auth: Authenticator
    limiter: RateLimiter
    faults: FaultInjector
    calls: CallCounter
    idem: IdempotencyStore
    webhooks: WebhookDispatcher
    signer: StorageSigner
    searches: OrderedDict[str, SearchSnapshot] = field(default_factory=OrderedDict)
    token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _search_ids: int = 0
    _ticker: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, world: World) -> SandboxState:
        config = world.config
        start = world.now
        if world.now_from_wall_clock:  # history ended when the build started: catch up with the wall clock
            start = max(start, datetime.now(UTC))
            world.run_until(start)
        clock = SimClock(start, config.clock_speed)
        webhooks = WebhookDispatcher(config, clock, world.ids, world.lock)
        world.event_sink = webhooks
        return cls(
            config=config,
            world=world,
            clock=clock,
            auth=Authenticator(config, clock),
            limiter=RateLimiter(config.read_rps, config.write_rps),
            faults=FaultInjector(config.effective_fault_seed),
            calls=CallCounter(),
            idem=IdempotencyStore(),
            webhooks=webhooks,
            signer=StorageSigner(secrets.token_bytes(32), clock.wall_time),
        )

    @contextmanager
    def synced(self) -> Iterator[World]:
        """The world, locked and played up to the simulated now."""
        world = self.world
        with world.lock:
            world.run_until(self.clock.now())
            yield world

    def remember_search(self, search_id: str, snapshot: SearchSnapshot) -> None:
        """Keep a result for its next pages; the oldest go first beyond ~2M ids or 1000 searches."""
        self.searches[search_id] = snapshot
        self._search_ids += len(snapshot.ids)
        while len(self.searches) > 1 and (len(self.searches) > 1000 or self._search_ids > 2_000_000):
            _, old = self.searches.popitem(last=False)
            self._search_ids -= len(old.ids)

    # ------------------------------------------------------------------ background threads
    def start(self) -> None:
        self.webhooks.start()
        if self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="cko-sandbox-ticker", daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        self.webhooks.stop()

    def _tick(self) -> None:
        while not self._stop.is_set():
            with self.world.lock:
                self.world.run_until(self.clock.now())
                due = self.world.next_due()
            wait = 0.2 if due is None else min(0.2, self.clock.real_seconds_until(due))
            self._stop.wait(max(wait, 0.005))
