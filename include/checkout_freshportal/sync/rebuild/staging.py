"""``cfp rebuild staging``: staged tables again from the raw layer, never from Checkout.com.

The range selects raw items by the time they were stored (``raw_api_objects.fetched_at``,
``raw_report_files.loaded_at``). What is rebuilt, and why it equals what ingestion wrote
(docs/replay-and-rebuild.md):

* API objects: every object id with a version stored in the range is deleted from its staged
  table and staged again from **all** its stored versions, oldest first, through ingestion's
  mappers and ``upsert`` (so "latest wins" and ``PRESERVE_NON_NULL`` act as they did on arrival);
* report files: the staged lines set by the files stored in the range are deleted, then those
  files and every file stored after them are staged again in load order through the report
  loader (``restage_report_file``), because a later file may have updated a line an earlier set.

Each table (the two financial-action tables together) is one transaction under the lock its
writers take: a crash leaves the old rows. Watermarks are not read or moved.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.rebuild.ranges import TimeRange
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse import locks, mappers, schema
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.report_convert import TimeZones
from checkout_freshportal.warehouse.report_loader import restage_report_file
from checkout_freshportal.warehouse.report_raw import open_raw_report_file
from checkout_freshportal.warehouse.upsert import upsert

#: Ids per ``IN (...)`` list (well under SQLite's bind-parameter limit).
CHUNK = 500
#: When a row was written, not what it says: they legitimately move in a rebuild.
BOOKKEEPING = frozenset({"first_seen_at", "updated_at"})
#: How many ids a result lists (counts are always complete).
LIST_LIMIT = 20
#: How long before its quarantine row (``first_failed_at``) an unreadable version may have been
#: stored raw: both are written in one transaction, the raw copy first (sync/ingest/quarantine.py).
QUARANTINE_GRACE = timedelta(seconds=1)

#: Staged tables fed by API objects: raw source and mapper.
API_SOURCES: dict[str, str] = {
    "stg_payments": "checkout.payments",
    "stg_payment_actions": "checkout.payment_actions",
    "stg_disputes": "checkout.disputes",
}
#: Staged tables fed by report files: the ``raw_report_files.staged_table`` they come from. The
#: two financial-action tables are one load, so they are rebuilt together.
REPORT_GROUPS: dict[str, tuple[str, ...]] = {
    "stg_financial_actions": ("stg_financial_actions", "stg_financial_action_payouts"),
    "stg_payouts": ("stg_payouts",),
}
REBUILDABLE: tuple[str, ...] = (
    "stg_payments",
    "stg_payment_actions",
    "stg_disputes",
    "stg_financial_actions",
    "stg_financial_action_payouts",
    "stg_payouts",
)
#: Staged tables the raw layer cannot give back, and where they come from instead.
NOT_REBUILDABLE: dict[str, str] = {
    "stg_payment_status": "derived from webhooks and GET /payments/{id} answers the raw layer does not "
    "keep; use `cfp replay webhooks`, which keeps the stored answers",
    "stg_orders": "FreshPortal orders are not stored raw; the freshportal_payment_requests DAG pulls them",
    "stg_refund_requests": "FreshPortal refund requests are not stored raw; the freshportal_refunds DAG "
    "pulls them",
}


class UnknownTableError(ValueError):
    """A ``--tables`` entry that is not a staged table, or one the raw layer cannot rebuild."""


@dataclass
class TableResult:
    table: str
    selected: int = 0  # object ids (API tables) or files (report tables) stored in the range
    restaged_files: int = 0  # report tables: the files in the range and every one stored after
    deleted: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: the rows of the selection compared before and after (bookkeeping columns left out)
    same: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    unmappable: int = 0  # stored versions ingestion could not stage either (it quarantined them)
    unmappable_sample: list[str] = field(default_factory=list)
    #: stored versions ingestion kept out of staging: their item is quarantined (ops_quarantine)
    quarantined: int = 0
    quarantined_sample: list[str] = field(default_factory=list)
    kept_webhook_rows: int = 0  # stg_disputes rows last written by a webhook: left as they are


@dataclass
class RebuildResult:
    range: dict[str, str]
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_tables(names: Iterable[str] | None) -> list[str]:
    """The tables to rebuild in dependency order; a financial-action table brings its pair."""
    if not names:
        return list(REBUILDABLE)
    wanted: set[str] = set()
    for name in names:
        if name in NOT_REBUILDABLE:
            raise UnknownTableError(f"{name} cannot be rebuilt from the raw layer: {NOT_REBUILDABLE[name]}")
        if name not in REBUILDABLE:
            raise UnknownTableError(f"{name!r} is not a staged table (one of {', '.join(REBUILDABLE)})")
        wanted.add(name)
        for group in REPORT_GROUPS.values():
            if name in group:
                wanted.update(group)
    return [t for t in REBUILDABLE if t in wanted]


def rebuild_staging(
    engine: Engine,
    rng: TimeRange,
    tables: Sequence[str] | None = None,
    *,
    time_zones: TimeZones | None = None,
    dry_run: bool = False,
    now: Callable[[], datetime] = utcnow,
) -> RebuildResult:
    """Rebuild ``tables`` (default: every rebuildable one) for the raw items stored in ``rng``.

    ``dry_run``: every step runs in its transaction, which is then rolled back, so the counts
    are exact and nothing changes. ``time_zones``: the ingest settings' report time zones (the
    same ones the files were loaded with).
    """
    result = RebuildResult(rng.as_dict(), dry_run, notes=list(rng.notes))
    chosen = resolve_tables(tables)
    for name in chosen:
        if name == "stg_financial_action_payouts":
            continue  # rebuilt with stg_financial_actions
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                if name in API_SOURCES:
                    res = _rebuild_api(conn, name, rng, now())
                else:
                    res = _rebuild_reports(conn, name, rng, time_zones or TimeZones(), now())
            except BaseException:
                trans.rollback()
                raise
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
        result.tables.append(res)
    return result


# ============================================================================ API objects


def _rebuild_api(conn: Connection, name: str, rng: TimeRange, ts: datetime) -> TableResult:
    table = schema.metadata.tables[name]
    (key,) = schema.STAGED_KEYS[name]
    _lock(conn, name)
    res = TableResult(name)
    raw = schema.raw_api_objects
    source = API_SOURCES[name]
    in_range = sa.and_(raw.c.source == source, raw.c.fetched_at >= rng.start, raw.c.fetched_at < rng.end)
    ids = sorted(conn.execute(sa.select(raw.c.object_id).where(in_range).distinct()).scalars())
    res.selected = len(ids)
    if name == "stg_disputes":
        kept = _webhook_written(conn, ids)
        res.kept_webhook_rows = len(kept)
        ids = [i for i in ids if i not in kept]
    for chunk in _chunks(ids):  # ids are independent: one chunk at a time bounds the memory
        before = _rows(conn, table, key, chunk)
        res.deleted += conn.execute(table.delete().where(table.c[key].in_(chunk))).rowcount or 0
        versions = _unquarantined(conn, source, _versions(conn, source, chunk, timed=True), res)
        for generation in _generations(versions, _mapper(conn, name, chunk), res):
            counts = upsert(conn, table, generation, [key], now=ts)
            res.inserted += counts.inserted
            res.updated += counts.updated
            res.unchanged += counts.unchanged
        _compare(res, before, _rows(conn, table, key, chunk))
    return res


def _lock(conn: Connection, name: str) -> None:
    """The lock the table's writers take: disputes are also merged by the events run."""
    if name == "stg_disputes":
        locks.xact_lock(conn, locks.PAYMENT_STATUS)
    locks.xact_lock(conn, locks.REPORT_TABLE, name)


