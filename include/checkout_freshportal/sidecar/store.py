"""The event table seen from the sidecar: rows from deliveries, group commit, status queries.

Group commit (why): a transaction per request costs one WAL flush per event, which bounds a
single PostgreSQL connection to a few hundred events per second on ordinary disks. Instead every
request hands its row to a writer thread and waits; the writer takes whatever has queued up (up
to ``max_batch``), inserts it in ONE transaction (``ON CONFLICT (event_id) DO NOTHING``, which
also tells new rows from duplicates), commits, and only then releases the waiting requests.
Batches form by themselves: while one commits, the next fills. At low load a batch is one row
and nothing waits for a timer; under load the flush cost is shared. On PostgreSQL two writer
threads (``CFP_SIDECAR_WRITERS``) overlap one batch's insert with the previous batch's flush.
Durability is unchanged: a request is answered 2xx only after the COMMIT of a transaction
containing its row (or an earlier one, for a duplicate), and a failed commit fails every request
of the batch (503: Checkout.com resends).

SQLite takes the same path with one writer; its connections use ``synchronous=FULL`` (the
project engine uses NORMAL, which in WAL mode may lose the last commits on power loss: not
acceptable for something we have acknowledged).
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

from checkout_freshportal.checkout.webhooks import (
    MalformedEnvelope,
    body_sha256,
    parse_envelope,
    poison_event_id,
    readable_event_id,
)
from checkout_freshportal.warehouse.engine import is_postgres, is_sqlite, make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events as T

from .metrics import SidecarMetrics

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The row could not be committed (database down, timeout): the request answers 503."""


@dataclass(slots=True)
class EventRecord:
    """One delivery, ready to insert. ``received_at`` is stamped by the writer (see ``_stamp``)."""

    event_id: str
    event_type: str | None
    subject_id: str | None
    occurred_at: datetime | None
    body: bytes
    key_index: int | None
    poison_reason: str | None = None

    @property
    def is_poison(self) -> bool:
        return self.poison_reason is not None

    def row(self, received_at: datetime) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "subject_id": self.subject_id,
            "occurred_at": self.occurred_at,
            "received_at": received_at,
            "body": self.body,
            "body_sha256": body_sha256(self.body),
            "key_index": self.key_index,
            "is_poison": self.is_poison,
            "poison_reason": self.poison_reason,
            "processed_at": None,
            "process_attempts": 0,
            "last_error": None,
        }


def record_from_body(raw: bytes, key_index: int | None) -> EventRecord:
    """The row for a signed body: a parsed event, or a poison event that keeps the bytes.

    A poison event is keyed by its own ``id`` when that is readable (so an operator can find it
    at Checkout.com), else by ``poison:<sha256>``; both make a resend of the same body a duplicate.
    """
    try:
        env = parse_envelope(raw)
    except MalformedEnvelope as exc:
        return EventRecord(
            event_id=readable_event_id(raw) or poison_event_id(raw),
            event_type=None,
            subject_id=None,
            occurred_at=None,
            body=raw,
            key_index=key_index,
            poison_reason=str(exc),
        )
    return EventRecord(
        event_id=env.id,
        event_type=env.type,
        subject_id=env.subject_id,
        occurred_at=env.occurred_at,
        body=raw,
        key_index=key_index,
    )


def make_sidecar_engine(url: str, **kwargs: Any) -> Engine:
    """The project engine, plus: SQLite commits with ``synchronous=FULL``; PostgreSQL fails fast."""
    u = sa.make_url(url)
    if u.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
        kwargs.setdefault("pool_size", 4)
    engine = make_engine(url, **kwargs)  # DEFERRED: reads (metrics, trigger) take no write lock
    if is_sqlite(engine):

        @sa.event.listens_for(engine, "connect")
        def _full_sync(dbapi_conn: Any, _record: Any) -> None:  # runs after the project's pragmas
            dbapi_conn.execute("PRAGMA synchronous=FULL")

    return engine


