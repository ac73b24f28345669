"""The event table seen from the sidecar: rows from deliveries, the batch insert, status queries.

The group-commit writer that calls :func:`insert_batch` is in ``writer``. Durability: a request
is answered 2xx only after the COMMIT of a transaction containing its row (or an earlier one,
for a duplicate).

SQLite connections of the sidecar use ``synchronous=FULL`` (the project engine uses NORMAL,
which in WAL mode may lose the last commits on power loss: not acceptable for something we have
acknowledged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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
from checkout_freshportal.freshportal.privacy import mask_emails_in_bytes
from checkout_freshportal.warehouse.engine import is_postgres, is_sqlite, make_engine
from checkout_freshportal.warehouse.schema import raw_webhook_events as T

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
    #: sha256 of the body as received (``body`` has its e-mail addresses masked); None: of ``body``
    received_sha256: str | None = None

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
            "body_sha256": self.received_sha256 or body_sha256(self.body),
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
    Whatever the body holds, only validated text reaches SQL (``parse_envelope`` checks the id,
    type and subject); the bytes themselves go to a ``bytea``/BLOB column, which holds anything.
    """
    try:
        env = parse_envelope(raw)
    except MalformedEnvelope as exc:
        return _poison(raw, key_index, str(exc), readable_event_id(raw))
    except Exception as exc:  # a parser defect nobody foresaw: still a 2xx, never a 500
        log.error("envelope parser failed on a signed body (%s); storing it as poison", type(exc).__name__)
        return _poison(raw, key_index, f"envelope could not be read ({type(exc).__name__})", None)
    return EventRecord(
        event_id=env.id,
        event_type=env.type,
        subject_id=env.subject_id,
        occurred_at=env.occurred_at,
        body=mask_emails_in_bytes(raw),
        key_index=key_index,
        received_sha256=body_sha256(raw),
    )


def _poison(raw: bytes, key_index: int | None, reason: str, event_id: str | None) -> EventRecord:
    """Ids and hashes from the bytes as received; the stored bytes without e-mail addresses
    (a payment event carries its customer's, docs/security.md)."""
    return EventRecord(
        event_id=event_id or poison_event_id(raw),
        event_type=None,
        subject_id=None,
        occurred_at=None,
        body=mask_emails_in_bytes(raw),
        key_index=key_index,
        poison_reason=reason,
        received_sha256=body_sha256(raw),
    )


def refused_record(record: EventRecord, cause: BaseException) -> EventRecord:
    """The poison row for an event the database refused on its own (its batch's others did commit).

    Keyed by the body's hash and with no text taken from the body, so it is storable whatever
    made the original row fail, and a resend of the same body is a duplicate of it.
    """
    poison = _poison(
        record.body, record.key_index, f"the database refused the event ({type(cause).__name__})", None
    )
    poison.received_sha256 = record.received_sha256 or poison.received_sha256
    return poison


#: libpq settings of the sidecar's PostgreSQL connections, all client-side (a pooler such as
#: PgBouncer passes them, where it refuses a server ``options`` parameter). A connection whose
#: peer went silent (a NAT or firewall dropping the flow, a failover without a reset) must fail
#: instead of blocking its writer for ever: TCP keepalives find it within about 25 s when the
#: writer waits for an answer, ``tcp_user_timeout`` within 30 s when what it sent is never
#: acknowledged; the writer then reconnects. (A review's probe: both writers blocked, every
#: webhook 503, health green.) Durability is the insert's own (:data:`_PG_DURABLE`).
PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def make_sidecar_engine(url: str, **kwargs: Any) -> Engine:
    """The project engine, plus: SQLite commits with ``synchronous=FULL``; PostgreSQL flushes each
    commit, fails fast and drops dead connections (:data:`PG_CONNECT_ARGS`)."""
    u = sa.make_url(url)
    if u.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {**PG_CONNECT_ARGS, **kwargs.get("connect_args", {})}
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
# A 2xx means committed and flushed: each batch's transaction says so itself, rather than
# inheriting a database or role default of ``synchronous_commit = off`` (which acknowledged events
# a server crash then lost). SET LOCAL, not a connection option: it holds behind a transaction
# pooler too, and leaves PGOPTIONS and the URL's own options alone.
_PG_DURABLE = "SET LOCAL synchronous_commit = on"
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


class RowsNotStored(RuntimeError):
    """Ids neither inserted nor already there: something in the database (a trigger returning
    NULL, a ``DO INSTEAD NOTHING`` rule) dropped them. The batch fails (503) instead of
    answering 2xx "duplicate" for an event that was never stored."""


def insert_batch(conn: Connection, records: list[EventRecord], received_at: datetime) -> set[str]:
    """Insert ``records`` (distinct ids) in the caller's transaction; returns the ids that were new.

    An id not new must be a row already stored (a resend); one that is not is
    :class:`RowsNotStored`. The check costs a query only when a batch has duplicates.
    """
    new = _insert_rows(conn, records, received_at)
    others = [r.event_id for r in records if r.event_id not in new]
    if others:
        there = {row[0] for row in conn.execute(sa.select(T.c.event_id).where(T.c.event_id.in_(others)))}
        lost = [i for i in others if i not in there]
        if lost:
            raise RowsNotStored(f"{len(lost)} event(s) were neither inserted nor already stored")
    return new


def _insert_rows(conn: Connection, records: list[EventRecord], received_at: datetime) -> set[str]:
    """The insert itself; returns the ids the database reports as new.

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
            cur.execute(_PG_DURABLE)
            cur.execute(
                _PG_INSERT,
                (
                    received_at,
                    [r.event_id for r in records],
                    [r.event_type for r in records],
                    [r.subject_id for r in records],
                    [r.occurred_at for r in records],
                    [r.body for r in records],
                    [r.received_sha256 or body_sha256(r.body) for r in records],
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
                    r.received_sha256 or body_sha256(r.body),
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
