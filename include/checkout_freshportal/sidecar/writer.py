"""The group-commit writer: one transaction for many requests, and no request failing another.

Group commit (why): a transaction per request costs one WAL flush per event, which bounds a
single PostgreSQL connection to a few hundred events per second on ordinary disks. Instead every
request hands its row to a writer thread and waits; the writer takes whatever has queued up (up
to ``max_batch``), inserts it in ONE transaction (``ON CONFLICT (event_id) DO NOTHING``, which
also tells new rows from duplicates), commits, and only then releases the waiting requests.
Batches form by themselves: while one commits, the next fills. At low load a batch is one row
and nothing waits for a timer; under load the flush cost is shared. On PostgreSQL two writer
threads (``CFP_SIDECAR_WRITERS``) overlap one batch's insert with the previous batch's flush.

Isolation (why): sharing a transaction must not mean sharing a failure. Envelopes are validated
before they get here, but if the database still refuses a row for what it holds (a value out of
range, a size limit), the batch is bisected until the refused row is alone; the others commit
and are answered, and the refused row is stored as poison under its body's hash (2xx: a resend
would be refused again, for ~30 hours). Only when even that poison row fails does its one
request get 503. A failure of the database itself (connection lost, not migrated, disk full) is
not bisected: every request of the batch gets 503 and Checkout.com resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.warehouse.engine import is_postgres
from checkout_freshportal.warehouse.errors import is_data_error

from .logsafe import safe
from .metrics import SidecarMetrics
from .store import EventRecord, StoreUnavailable, insert_batch, refused_record

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery: ``record`` is what was stored (a poison row if it was refused)."""

    new: bool
    record: EventRecord


@dataclass(slots=True)
class _Pending:
    record: EventRecord
    future: asyncio.Future[Outcome]
    loop: asyncio.AbstractEventLoop
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class _BatchResult:
    """Ids committed as new; refused events and their poison rows; events not stored at all."""

    inserted: set[str] = field(default_factory=set)
    replaced: dict[str, EventRecord] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


class _DatabaseUnavailable(Exception):
    """The database itself failed (not one row's data): the whole batch answers 503."""


_STOP = object()


