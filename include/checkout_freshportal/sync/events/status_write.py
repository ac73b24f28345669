"""A batch's status into the warehouse, inside the caller's transaction.

Status rows, declines, disputes and the outbox are written together so a crash leaves none of
them half-applied; an order is queued for FreshPortal only when what it should show changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal.sync.chargebacks import staging as chargeback_staging
from checkout_freshportal.sync.events import store
from checkout_freshportal.sync.events.outbox import refresh_outbox
from checkout_freshportal.sync.events.parsing import Event, fold
from checkout_freshportal.sync.events.result import LIST_LIMIT, ApplyResult
from checkout_freshportal.sync.events.run_state import RunState
from checkout_freshportal.sync.events.status_rows import load_stored, status_row, with_snapshot
from checkout_freshportal.sync.status.declines import DeclineRecord
from checkout_freshportal.sync.status.derivation import Derivation
from checkout_freshportal.sync.status.mapping import StatusMapping, freshportal_status


def write_status(
    conn: Connection,
    run: RunState,
    by_payment: Mapping[str, Sequence[Event]],
    snapshots: Mapping[str, Mapping[str, Any]],
    deferred: Mapping[str, str],
    ts: datetime,
    applied: Sequence[Event] = (),
) -> list[tuple[str, Derivation]]:
    """Status rows, declines, disputes and outbox rows of one batch, inside the caller's transaction.

    ``applied``: the events written now (disputes and retrieval requests are staged from them).
    """
    stored = load_stored(conn, sorted(by_payment))
    changed_orders: set[str] = set()
    rows: list[dict[str, Any]] = []
    declines: dict[str, DeclineRecord] = {}
    touched: list[tuple[str, Derivation]] = []
    for pid, evs in sorted(by_payment.items()):
        if pid in deferred:
            continue
        prev = stored.get(pid)
        state, truth_at = with_snapshot(
            fold(prev, pid, evs, run.redo), prev, snapshots.get(pid), declines, ts
        )
        for e in evs:
            if e.decline is not None:
                declines[e.decline.decline_id] = e.decline  # a webhook's record beats the API's
        if not state.facts:
            continue  # only declines of a payment we know nothing else about
        derivation = state.derive()
        touched.append((pid, derivation))
        fp_status, problems = _fp_status(pid, derivation, run.mapping, run.result)
        new_events = sum(1 for e in evs if e.event_id not in run.redo)
        row, changed, order_id = status_row(
            conn, pid, state, derivation, fp_status, problems, prev, new_events, truth_at
        )
        rows.append(row)
        run.result.payments_changed += int(changed)
        if order_id is None:
            run.unresolved.add(pid)
        else:
            run.unresolved.discard(pid)
            if changed or prev is None or prev.order_id is None:
                changed_orders.add(order_id)
    store.upsert_status(conn, rows, ts)
    run.result.declines_logged += store.log_declines(conn, declines.values(), ts)
    staged, retrievals, dispute_orders = chargeback_staging.stage(
        conn,
        [e.dispute for e in applied if e.dispute is not None],
        [e.retrieval for e in applied if e.retrieval is not None],
        run.dispute_details,
        ts,
    )
    run.result.disputes_staged += staged
    run.result.outbox_rows += refresh_outbox(
        conn, changed_orders | dispute_orders, run_id=run.run_id, now=ts, retrievals=retrievals
    )
    return touched


def _fp_status(
    pid: str, d: Derivation, mapping: StatusMapping, result: ApplyResult
) -> tuple[str | None, list[str]]:
    """The FreshPortal status and the row's problems; an unmapped status is a problem on the row
    (and listed in the result), not a failed batch: the run ends with StatusMappingError."""
    problems = list(d.problems)
    try:
        fp_status = freshportal_status(d, mapping)
    except (LookupError, ValueError) as exc:  # UnknownStatusError is a ValueError
        fp_status = None
        problems.append(f"unmapped: {exc}")
        what = d.dispute_status if d.dispute_state in {"Disputed", "Chargeback"} else d.status
        entry = f"{what!r} (payment {pid})"
        if entry not in result.unmapped and len(result.unmapped) < LIST_LIMIT:
            result.unmapped.append(entry)
    return fp_status, problems
