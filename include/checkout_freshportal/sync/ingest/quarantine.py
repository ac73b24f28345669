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

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import sqlalchemy as sa
import urllib3.exceptions
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.errors import PermanentError, is_permanent
from checkout_freshportal.http.errors import HttpError
from checkout_freshportal.logsafe import safe, safe_masked
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.errors import is_data_error
from checkout_freshportal.warehouse.raw import (
    canonical_json,
    insert_raw_objects,
    payload_sha256,
    without_personal_data,
)

log = logging.getLogger(__name__)

SOURCE_PAYMENTS = "checkout.payments"
SOURCE_DISPUTES = "checkout.disputes"
SOURCE_REPORTS = "checkout.reports"  # a report listing entry
SOURCE_REPORT_FILES = "checkout.report_files"
SOURCES: tuple[str, ...] = (SOURCE_PAYMENTS, SOURCE_DISPUTES, SOURCE_REPORTS, SOURCE_REPORT_FILES)

#: Items named in a failure message; the rest are counted ("and N more").
MESSAGE_ITEMS = 20
#: HTTP statuses that concern the one object asked for, not the account or the service: the
#: object is gone or unknown (404, 410) or refused as it is (422). A 401/403/400 would fail every
#: item the same way, so it fails the task instead (permanent, no retry), as before.
ITEM_HTTP_STATUSES = frozenset({404, 410, 422})
_TRANSIENT = (OSError, requests.RequestException, urllib3.exceptions.HTTPError)
_ID_LIMIT = 200
#: Transient failures in a row after which a step stops retrying its quarantined items for this
#: run: the service looks down, and each further item would only spend the client's retries.
DEFER_STREAK = 3
_T = TypeVar("_T")
_R = TypeVar("_R")


def is_item_error(exc: BaseException, *, download: bool = False) -> bool:
    """Whether ``exc``, raised while reading one item, is that item's problem.

    Yes for what the item's data causes: a mapping or validation error, an unreadable report file
    (``ReportLoadError``), a value the database refuses (``is_data_error``), a 404/410/422 for that
    one object, and for a file ``download`` any permanent HTTP error but a 401 (storage refusing
    one file's fresh signed URLs: a 403 after the client's retries). No for what would fail any
    item the same way or may pass by itself: the network, a 5xx or 429 after the client's
    retries, an auth error, the database being down or locked. Those fail the step as before
    (Airflow retries the transient ones).
    """
    if not isinstance(exc, Exception) or isinstance(exc, TooManyUnreadableError):
        return False  # the step's verdict (met inside a retried listing entry's files), no item's
    if isinstance(exc, HttpError):
        if download and exc.status != 401 and is_permanent(exc):
            return True
        return exc.status in ITEM_HTTP_STATUSES
    if isinstance(exc, sa.exc.SQLAlchemyError) or _is_driver_error(exc):
        return is_data_error(exc)
    return not isinstance(exc, _TRANSIENT)