_COLUMNS = (
    "event_id, event_type, subject_id, occurred_at, received_at, body, body_sha256, key_index, "
    "is_poison, poison_reason, process_attempts"
)
# PostgreSQL: the whole batch as one statement over arrays (one round trip, parameters adapted in
# C by psycopg); RETURNING names the rows that were new, so duplicates are what is missing.
_PG_INSERT = (
    f"INSERT INTO raw_webhook_events ({_COLUMNS}) "
    "SELECT e, t, s, o, %s, b, h, k, p, r, 0 FROM unnest("
    "%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::bytea[], %s::text[], %s::int[], "
    "%s::bool[], %s::text[]) AS u(e, t, s, o, b, h, k, p, r) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
# SQLite: in-process, so a statement per row costs microseconds and its rowcount says new or not.
_SQLITE_INSERT = (
    f"INSERT INTO raw_webhook_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def insert_batch(conn: Connection, records: list[EventRecord], received_at: datetime) -> set[str]:
    """Insert ``records`` (distinct ids) in the caller's transaction; returns the ids that were new.

    Driver-level SQL rather than a Core ``insert()``: it halves the writer's CPU per event, which
    is the sidecar's throughput on a small machine (docs/sidecar.md). Values go through the
    column types' own bind processors where the driver does not already store them the same way
    (SQLite datetimes), so rows are identical to what the schema's types write;
    ``tests/sidecar`` reads them back through the Table to prove it.
    """
    if not records:
        return set()
    dbapi = conn.connection.driver_connection
    if is_postgres(conn):
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                _PG_INSERT,
                (
                    received_at,
                    [r.event_id for r in records],
                    [r.event_type for r in records],
                    [r.subject_id for r in records],
                    [r.occurred_at for r in records],
                    [r.body for r in records],
                    [body_sha256(r.body) for r in records],
                    [r.key_index for r in records],
                    [r.is_poison for r in records],
                    [r.poison_reason for r in records],
                ),
            )
            return {row[0] for row in cur}
    ts = _sqlite_ts(conn)
    new: set[str] = set()
    stamp = ts(received_at)
    cur = dbapi.cursor()  # type: ignore[union-attr]
    try:
        for r in records:
            cur.execute(
                _SQLITE_INSERT,
                (
                    r.event_id,
                    r.event_type,
                    r.subject_id,
                    ts(r.occurred_at),
                    stamp,
                    r.body,
                    body_sha256(r.body),
                    r.key_index,
                    1 if r.is_poison else 0,
                    r.poison_reason,
                ),
            )
            if cur.rowcount == 1:
                new.add(r.event_id)
    finally:
        cur.close()
    return new


def _sqlite_ts(conn: Connection) -> Callable[[datetime | None], Any]:
    """The bind processor of ``UTCDateTime`` on this dialect (UTC, naive, fixed-width text)."""
    col = T.c.received_at
    proc = col.type._cached_bind_processor(conn.dialect)
    return proc if proc is not None else (lambda v: v)


@dataclass(slots=True)
class _Pending:
    record: EventRecord
    future: asyncio.Future[bool]
    loop: asyncio.AbstractEventLoop
    queued_at: float = field(default_factory=time.perf_counter)


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
        self._in_flight: dict[int, datetime] = {}  # thread id -> stamp of its uncommitted batch

    # -- request side (event loop) ------------------------------------------------------------

    async def submit(self, record: EventRecord, timeout: float) -> bool:
        """True if this delivery stored a new row, False for a duplicate; StoreUnavailable else."""
        if not self._threads:
            raise StoreUnavailable("writer not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
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

    def oldest_in_flight(self) -> datetime | None:
        """Stamp of the oldest batch inserted but not yet committed (for the trigger loop)."""
        with self._lock:
            return min(self._in_flight.values(), default=None)

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
        if conn_slot[0] is None:
            conn_slot[0] = self.engine.connect()
        conn = conn_slot[0]
        stamp = self._stamp()
        with conn.begin():
            return insert_batch(conn, records, stamp)

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
            self._in_flight[threading.get_ident()] = now
            return now

    def _commit(self, batch: list[_Pending], conn_slot: list[Connection | None]) -> None:
        # One row per event id in a batch: a second delivery of the same id (Checkout.com resends
        # concurrently) is a duplicate of the first, decided here rather than by the database.
        first: dict[str, _Pending] = {}
        for p in batch:
            first.setdefault(p.record.event_id, p)
        t0 = time.perf_counter()
        records = [p.record for p in first.values()]
        try:
            try:
                inserted = self._insert(conn_slot, records)
            except sa.exc.DBAPIError as exc:
                # A connection that died while idle (server restart, failover, a NAT timeout)
                # fails its next use: retry once on a fresh one rather than answer 503 for a
                # healthy database. Safe: if the lost COMMIT had landed, the rows now conflict
                # and those requests are answered as duplicates, still after a commit.
                if not exc.connection_invalidated:
                    raise
                _close(conn_slot)
                inserted = self._insert(conn_slot, records)
        except Exception as exc:
            _close(conn_slot)
            self.metrics.database_up.set(0)
            log.warning("commit of %d webhook event(s) failed: %s", len(first), type(exc).__name__)
            self._resolve(batch, None, StoreUnavailable(type(exc).__name__))
            return
        finally:
            with self._lock:
                self._in_flight.pop(threading.get_ident(), None)
        elapsed = time.perf_counter() - t0
        self.metrics.database_up.set(1)
        self.metrics.commit_seconds.observe(elapsed)
        self.metrics.batch_size.observe(len(first))
        outcome = {id(p): (p.record.event_id in inserted and first[p.record.event_id] is p) for p in batch}
        self._resolve(batch, outcome, None)
        new_events = sum(
            1 for p in first.values() if p.record.event_id in inserted and not p.record.is_poison
        )
        if new_events and self.on_committed is not None:
            try:
                self.on_committed(new_events)
            except Exception:  # a wake-up hint only; never fail the batch for it
                log.exception("on_committed hook failed")

    def _resolve(
        self, batch: list[_Pending], outcome: dict[int, bool] | None, error: Exception | None
    ) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for p in batch:
            by_loop.setdefault(p.loop, []).append(p)
        for loop, items in by_loop.items():
            # RuntimeError: the loop is closed (shutdown), nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, items, outcome, error)


def _close(slot: list[Connection | None]) -> None:
    conn = slot[0]
    slot[0] = None
    if conn is not None:
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # already broken; dropping it is the point
            log.debug("closing a writer connection failed", exc_info=True)


def _settle(items: list[_Pending], outcome: dict[int, bool] | None, error: Exception | None) -> None:
    for p in items:
        if p.future.done():  # the request timed out or the client went away
            continue
        if error is not None:
            p.future.set_exception(error)
        else:
            assert outcome is not None
            p.future.set_result(outcome[id(p)])


# ------------------------------------------------------------------------------- status queries


@dataclass(frozen=True)
class Backlog:
    unprocessed: int
    oldest_received_at: datetime | None
    newest_received_at: datetime | None
    poison_pending: int


_UNPROCESSED = sa.and_(T.c.processed_at.is_(None), T.c.is_poison.is_(sa.false()))


def backlog(conn: Connection) -> Backlog:
    """Unprocessed (non-poison) events and unacknowledged poison; both use partial indexes."""
    n, oldest, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(T.c.received_at), sa.func.max(T.c.received_at)).where(
            _UNPROCESSED
        )
    ).one()
    poison = conn.execute(
        sa.select(sa.func.count()).where(T.c.is_poison.is_(sa.true()), T.c.processed_at.is_(None))
    ).scalar_one()
    return Backlog(int(n), _aware(oldest), _aware(newest), int(poison))


def pending_since(conn: Connection, after: datetime | None) -> tuple[int, datetime | None]:
    """Unprocessed events received after ``after`` (all when None): count and newest stamp."""
    q = sa.select(sa.func.count(), sa.func.max(T.c.received_at)).where(_UNPROCESSED)
    if after is not None:
        q = q.where(T.c.received_at > after)
    n, newest = conn.execute(q).one()
    return int(n), _aware(newest)


def _aware(value: Any) -> datetime | None:
    """min()/max() bypass the column type on SQLite and come back as text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ping(conn: Connection) -> None:
    """The table is reachable (database up and migrated)."""
    conn.execute(sa.select(T.c.event_id).limit(0)).all()