class GroupCommitWriter:
    """Writer threads that commit queued rows in batches; ``submit`` awaits its batch's COMMIT.

    ``writers`` threads (each with its own connection) take batches from one queue: with two, one
    batch is inserted while the previous one waits for its WAL flush, which matters when the
    flush, not the CPU, is the limit. SQLite has one write lock, so it always gets one writer.
    """

    def __init__(
        self,
        engine: Engine,
        metrics: SidecarMetrics,
        *,
        max_batch: int = 1000,
        writers: int = 1,
        on_committed: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.max_batch = max(1, max_batch)
        self.writers = max(1, writers) if is_postgres(engine) else 1
        self.on_committed = on_committed
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._last_stamp: datetime | None = None
        # thread id -> (stamp of its uncommitted batch, time.monotonic() when it was stamped)
        self._in_flight: dict[int, tuple[datetime, float]] = {}

    # -- request side (event loop) ------------------------------------------------------------

    async def submit(self, record: EventRecord, timeout: float) -> Outcome:
        """Whether this delivery stored a new row, and which; raises StoreUnavailable for a 503."""
        if not self._threads:
            raise StoreUnavailable("writer not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put(_Pending(record, fut, loop))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise StoreUnavailable(f"commit not confirmed within {timeout:g}s") from None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._threads:
            for i in range(self.writers):
                t = threading.Thread(target=self._run, name=f"sidecar-writer-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop (a SIGTERM does not drop accepted requests)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def longest_wait(self) -> float | None:
        """Seconds the oldest uncommitted batch has waited (monotonic: a wall-clock step cannot
        hide or fake a stuck writer), None when none is in flight."""
        with self._lock:
            since = min((mono for _, mono in self._in_flight.values()), default=None)
        return None if since is None else time.monotonic() - since

    def oldest_in_flight(self) -> datetime | None:
        """Stamp of the oldest batch inserted but not yet committed (for the trigger loop)."""
        with self._lock:
            return min((stamp for stamp, _ in self._in_flight.values()), default=None)

    # -- writer threads -----------------------------------------------------------------------

    def _run(self) -> None:
        conn: list[Connection | None] = [None]  # this thread's connection, reopened after errors
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch: list[_Pending] = [item]
                stopping = False
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                self._commit(batch, conn)
                if stopping:
                    return
        finally:
            _close(conn)

    def _insert(self, conn_slot: list[Connection | None], records: list[EventRecord]) -> set[str]:
        """One transaction; a failure to even connect is the database's, never the data's."""
        conn = conn_slot[0]
        if conn is None:
            try:
                conn = conn_slot[0] = self.engine.connect()
            except Exception as exc:
                raise _DatabaseUnavailable(type(exc).__name__) from exc
        stamp = self._stamp()
        with conn.begin():
            return insert_batch(conn, records, stamp)

    def _insert_once_more(self, conn_slot: list[Connection | None], records: list[EventRecord]) -> set[str]:
        """``_insert``, retried once on a fresh connection if the idle one turned out dead.

        A connection that died while idle (server restart, failover, a NAT timeout) fails its
        next use: retrying rather than answering 503 for a healthy database is safe, because if
        the lost COMMIT had landed, the rows now conflict and are answered as duplicates, still
        after a commit.
        """
        try:
            return self._insert(conn_slot, records)
        except _DatabaseUnavailable:
            raise
        except Exception as exc:
            if not _connection_lost(exc, conn_slot[0]):
                raise
            _close(conn_slot)
            return self._insert(conn_slot, records)

    def _stamp(self) -> datetime:
        """``received_at`` of a batch: wall clock, never behind the previous batch.

        Stamped just before the INSERT and registered as in flight until the COMMIT, so the
        trigger loop can tell which stamps may still appear below what it has already seen.
        """
        with self._lock:
            now = datetime.now(UTC)
            if self._last_stamp is not None and now < self._last_stamp:
                now = self._last_stamp
            self._last_stamp = now
            self._in_flight[threading.get_ident()] = (now, time.monotonic())
            return now

    def _write(self, conn_slot: list[Connection | None], records: list[EventRecord]) -> _BatchResult:
        """Insert ``records``; on a data error, isolate the refused rows (module docstring)."""
        try:
            return _BatchResult(inserted=self._insert_once_more(conn_slot, records))
        except _DatabaseUnavailable:
            raise
        except Exception as exc:
            if not is_data_error(exc) or _connection_lost(exc, conn_slot[0]):
                raise _DatabaseUnavailable(type(exc).__name__) from exc
            self.metrics.isolated.inc()
            log.warning(
                "group commit of %d webhook event(s) refused (%s): isolating the refused row(s)",
                len(records),
                type(exc).__name__,
            )
            result = _BatchResult()
            self._isolate(conn_slot, records, exc, result)
            return result

    def _isolate(
        self,
        conn_slot: list[Connection | None],
        records: list[EventRecord],
        cause: BaseException,
        result: _BatchResult,
    ) -> None:
        """Bisect a refused batch: about 2·log2(n) extra transactions per refused row."""
        if len(records) == 1:
            self._store_refused(conn_slot, records[0], cause, result)
            return
        mid = len(records) // 2
        for half in (records[:mid], records[mid:]):
            try:
                result.inserted |= self._insert(conn_slot, half)
            except _DatabaseUnavailable:
                raise
            except Exception as exc:
                if not is_data_error(exc) or _connection_lost(exc, conn_slot[0]):
                    raise _DatabaseUnavailable(type(exc).__name__) from exc
                self._isolate(conn_slot, half, exc, result)

    def _store_refused(
        self,
        conn_slot: list[Connection | None],
        record: EventRecord,
        cause: BaseException,
        result: _BatchResult,
    ) -> None:
        """The one refused row: stored as poison by its body's hash, or failed (its 503 alone)."""
        log.warning(
            "webhook event %s refused by the database (%s); storing it as poison",
            safe(record.event_id),
            type(cause).__name__,
        )
        if record.is_poison and record.event_id == refused_record(record, cause).event_id:
            result.failed.add(record.event_id)
            return
        poison = refused_record(record, cause)
        try:
            result.inserted |= self._insert(conn_slot, [poison])
        except _DatabaseUnavailable:
            raise
        except Exception as exc:
            log.error("poison row for a refused webhook could not be stored either (%s)", type(exc).__name__)
            result.failed.add(record.event_id)
            return
        result.replaced[record.event_id] = poison

    def _commit(self, batch: list[_Pending], conn_slot: list[Connection | None]) -> None:
        # One row per event id in a batch: a second delivery of the same id (Checkout.com resends
        # concurrently) is a duplicate of the first, decided here rather than by the database.
        first: dict[str, _Pending] = {}
        for p in batch:
            first.setdefault(p.record.event_id, p)
        t0 = time.perf_counter()
        try:
            result = self._write(conn_slot, [p.record for p in first.values()])
        except Exception as exc:  # _DatabaseUnavailable, or a bug: never leave a request hanging
            _close(conn_slot)
            self.metrics.database_up.set(0)
            reason = str(exc) if isinstance(exc, _DatabaseUnavailable) else type(exc).__name__
            log.warning("commit of %d webhook event(s) failed: %s", len(first), reason)
            self._resolve(batch, {}, StoreUnavailable(reason))
            return
        finally:
            with self._lock:
                self._in_flight.pop(threading.get_ident(), None)
        self.metrics.database_up.set(1)
        self.metrics.commit_seconds.observe(time.perf_counter() - t0)
        self.metrics.batch_size.observe(len(first))
        outcome: dict[int, Outcome] = {}
        for p in batch:
            eid = p.record.event_id
            if eid in result.failed:
                continue
            stored = result.replaced.get(eid, p.record)
            outcome[id(p)] = Outcome(stored.event_id in result.inserted and first[eid] is p, stored)
        self._resolve(batch, outcome, StoreUnavailable("the database refused the event and its poison row"))
        new_events = sum(
            1 for p in first.values() if p.record.event_id in result.inserted and not p.record.is_poison
        )
        if new_events and self.on_committed is not None:
            try:
                self.on_committed(new_events)
            except Exception:  # a wake-up hint only; never fail the batch for it
                log.exception("on_committed hook failed")

    def _resolve(self, batch: list[_Pending], outcome: dict[int, Outcome], error: Exception) -> None:
        """Answer every request of ``batch``: its outcome, else ``error`` (a 503)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for p in batch:
            by_loop.setdefault(p.loop, []).append(p)
        for loop, items in by_loop.items():
            # RuntimeError: the loop is closed (shutdown), nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, items, outcome, error)


def _connection_lost(exc: BaseException, conn: Connection | None) -> bool:
    """The connection is unusable after ``exc`` (as opposed to one statement having failed)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if conn is None:
        return True
    try:
        driver = conn.connection.driver_connection
    except Exception:
        return True
    return bool(getattr(driver, "closed", False) or getattr(driver, "broken", False))


def _close(slot: list[Connection | None]) -> None:
    conn = slot[0]
    slot[0] = None
    if conn is not None:
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # already broken; dropping it is the point
            log.debug("closing a writer connection failed", exc_info=True)


def _settle(items: list[_Pending], outcome: dict[int, Outcome], error: Exception) -> None:
    for p in items:
        if p.future.done():  # the request timed out or the client went away
            continue
        result = outcome.get(id(p))
        if result is None:
            p.future.set_exception(error)
        else:
            p.future.set_result(result)
