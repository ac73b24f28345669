"""One unreadable item never blocks the rest: isolate it, keep it raw, land everything else.

An *item* is what ingestion reads one at a time: a payment or a dispute (an API object), a
report listing entry, a report file. When reading one fails for a reason that lies in the item
itself (see :func:`is_item_error`), the step stores what it received raw, records the item in
``ops_quarantine`` with an escaped reason (``warehouse/quarantine.py``), lands everything else
and moves its watermark past it. After the data landed the task fails loudly
(:class:`QuarantinedItemsError`, permanent: an Airflow retry would only repeat the same reads).

Later runs retry the items that were open when the step began, after its walk has landed and
without blocking on them: a success lands the data and resolves the item, an item error adds an
attempt; after ``quarantine_attempts`` an item is parked (counted and listed, no longer retried,
no longer failing runs) until ``cfp quarantine requeue``. A transient failure while retrying one
item (the network, a 5xx) is "not this time": the item stays as it was, attempts untouched, and
the step does not fail because of it. docs/runbook-ingest.md describes the rules for operators.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.ingest.item_errors import (
    TooManyUnreadableError,
    UnreadableItemError,
    error_class_of,
    is_item_error,
    is_transient_read_error,
    reason_of,
)
from checkout_freshportal.sync.ingest.item_ids import ID_LIMIT, has_own_id, item_id_of, payload_digest
from checkout_freshportal.sync.ingest.quarantine_verdict import (
    QuarantinedItemsError,
    QuarantineTally,
    UnfinishedStepsError,
    raise_for_quarantine,
)
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.errors import is_data_error
from checkout_freshportal.warehouse.raw import (
    insert_raw_objects,
    without_personal_data,
)

# Which failures are an item's (item_errors.py), how items are named (item_ids.py) and the
# verdict after the steps (quarantine_verdict.py) live in their own modules; the names stay
# importable from here, where the steps and the DAG tasks have always found them.
__all__ = [
    "DEFER_STREAK",
    "SOURCES",
    "SOURCE_DISPUTES",
    "SOURCE_PAYMENTS",
    "SOURCE_REPORTS",
    "SOURCE_REPORT_FILES",
    "Quarantine",
    "QuarantineTally",
    "QuarantinedItemsError",
    "TooManyUnreadableError",
    "UnfinishedStepsError",
    "UnreadableItemError",
    "error_class_of",
    "has_own_id",
    "is_item_error",
    "is_transient_read_error",
    "item_id_of",
    "keep_api_object",
    "payload_digest",
    "raise_for_quarantine",
    "reason_of",
    "stage_isolating",
]

log = logging.getLogger(__name__)

SOURCE_PAYMENTS = "checkout.payments"
SOURCE_DISPUTES = "checkout.disputes"
SOURCE_REPORTS = "checkout.reports"  # a report listing entry
SOURCE_REPORT_FILES = "checkout.report_files"
SOURCES: tuple[str, ...] = (SOURCE_PAYMENTS, SOURCE_DISPUTES, SOURCE_REPORTS, SOURCE_REPORT_FILES)

#: Transient failures in a row after which a step stops retrying its quarantined items for this
#: run: the service looks down, and each further item would only spend the client's retries.
DEFER_STREAK = 3
_T = TypeVar("_T")
_R = TypeVar("_R")


class Quarantine:
    """The quarantine as one step uses it: isolates, retries and resolves items of its sources."""

    def __init__(
        self,
        engine: Engine,
        tally: QuarantineTally,
        *,
        sources: Iterable[str],
        max_attempts: int,
        max_new: int,
        run_id: str | None,
    ) -> None:
        self.engine, self.tally, self.max_attempts, self.run_id = engine, tally, max_attempts, run_id
        self.max_new = max_new
        self.sources = tuple(sources)
        with engine.connect() as conn:
            self._open = {s: store.open_ids(conn, s) for s in self.sources}
            # What this run retries: due when the step began, not what its own walk quarantines.
            self._due = {s: store.due_ids(conn, s) for s in self.sources}

    @classmethod
    def for_step(
        cls,
        engine: Engine,
        tally: QuarantineTally,
        sources: Iterable[str],
        settings: IngestSettings,
        run_id: str | None,
    ) -> Quarantine:
        """The quarantine of one ingest step, with the limits its settings give."""
        return cls(
            engine,
            tally,
            sources=sources,
            max_attempts=settings.quarantine_attempts,
            max_new=settings.quarantine_max_new_per_step,
            run_id=run_id,
        )

    def isolate_object(
        self, conn: Connection, source: str, obj: Any, exc: BaseException, *, item_id: str | None = None
    ) -> None:
        """:meth:`isolate` an API object, keeping it raw first (none when ``obj`` is None: it
        was never read)."""
        item_id = item_id or item_id_of(obj)
        raw: tuple[str, str | None, Any] = (store.RAW_NONE, None, None)
        if obj is not None:
            raw = keep_api_object(conn, source, obj, item_id, run_id=self.run_id)
        self.isolate(conn, source, item_id, exc, raw)

    def raw_of_refetched(
        self, source: str, fetched: Mapping[str, Any]
    ) -> Callable[[Connection, store.QuarantineItem], tuple[str, str | None, Any]]:
        """Where a retried item's raw copy is: the answer this retry read, if it read one
        (kept raw now), else what the quarantine row already points at."""

        def raw_of(conn: Connection, item: store.QuarantineItem) -> tuple[str, str | None, Any]:
            if item.item_id in fetched:
                return keep_api_object(conn, source, fetched[item.item_id], item.item_id, run_id=self.run_id)
            return item.raw_location, item.payload_sha256, item.payload

        return raw_of

    def is_open(self, source: str, item_id: str) -> bool:
        return item_id in self._open.get(source, set())

    def isolate(
        self,
        conn: Connection,
        source: str,
        item_id: str,
        exc: BaseException,
        raw: tuple[str, str | None, Any],
        *,
        parent_id: str | None = None,
        retry: bool = False,
    ) -> None:
        """Record ``item_id`` as unreadable in ``conn``'s transaction (the one landing the rest).

        ``raw`` is where its raw copy went (:func:`keep_api_object`, ...). ``retry``: a retry of
        an open item (another attempt); an open item met again in a listing or the re-walk
        (``retry`` false) counts neither as new nor as an attempt.
        """
        location, digest, payload = raw
        failure = store.Failure(
            source, item_id, reason_of(exc), error_class_of(exc), location, digest, payload, parent_id
        )
        done = store.record_failure(
            conn, failure, max_attempts=self.max_attempts, count_attempt=retry, run_id=self.run_id
        )
        if done.new and len(self.tally.new) >= self.max_new:
            # Rolls back the batch being landed: so many at once is a bug or a format change.
            raise TooManyUnreadableError(
                f"more than {self.max_new} unreadable items in one step (the last: {source} "
                f"{safe(item_id)}: {safe(failure.reason, 300)}): this looks like a bug or a format "
                "change rather than bad items, so the batch is not landed and the watermark stays; "
                "fix the cause (quarantine_max_new_per_step raises the limit)"
            )
        self._open.setdefault(source, set()).add(item_id)
        entry = {
            "source": source,
            "item_id": safe(item_id, ID_LIMIT),
            "reason": safe(failure.reason, 300),
            "state": done.state,
            "attempts": done.attempts,
        }
        if done.new:
            self.tally.new.append(entry)
        elif retry:
            self.tally.failed_again.append(entry)
        if done.new or retry:
            log.warning(
                "quarantined %s %s (%s, attempt %d): %s",
                source,
                entry["item_id"],
                done.state,
                done.attempts,
                entry["reason"],
            )

    def resolve(self, conn: Connection, source: str, item_ids: Iterable[str]) -> None:
        """Resolve those of ``item_ids`` that are open (cheap when none is: no statement)."""
        open_now = self._open.get(source, set())
        hits = [i for i in item_ids if i in open_now]
        if hits and store.resolve(conn, source, hits, run_id=self.run_id):
            open_now.difference_update(hits)
            shown = {safe(i, ID_LIMIT) for i in hits}
            self.tally.resolved.extend(f"{source} {i}" for i in sorted(shown))
            # Read after all in this run (a retry failed, the listing's copy landed): not a failure.
            for failed in (self.tally.new, self.tally.failed_again):
                failed[:] = [e for e in failed if not (e["source"] == source and e["item_id"] in shown)]
            log.info("quarantine: %d %s item(s) resolved", len(hits), source)

    def retry(
        self,
        source: str,
        attempt: Callable[[store.QuarantineItem], None],
        raw_of: Callable[[Connection, store.QuarantineItem], tuple[str, str | None, Any]],
        *,
        download: bool = False,
    ) -> None:
        """Retry the items of ``source`` that were due when the step began and are still open,
        oldest first, each on its own; call it after the step's walk has landed.

        ``attempt`` reads the item again and lands it (resolving it with :meth:`resolve` in the
        landing transaction); an item error it raises is recorded as another attempt, with the
        raw copy ``raw_of`` keeps. A transient failure (:func:`is_transient_read_error`) defers
        the item: logged, counted, left as it was; after :data:`DEFER_STREAK` in a row the rest
        wait for the next run too. Anything else (the database, an auth error) propagates.
        """
        with self.engine.connect() as conn:
            due = [i for i in store.open_items(conn, source) if i.item_id in self._due.get(source, ())]
        streak = 0
        for n, item in enumerate(due):
            if streak >= DEFER_STREAK:
                self.tally.deferred += len(due) - n
                log.warning(
                    "quarantine: %d more %s item(s) not retried this run (the service keeps failing)",
                    len(due) - n,
                    source,
                )
                return
            self.tally.retried += 1
            try:
                self._retry_one(source, item, attempt, raw_of, download=download)
                streak = 0
            except Exception as exc:
                if not is_transient_read_error(exc):
                    raise
                streak += 1
                self.tally.deferred += 1
                log.warning(
                    "quarantine: retry of %s %s put off, transient failure (attempts stay %d): %s",
                    source,
                    safe(item.item_id, ID_LIMIT),
                    item.attempts,
                    reason_of(exc),
                )

    def _retry_one(
        self,
        source: str,
        item: store.QuarantineItem,
        attempt: Callable[[store.QuarantineItem], None],
        raw_of: Callable[[Connection, store.QuarantineItem], tuple[str, str | None, Any]],
        *,
        download: bool,
    ) -> None:
        try:
            attempt(item)
        except Exception as exc:
            if not is_item_error(exc, download=download):
                raise
            with self.engine.begin() as conn:
                self.isolate(
                    conn,
                    source,
                    item.item_id,
                    exc,
                    raw_of(conn, item),
                    parent_id=item.parent_id,
                    retry=True,
                )

    def finish(self) -> None:
        """Count what stays open (parked included), so a parked item stays visible in every run."""
        with self.engine.connect() as conn:
            for source in self.sources:
                counts = store.count_by_state(conn, source)
                self.tally.parked += counts.get(store.PARKED, 0)
                self.tally.open += sum(n for state, n in counts.items() if state != store.RESOLVED)
        if self.tally.parked:
            log.warning(
                "quarantine: %d parked item(s) of %s are no longer retried (cfp quarantine list / requeue)",
                self.tally.parked,
                ", ".join(self.sources),
            )


def keep_api_object(
    conn: Connection, source: str, obj: Any, item_id: str, *, run_id: str | None
) -> tuple[str, str | None, Any]:
    """Store an unreadable API object raw: in ``raw_api_objects`` when it has an id, else (or
    when the database refuses it there) in the quarantine row's payload."""
    try:
        digest = payload_digest(obj)
    except (TypeError, ValueError):
        return store.RAW_NONE, None, None
    if has_own_id(item_id) and isinstance(obj, Mapping):
        try:
            with conn.begin_nested():
                insert_raw_objects(conn, source, [obj], run_id=run_id)
            return store.RAW_API_OBJECTS, digest, None
        except UnicodeEncodeError:
            pass  # a lone surrogate: kept in the row, escaped (store.storable_payload)
        except sa.exc.SQLAlchemyError as exc:
            if not is_data_error(exc):
                raise
    # Kept in the row instead: without personal data, as raw_api_objects would keep it.
    return store.RAW_PAYLOAD, digest, without_personal_data(obj)


def stage_isolating(
    conn: Connection,
    items: list[_T],
    stage: Callable[[list[_T]], _R],
    landed: Callable[[_R], None],
    isolate: Callable[[_T, Exception], None],
) -> list[_T]:
    """Stage ``items`` in one savepoint; if an item error stops that, stage them one by one,
    each in its own savepoint, and ``isolate`` those that fail. Returns the items that landed.

    The all-at-once attempt costs nothing extra when every item is readable (the usual case);
    ``stage`` reports into a scratch result that ``landed`` merges, so counts of a rolled-back
    attempt are never added.
    """
    if not items:
        return []
    try:
        with conn.begin_nested():
            out = stage(items)
        landed(out)
        return items
    except Exception as exc:
        if not is_item_error(exc):
            raise
    ok: list[_T] = []
    for item in items:
        try:
            with conn.begin_nested():
                out = stage([item])
        except Exception as exc:
            if not is_item_error(exc):
                raise
            isolate(item, exc)
            continue
        landed(out)
        ok.append(item)
    return ok