def is_transient_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the service or the network failed this time (a 5xx or 429 after the
    client's retries, a timeout, a reset): a retried quarantined item that meets it is deferred,
    not failed. An auth error (permanent) or the database is no such thing."""
    if isinstance(exc, HttpError):
        return not is_permanent(exc)
    return isinstance(exc, _TRANSIENT) and not _is_driver_error(exc)


def _is_driver_error(exc: BaseException) -> bool:
    """A database driver's own error, not wrapped by SQLAlchemy: report staging COPYs through the
    psycopg connection itself, so a lost connection, a statement timeout or a deadlock arrives
    raw and must count as the database's problem, as it does wrapped (``is_data_error``)."""
    return isinstance(exc, sqlite3.Error) or hasattr(exc, "sqlstate")


def reason_of(exc: BaseException) -> str:
    """The error as one escaped line without card numbers or e-mail addresses."""
    return safe_masked(f"{type(exc).__name__}: {exc}", store.REASON_LIMIT - 100)


def error_class_of(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def payload_digest(obj: Any) -> str:
    """``payload_sha256``, also for an object carrying a lone surrogate (JSON may send
    ``"\\ud800"``), which UTF-8 cannot encode: naming such an item must not fail its step."""
    try:
        return payload_sha256(obj)
    except UnicodeEncodeError:
        return hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()


def item_id_of(obj: Any, key: str = "id") -> str:
    """The object's id, or ``sha256:<digest of its canonical JSON>`` when it has no usable one
    (missing, not text, too long or with control characters): the same bad object met again
    is then the same quarantined item."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(value, str) and value and len(value) <= _ID_LIMIT and safe(value, _ID_LIMIT) == value:
        return value
    return "sha256:" + payload_digest(obj)


def has_own_id(item_id: str) -> bool:
    return not item_id.startswith("sha256:")


@dataclass
class QuarantineTally:
    """What a step did with the quarantine; part of the step's result (XCom, CLI output)."""

    new: list[dict[str, Any]] = field(default_factory=list)  # quarantined by this run
    failed_again: list[dict[str, Any]] = field(default_factory=list)  # retried and failed
    resolved: list[str] = field(default_factory=list)  # "source item_id"
    retried: int = 0
    deferred: int = 0  # retries put off by a transient failure (attempts untouched)
    open: int = 0  # unresolved after the step, parked included
    parked: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> QuarantineTally:
        """A tally back from a step result's dict (an XCom value); unknown keys are ignored."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    def must_fail(self) -> bool:
        return bool(self.new or self.failed_again)

    def failed_items(self) -> list[dict[str, Any]]:
        return [*self.new, *self.failed_again]


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
            "item_id": safe(item_id, _ID_LIMIT),
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
            shown = {safe(i, _ID_LIMIT) for i in hits}
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
                    safe(item.item_id, _ID_LIMIT),
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


class TooManyUnreadableError(PermanentError, RuntimeError):
    """One step met more unreadable items than ``quarantine_max_new_per_step``: a bug or a format
    change looks like every item being bad, and quarantining them all would hide it behind
    moved watermarks. The batch at hand is not landed; a retry would read the same."""


class QuarantinedItemsError(PermanentError, RuntimeError):
    """Items were quarantined (or failed again) after everything else landed.

    Permanent: the data that could be read is in, and a retry of the task would read the same
    unreadable items. The message names count, ids and reasons (the first 20); ``items`` has the
    same per item. Pickles (Airflow moves exceptions between processes).
    """

    def __init__(
        self, message: str, items: tuple[dict[str, Any], ...] = (), results: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.items = items
        self.results = results  # the steps' results, for a caller that shows them (the CLI)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.items))


def failure_message(tallies: Mapping[str, QuarantineTally], unfinished: Sequence[str] = ()) -> str | None:
    """The loud message for the steps that must fail, or None when none must. ``unfinished``:
    steps that failed on their own (no result), named so the run never looks complete."""
    items = [i for t in tallies.values() for i in t.failed_items()]
    if not items and not unfinished:
        return None
    lines: list[str] = []
    if items:
        new = sum(len(t.new) for t in tallies.values())
        again = sum(len(t.failed_again) for t in tallies.values())
        steps = ", ".join(name for name, t in tallies.items() if t.must_fail())
        lines.append(
            f"{len(items)} item(s) could not be read and are quarantined ({new} new, {again} failed "
            f"again) in {steps}; everything else landed and the watermarks moved:"
        )
        for i in items[:MESSAGE_ITEMS]:
            lines.append(
                f"  {i['source']} {i['item_id']} [{i['state']}, attempt {i['attempts']}]: {i['reason']}"
            )
        if len(items) > MESSAGE_ITEMS:
            lines.append(f"  and {len(items) - MESSAGE_ITEMS} more")
    if unfinished:
        lines.append(
            f"{len(unfinished)} step(s) did not finish: {', '.join(unfinished)} (their own error is in "
            "their log; what they quarantined before failing is in `cfp quarantine list`)."
        )
    lines.append("See `cfp quarantine list`; docs/runbook-ingest.md#quarantine.")
    return "\n".join(lines)


def raise_for_quarantine(
    tallies: Mapping[str, QuarantineTally],
    *,
    results: dict[str, Any] | None = None,
    unfinished: Sequence[str] = (),
) -> None:
    """Fail loudly (after the data landed) when any step quarantined something or a retry failed,
    or (``unfinished``) a step failed on its own: the verdict must not report a run complete."""
    message = failure_message(tallies, unfinished)
    if message is None:
        return
    items = tuple(i for t in tallies.values() for i in t.failed_items())
    if items:
        raise QuarantinedItemsError(message, items, results)
    raise UnfinishedStepsError(message)


class UnfinishedStepsError(PermanentError, RuntimeError):
    """Steps failed on their own (the network, the database, after their retries); the quarantine
    verdict, which runs anyway, fails too so that the run is not reported complete. Permanent:
    a retry of the verdict would read the same results."""


class UnreadableItemError(ValueError):
    """An item ingestion cannot even name or order (no usable id, no creation time)."""


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