def _webhook_written(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Disputes whose staged row a webhook wrote last: its merge (and details fetched for it)
    is not in the raw layer, so the API objects alone would set the row back."""
    t = schema.stg_disputes
    out: set[str] = set()
    for chunk in _chunks(ids):
        stmt = sa.select(t.c.dispute_id).where(
            t.c.dispute_id.in_(chunk), t.c.source != mappers.DEFAULT_SOURCE
        )
        out.update(conn.execute(stmt).scalars())
    return out


def _versions(
    conn: Connection, source: str, ids: Sequence[str], *, timed: bool = False
) -> list[tuple[Any, ...]]:
    """Every stored version of these objects, in the order they were stored (ties by content
    hash, so the order is the same on every run): ``(id, payload)``, or with ``timed``
    ``(id, payload, fetched_at, payload_sha256)``."""
    raw = schema.raw_api_objects
    out: list[tuple[str, datetime, str, Any]] = []
    for chunk in _chunks(ids):
        stmt = sa.select(raw.c.object_id, raw.c.fetched_at, raw.c.payload_sha256, raw.c.payload).where(
            raw.c.source == source, raw.c.object_id.in_(chunk)
        )
        out.extend(tuple(r) for r in conn.execute(stmt))
    out.sort(key=lambda r: (r[1], r[2]))
    return [(r[0], r[3], r[1], r[2]) if timed else (r[0], r[3]) for r in out]


def _unquarantined(
    conn: Connection, source: str, versions: Sequence[tuple[Any, ...]], res: TableResult
) -> list[tuple[str, Any]]:
    """``versions`` without those ingestion kept out of staging, as ``(id, payload)``.

    A version is kept raw and not staged when its item is quarantined (its actions could not be
    read, the database refused a value; docs/runbook-ingest.md), and no version of an item lands
    while it stays open: a landing resolves it. So of an open item every version stored since
    its episode began is left out, the one that began it included (stored raw in the same
    transaction, an instant before the quarantine row: :data:`QUARANTINE_GRACE`); a payload that
    maps proves nothing about them. A content stored earlier (it landed then) stays, whatever
    the row's ``payload_sha256`` says, and so do the versions of resolved items.
    """
    t = schema.ops_quarantine
    ids = sorted({v[0] for v in versions})
    began: dict[str, datetime] = {}
    for chunk in _chunks(ids):
        stmt = sa.select(t.c.item_id, t.c.first_failed_at).where(
            t.c.source == source, t.c.item_id.in_(chunk), t.c.state != store.RESOLVED
        )
        began.update((r.item_id, r.first_failed_at - QUARANTINE_GRACE) for r in conn.execute(stmt))
    out: list[tuple[str, Any]] = []
    for object_id, payload, fetched_at, _ in versions:
        since = began.get(object_id)
        if since is not None and fetched_at >= since:
            res.quarantined += 1
            if len(res.quarantined_sample) < LIST_LIMIT:
                res.quarantined_sample.append(object_id)
            continue
        out.append((object_id, payload))
    return out


def _mapper(conn: Connection, name: str, ids: Sequence[str]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Ingestion's mapper of the table (an action's currency is its payment's, as on arrival)."""
    if name == "stg_payments":
        return mappers.payment_row
    if name == "stg_disputes":
        return mappers.dispute_row
    currency = _payment_currencies(conn, ids)

    def action(obj: Mapping[str, Any]) -> dict[str, Any]:
        payment_id = obj.get("payment_id")
        (row,) = mappers.action_rows(str(payment_id or ""), [obj], currency=currency.get(str(payment_id)))
        return row

    return action


def _payment_currencies(conn: Connection, action_ids: Sequence[str]) -> dict[str, str]:
    """The currency of the payments of these actions, from the stored payments."""
    raw = schema.raw_api_objects
    payment_ids: set[str] = set()
    for chunk in _chunks(action_ids):
        stmt = sa.select(raw.c.payload).where(
            raw.c.source == API_SOURCES["stg_payment_actions"], raw.c.object_id.in_(chunk)
        )
        payment_ids.update(str(p.get("payment_id")) for p in conn.execute(stmt).scalars())
    out: dict[str, str] = {}
    for pid, payload in _versions(conn, API_SOURCES["stg_payments"], sorted(payment_ids)):
        if isinstance(payload, Mapping) and payload.get("currency"):
            out[pid] = str(payload["currency"])
    return out


def _generations(
    versions: Sequence[tuple[str, Any]],
    mapper: Callable[[Mapping[str, Any]], dict[str, Any]],
    res: TableResult,
) -> list[list[dict[str, Any]]]:
    """The n-th mapped version of every object in the n-th batch: one upsert per batch applies
    each object's versions in order, as their arrivals did."""
    out: list[list[dict[str, Any]]] = []
    seen: dict[str, int] = defaultdict(int)
    for object_id, payload in versions:
        try:
            row = mapper(payload)
        except mappers.MappingError:
            res.unmappable += 1
            if len(res.unmappable_sample) < LIST_LIMIT:
                res.unmappable_sample.append(object_id)
            continue
        n = seen[object_id]
        seen[object_id] += 1
        if n == len(out):
            out.append([])
        out[n].append(row)
    return out


# ============================================================================ report files


def _rebuild_reports(
    conn: Connection, name: str, rng: TimeRange, zones: TimeZones, ts: datetime
) -> TableResult:
    tables = [schema.metadata.tables[t] for t in REPORT_GROUPS[name]]
    _lock(conn, name)
    res = TableResult(name if len(tables) == 1 else "+".join(t.name for t in tables))
    f = schema.raw_report_files
    files = conn.execute(
        sa.select(f.c.file_id, f.c.report_type, f.c.loaded_at)
        .where(f.c.staged_table == name)
        .order_by(f.c.loaded_at, f.c.file_id)
    ).all()
    first = next((i for i, r in enumerate(files) if rng.start <= r.loaded_at < rng.end), None)
    if first is None:
        return res
    selected = [r.file_id for r in files if rng.start <= r.loaded_at < rng.end]
    restage = files[first:]
    res.selected, res.restaged_files = len(selected), len(restage)
    listed = _file_list(conn, [r.file_id for r in restage])
    before = {t.name: _snapshot_lines(conn, t, listed) for t in tables}
    for t in tables:
        for chunk in _chunks(selected):
            res.deleted += conn.execute(t.delete().where(t.c.source_file_id.in_(chunk))).rowcount or 0
    for r in restage:
        with open_raw_report_file(conn, r.file_id) as stream:
            out = restage_report_file(
                conn, file_id=r.file_id, report_type=r.report_type, stream=stream, now=ts, time_zones=zones
            )
        res.inserted += out.staged_inserted
        res.updated += out.staged_updated
        res.unchanged += out.staged_unchanged
    for t in tables:
        _compare_lines(conn, res, t, before[t.name], listed)
        before[t.name].drop(conn)
    listed.drop(conn)
    return res


def _file_list(conn: Connection, file_ids: Sequence[str]) -> sa.Table:
    """The restaged files as a temporary table, to join lines with (any number of files)."""
    tmp = sa.Table(
        "cfp_rebuild_files",
        sa.MetaData(),
        sa.Column("file_id", sa.Text(), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    tmp.create(conn)
    for chunk in _chunks(file_ids):
        conn.execute(tmp.insert(), [{"file_id": f} for f in chunk])
    return tmp


def _snapshot_lines(conn: Connection, table: sa.Table, files: sa.Table) -> sa.Table:
    """The lines set by ``files`` as they are before the rebuild, bookkeeping aside, copied into a
    temporary table: compared in the database afterwards, so a rebuild of millions of lines does
    not hold them (nor a digest of each) in memory."""
    cols = [c for c in table.c if c.name not in BOOKKEEPING]
    tmp = sa.Table(
        f"cfp_rebuild_before_{table.name}",
        sa.MetaData(),
        *[sa.Column(c.name, c.type) for c in cols],
        prefixes=["TEMPORARY"],
    )
    tmp.create(conn)
    lines = sa.select(*cols).join_from(table, files, table.c.source_file_id == files.c.file_id)
    conn.execute(tmp.insert().from_select([c.name for c in cols], lines))
    return tmp


def _compare_lines(
    conn: Connection, res: TableResult, table: sa.Table, before: sa.Table, files: sa.Table
) -> None:
    """``same``/``changed``/``added``/``removed`` of the lines set by ``files``, by key, in SQL."""
    after = (
        sa.select(*[c for c in table.c if c.name not in BOOKKEEPING])
        .join_from(table, files, table.c.source_file_id == files.c.file_id)
        .subquery()
    )
    keys = schema.STAGED_KEYS[table.name]
    on = sa.and_(*[after.c[k] == before.c[k] for k in keys])
    equal = sa.and_(*[after.c[c.name].is_not_distinct_from(c) for c in before.c])
    both, same = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((equal, 1), else_=0)), 0)
        ).select_from(after.join(before, on))
    ).one()
    n_after = conn.execute(sa.select(sa.func.count()).select_from(after)).scalar_one()
    n_before = conn.execute(sa.select(sa.func.count()).select_from(before)).scalar_one()
    res.same += int(same)
    res.changed += int(both) - int(same)
    res.added += int(n_after) - int(both)
    res.removed += int(n_before) - int(both)


# ============================================================================ helpers


def _rows(conn: Connection, table: sa.Table, key: str, ids: Sequence[str]) -> dict[tuple[Any, ...], int]:
    """A digest of each row of these ids, without bookkeeping."""
    cols = [c for c in table.c if c.name not in BOOKKEEPING]
    out: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(ids):
        for r in conn.execute(sa.select(*cols).where(table.c[key].in_(chunk))):
            out[(r._mapping[key],)] = _digest(r)
    return out


def _digest(row: Any) -> int:
    """The row's values as one number (JSON columns as sorted text, so equal values agree)."""
    return hash(tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in row))


def _compare(
    res: TableResult,
    before: Mapping[tuple[Any, ...], int],
    after: Mapping[tuple[Any, ...], int],
) -> None:
    for k, row in after.items():
        if k not in before:
            res.added += 1
        elif before[k] == row:
            res.same += 1
        else:
            res.changed += 1
    res.removed += sum(1 for k in before if k not in after)


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    items = list(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
